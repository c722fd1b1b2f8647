/*
 * source_release.bpf.c — the server's half of the per-source connection cap (maps/sluice_maps.h,
 * `sources`): gives a connection's count back to its source when the connection ends.
 *
 * User space cannot change a map value atomically, and XDP adds to the same counts on every CPU,
 * so the server does not write `sources` itself: each worker loads this program against the
 * pinned maps at start (bpf_map__reuse_fd) and runs it with BPF_PROG_TEST_RUN, the flow's key as
 * its context, when a connection it held ends or it refuses a SYN. Deleting the flow entry is what
 * makes the release happen once: of every caller (a worker, a retransmission's second end) only
 * the one whose delete succeeds gives the count back. Flows XDP did not count are left alone.
 * It is never attached; it runs in the calling thread, a few map operations per closed connection.
 */
#include "bpf/flows_map.bpf.h"

/* 1: the flow was counted and its count given back; 0: nothing to do (not counted, or gone). */
SEC("syscall")
int sluice_source_release(struct flow_key *ctx)
{
    struct flow_key fk;
    struct source_key sk = {};
    struct flow_value *fv;
    struct source_value *sv;

    __builtin_memcpy(&fk, ctx, sizeof(fk));
    fv = bpf_map_lookup_elem(&flows, &fk);
    if (!fv || !(fv->flags & FLOW_F_COUNTED))
        return 0;
    if (bpf_map_delete_elem(&flows, &fk))
        return 0; /* another caller's delete won: it gives the count back */
    source_key_of(&sk, &fk);
    sv = bpf_map_lookup_elem(&sources, &sk);
    return sv ? source_put(sv) : 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
