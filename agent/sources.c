/*
 * sources.c — `sources`: the per-source connection cap (maps/sluice_maps.h, `sources`) as the
 * operator sees and sets it: the cap in `meta`, and the client addresses holding the most open
 * connections by XDP's count. Also the top list that `status` prints.
 *
 * Setting the cap clears `sources`: counts kept while the cap was off, or under another cap, are
 * not trusted (see the limits in maps/sluice_maps.h). Flows counted before stay marked, and their
 * releases stop at 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <bpf/bpf.h>

#include "agent/agent.h"

static const char sources_help[] =
    "usage: sluice-agent sources --dev DEVICE [--cap N] [--top K] [--json]\n"
    "\n"
    "The per-source connection cap: at most N open connections per client address, enforced by the\n"
    "XDP program at the SYN (a SYN past it is dropped: stats drop_source_cap), counted in the\n"
    "sources map and given back by the server when a connection ends. Shows the cap (0: off) and\n"
    "the K sources (default 10) with the most open connections, with the SYNs refused to each.\n"
    "--cap N sets it live (0 turns it off) and clears the counts; `load --max-conns-per-source N`\n"
    "sets it at load.\n"
    "exit status: 0 shown, 2 bad option, 3 not root, 6 not loaded\n";

int agent_top_sources(int fd, struct agent_source *top, __u32 k)
{
    struct source_key key, next, *prev = NULL;
    struct source_value v;
    __u32 n = 0;

    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(fd, &key, &v) || (!v.count && !v.refused))
            continue;
        /* insertion into the sorted top k, most open first */
        __u32 at = n < k ? n++ : k;

        while (at > 0 && top[at - 1].value.count < v.count) {
            if (at < k)
                top[at] = top[at - 1];
            at--;
        }
        if (at < k)
            top[at] = (struct agent_source){key, v};
    }
    return (int)n;
}

void agent_source_addr(const struct source_key *key, char *buf, size_t len)
{
    if (!inet_ntop(key->family == SLUICE_IPV6 ? AF_INET6 : AF_INET, key->addr, buf, (socklen_t)len))
        snprintf(buf, len, "?");
}

/* Empty the map: every count starts again at 0. */
static int clear_sources(int fd, struct err *e)
{
    struct source_key key;

    while (bpf_map_get_next_key(fd, NULL, &key) == 0)
        if (bpf_map_delete_elem(fd, &key) && errno != ENOENT)
            return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot clear the sources map");
    return 0;
}

int cmd_sources(int argc, char **argv, struct err *e)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'}, {"cap", required_argument, NULL, 'c'},
        {"top", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    const char *dev = NULL;
    bool json = false, set = false;
    __u32 cap = 0, k = 10, zero = 0;
    struct agent_source top[AGENT_TOP_SOURCES_MAX];
    struct sluice_meta meta;
    struct pins p;
    int c, n, ret = -1;

    while ((c = args_getopt(argc, argv, opts, "sources", e)) != -1) {
        switch (c) {
        case 'd':
            dev = optarg;
            break;
        case 'c':
            if (args_u32(optarg, "--cap", 0, UINT32_MAX, &cap, e))
                return -1;
            set = true;
            break;
        case 't':
            if (args_u32(optarg, "--top", 1, AGENT_TOP_SOURCES_MAX, &k, e))
                return -1;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            return agent_help(sources_help);
        default:
            return -1;
        }
    }
    if (agent_require_dev(dev, "sources", e) || agent_open_pins(&p, dev, e))
        return -1;
    if (pins_read_meta(p.meta, &meta, e))
        goto out;
    if (set) {
        /* the cap off first, so that no SYN is counted into the map while it is cleared */
        meta.max_conns_per_source = 0;
        if (bpf_map_update_elem(p.meta, &zero, &meta, BPF_EXIST)) {
            ERR(e, EXIT_STATUS_FAILURE, errno, "cannot write the meta map");
            goto out;
        }
        if (clear_sources(p.sources, e))
            goto out;
        meta.max_conns_per_source = cap;
        if (bpf_map_update_elem(p.meta, &zero, &meta, BPF_EXIST)) {
            ERR(e, EXIT_STATUS_FAILURE, errno, "cannot write the meta map");
            goto out;
        }
    }
    n = agent_top_sources(p.sources, top, k);
    if (json) {
        printf("{\"dev\":");
        agent_json_string(stdout, dev);
        printf(",\"max_conns_per_source\":%u,\"top\":[", meta.max_conns_per_source);
    } else {
        printf("%s: max_conns_per_source %u%s\n", dev, meta.max_conns_per_source,
               meta.max_conns_per_source ? "" : " (off)");
    }
    for (int i = 0; i < n && i < (int)k; i++) {
        char addr[INET6_ADDRSTRLEN];

        agent_source_addr(&top[i].key, addr, sizeof(addr));
        if (json)
            printf("%s{\"addr\":\"%s\",\"open\":%llu,\"refused\":%llu}", i ? "," : "", addr,
                   (unsigned long long)top[i].value.count, (unsigned long long)top[i].value.refused);
        else
            printf("  %-39s %llu open, %llu refused\n", addr, (unsigned long long)top[i].value.count,
                   (unsigned long long)top[i].value.refused);
    }
    if (json)
        printf("]}\n");
    ret = EXIT_STATUS_OK;
out:
    pins_close(&p);
    return ret;
}
