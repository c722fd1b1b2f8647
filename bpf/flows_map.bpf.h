/*
 * flows_map.bpf.h — the BPF-side definitions of the `flows` and `sources` maps, shared by the
 * steering program (which inserts flows and counts their sources) and bpf/source_release.bpf.c
 * (which the server runs when a counted flow ends), so that each map's type and size are declared
 * once. Layouts and limits come from maps/sluice_maps.h.
 */
#ifndef SLUICE_FLOWS_MAP_BPF_H
#define SLUICE_FLOWS_MAP_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "maps/sluice_maps.h"

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, SLUICE_MAX_FLOWS);
    __type(key, struct flow_key);
    __type(value, struct flow_value);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, SLUICE_MAX_SOURCES);
    __type(key, struct source_key);
    __type(value, struct source_value);
} sources SEC(".maps");

/* The source of a flow: its client address. */
static __always_inline void source_key_of(struct source_key *sk, const struct flow_key *fk)
{
    __builtin_memcpy(sk->addr, fk->saddr, sizeof(sk->addr));
    sk->family = fk->family;
}

/*
 * Take one off a source's count, never below 0 (an entry the LRU evicted, or the agent cleared,
 * starts again at 0 under flows still counted): 1 when it did. Bounded compare-and-swap retries,
 * as every change to count is an atomic add of another CPU's.
 */
static __always_inline int source_put(struct source_value *sv)
{
    for (int i = 0; i < 8; i++) {
        __u64 count = sv->count;

        if (!count)
            return 0;
        if (__sync_val_compare_and_swap(&sv->count, count, count - 1) == count)
            return 1;
    }
    return 0;
}

#endif
