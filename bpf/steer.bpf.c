/*
 * steer.bpf.c — the XDP steering program: first stop of every packet on a sluice interface.
 *
 * It parses Ethernet (one optional 802.1Q/802.1ad tag), IPv4 (options allowed) or IPv6, and TCP,
 * and decides, in this order:
 *   - not TCP to a configured service            -> XDP_PASS: the kernel keeps ARP, ICMP, SSH, ...
 *   - a flow entry whose owner is live           -> redirect to the owner's AF_XDP socket
 *   - a SYN without a flow                       -> rendezvous-hash a live, not overloaded worker,
 *                                                   insert the flow, redirect
 *   - anything else without a flow               -> redirect to the hashed worker, which resets it
 * A service packet is never passed to the kernel: the kernel has no socket for it and would reset
 * a connection the server owns, so when no worker or no socket is there the packet is dropped.
 * Every packet ends in exactly one verdict counter of `stats`.
 *
 * It must stay cheap (one flow lookup on the established path) and never trust a length field
 * without a bounds check against data_end.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "sluice_maps.h"
#include "flow_hash.h"
#include "xsks_map.bpf.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, SLUICE_MAX_SERVICES);
    __type(key, struct service_key);
    __type(value, struct service_value);
} services SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, SLUICE_MAX_FLOWS);
    __type(key, struct flow_key);
    __type(value, struct flow_value);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LPM_TRIE);
    __uint(max_entries, SLUICE_MAX_ROUTES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct route_key);
    __type(value, struct route_value);
} routes SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SLUICE_MAX_WORKERS);
    __type(key, __u32);
    __type(value, struct worker_state);
} workers SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct sluice_stats);
} stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct sluice_meta);
} meta SEC(".maps");

struct vlan_tag {
    __be16 tci;
    __be16 encapsulated_proto;
};

#define IP_MF     0x2000
#define IP_OFFSET 0x1fff

static __always_inline int worker_is_live(__u32 worker)
{
    struct worker_state *ws = bpf_map_lookup_elem(&workers, &worker);

    return ws && ws->live;
}

/*
 * The live worker with the highest rendezvous score. For a SYN, overloaded workers are skipped
 * so that XDP sheds new connections before user space spends a cycle on them. The scan runs
 * under bpf_loop so the verifier checks one iteration instead of unrolling 64 of them.
 */
enum pick_result { PICK_NONE_LIVE, PICK_ALL_OVERLOADED, PICK_OK };

struct pick {
    __u32 hash;
    __u32 skip_overloaded;
    __u32 result; /* enum pick_result */
    __u32 best_score;
    __u32 worker;
};

static long pick_consider(__u32 index, void *ctx)
{
    struct pick *p = ctx;
    struct worker_state *ws = bpf_map_lookup_elem(&workers, &index);
    __u32 score;

    if (!ws || !ws->live)
        return 0;
    if (p->skip_overloaded && ws->overload) {
        if (p->result == PICK_NONE_LIVE)
            p->result = PICK_ALL_OVERLOADED;
        return 0;
    }
    score = flow_hash_score(p->hash, index);
    if (p->result != PICK_OK || score > p->best_score) {
        p->result = PICK_OK;
        p->best_score = score;
        p->worker = index;
    }
    return 0;
}

static __always_inline int redirect_to(__u32 worker, struct sluice_stats *st, __u64 *verdict)
{
    if (bpf_redirect_map(&xsks, worker, XDP_DROP) != XDP_REDIRECT) {
        st->drop_no_socket++;
        return XDP_DROP;
    }
    (*verdict)++;
    st->redirect_by_worker[worker & (SLUICE_MAX_WORKERS - 1)]++;
    return XDP_REDIRECT;
}

static __always_inline struct service_value *find_service(struct service_key *sk)
{
    struct service_value *sv = bpf_map_lookup_elem(&services, sk);

    if (sv)
        return sv;
    __builtin_memset(sk->addr, 0, sizeof(sk->addr));
    return bpf_map_lookup_elem(&services, sk);
}

