/*
 * xsks_map.bpf.h — the BPF-side definition of the `xsks` XSKMAP, shared by every BPF object that
 * touches it (the steering program redirects into it, the agent's probe inspects it), so that
 * the map's type and size are declared once. Layout and limit come from maps/sluice_maps.h.
 */
#ifndef SLUICE_XSKS_MAP_BPF_H
#define SLUICE_XSKS_MAP_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "maps/sluice_maps.h"

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, SLUICE_XSKS_SLOTS); /* SLUICE_XSKS_KEY(queue, worker) */
    __type(key, __u32);
    __type(value, __u32);
} xsks SEC(".maps");

#endif
