/*
 * flow_hash.h — how a connection without a flow entry is given a worker.
 *
 * Rendezvous (highest random weight) hashing: every eligible worker gets a score from the flow's
 * hash and its own index, and the highest score wins. A worker joining takes only the flows it now
 * wins; a worker leaving gives away only its own flows. Shared by the XDP program and user space
 * (tests, and a server that wants to know where XDP will send a tuple), so it is header-only and
 * uses nothing but integer arithmetic the BPF verifier accepts.
 */
#ifndef SLUICE_FLOW_HASH_H
#define SLUICE_FLOW_HASH_H

#include "maps/sluice_maps.h"

/* murmur3's 32-bit finaliser: full avalanche for a handful of instructions. */
static inline __u32 flow_hash_mix(__u32 h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static inline __u32 flow_hash_load32(const __u8 *p)
{
    return (__u32)p[0] | (__u32)p[1] << 8 | (__u32)p[2] << 16 | (__u32)p[3] << 24;
}

/* Hash of the 4-tuple; the same for a flow whatever its family's unused address bytes hold. */
static inline __u32 flow_hash(const struct flow_key *key)
{
    __u32 h = 0x736c6963u ^ key->family; /* "slic" */
    int words = key->family == SLUICE_IPV6 ? 4 : 1;

    for (int i = 0; i < 4; i++) {
        if (i >= words)
            break;
        h = flow_hash_mix(h ^ flow_hash_load32(key->saddr + 4 * i));
        h = flow_hash_mix(h ^ flow_hash_load32(key->daddr + 4 * i));
    }
    return flow_hash_mix(h ^ ((__u32)key->sport << 16 | key->dport));
}

/* Score of one worker for one flow: independent across workers, so the winner is stable. */
static inline __u32 flow_hash_score(__u32 hash, __u32 worker)
{
    return flow_hash_mix(hash ^ flow_hash_mix(worker * 0x9e3779b9u + 1));
}

#endif