SEC("xdp")
int sluice_steer(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct service_key sk = {};
    struct flow_key fk = {};
    struct sluice_stats *st;
    struct service_value *sv;
    struct flow_value *fv;
    struct tcphdr *th;
    void *l3;
    __u32 zero = 0, worker = 0;
    __be16 proto;
    int is_syn;

    st = bpf_map_lookup_elem(&stats, &zero);
    if (!st)
        return XDP_PASS; /* cannot happen: a one-entry per-CPU array always has entry 0 */

    if ((void *)(eth + 1) > data_end)
        goto pass_malformed;
    proto = eth->h_proto;
    l3 = eth + 1;
    if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
        struct vlan_tag *tag = l3;

        if ((void *)(tag + 1) > data_end)
            goto pass_malformed;
        st->vlan_tagged++;
        proto = tag->encapsulated_proto;
        l3 = tag + 1;
    }

    if (proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = l3;
        __u32 ihl;

        if ((void *)(ip + 1) > data_end || ip->version != 4)
            goto pass_malformed;
        ihl = ip->ihl * 4;
        if (ihl < sizeof(*ip))
            goto pass_malformed;
        if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) {
            st->pass_fragment++;
            return XDP_PASS;
        }
        if (ip->protocol != IPPROTO_TCP)
            goto pass_not_tcp;
        th = l3 + ihl;
        fk.family = SLUICE_IPV4;
        __builtin_memcpy(fk.saddr, &ip->saddr, 4);
        __builtin_memcpy(fk.daddr, &ip->daddr, 4);
    } else if (proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = l3;

        if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
            goto pass_malformed;
        if (ip6->nexthdr != IPPROTO_TCP) {
            switch (ip6->nexthdr) {
            case IPPROTO_HOPOPTS:
            case IPPROTO_ROUTING:
            case IPPROTO_FRAGMENT:
            case IPPROTO_DSTOPTS:
            case IPPROTO_AH:
            case IPPROTO_ESP:
            case IPPROTO_MH:
            case 139: /* HIP */
            case 140: /* Shim6 */
                st->pass_ipv6_ext++;
                return XDP_PASS;
            }
            goto pass_not_tcp;
        }
        th = (void *)(ip6 + 1);
        fk.family = SLUICE_IPV6;
        __builtin_memcpy(fk.saddr, &ip6->saddr, 16);
        __builtin_memcpy(fk.daddr, &ip6->daddr, 16);
    } else {
        st->pass_not_ip++;
        return XDP_PASS;
    }

    if ((void *)(th + 1) > data_end)
        goto pass_malformed;
    fk.sport = bpf_ntohs(th->source);
    fk.dport = bpf_ntohs(th->dest);

    __builtin_memcpy(sk.addr, fk.daddr, sizeof(sk.addr));
    sk.port = fk.dport;
    sk.family = fk.family;
    sv = find_service(&sk);
    if (!sv) {
        st->pass_not_service++;
        return XDP_PASS;
    }
    if (th->doff < 5 || (void *)th + th->doff * 4 > data_end) {
        st->drop_bad_tcp++;
        return XDP_DROP;
    }

    fv = bpf_map_lookup_elem(&flows, &fk);
    if (fv) {
        worker = fv->worker;
        if (worker < SLUICE_MAX_WORKERS && worker_is_live(worker))
            return redirect_to(worker, st, &st->redirect_flow);
        st->flow_owner_gone++;
    }

    is_syn = th->syn && !th->ack;
    {
        struct pick p = {.hash = flow_hash(&fk), .skip_overloaded = is_syn};

        bpf_loop(SLUICE_MAX_WORKERS, pick_consider, &p, 0);
        if (p.result == PICK_ALL_OVERLOADED) {
            st->drop_overload++;
            return XDP_DROP;
        }
        if (p.result != PICK_OK) {
            st->drop_no_worker++;
            return XDP_DROP;
        }
        worker = p.worker;
    }
    if (!is_syn)
        return redirect_to(worker, st, &st->redirect_no_flow);

    {
        struct flow_value nv = {
            .worker = worker,
            .state = (sv->flags & SERVICE_F_STEER) ? FLOW_AWAIT_PREFIX : FLOW_HASHED,
            .created_ns = bpf_ktime_get_ns(),
        };

        if (bpf_map_update_elem(&flows, &fk, &nv, BPF_ANY))
            st->flow_insert_failed++;
    }
    return redirect_to(worker, st, &st->redirect_syn);

pass_malformed:
    st->pass_malformed++;
    return XDP_PASS;
pass_not_tcp:
    st->pass_not_tcp++;
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
