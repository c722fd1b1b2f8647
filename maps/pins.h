/*
 * pins.h — user-space access to one interface's pinned sluice maps.
 *
 * The agent pins the maps at SLUICE_PIN_ROOT/<ifname>/<map>; everyone else (the server, the agent's
 * later commands, the tests) opens them here, which checks the BPF filesystem and the ABI version
 * once so that no caller can use maps written by a different layout.
 */
#ifndef SLUICE_PINS_H
#define SLUICE_PINS_H

#include <limits.h>
#include <net/if.h>
#include <stddef.h>

#include "common/err.h"
#include "maps/sluice_maps.h"

struct pins {
    char ifname[IF_NAMESIZE];
    int services;
    int flows;
    int routes;
    int workers;
    int xsks;
    int stats;
    int route_stats;
    int sources;
    int meta;
};

/* Names of the pinned maps, in a fixed order, for code that walks all of them. */
#define PINS_NR_MAPS 9
extern const char *const pins_map_names[PINS_NR_MAPS];

/* SLUICE_PIN_ROOT/<ifname>[/<name>] into buf; -1 with e set when the name is unusable. */
int pins_path(char *buf, size_t len, const char *ifname, const char *name, struct err *e);

/* Make sure a BPF filesystem is mounted at /sys/fs/bpf, mounting one if the directory is bare. */
int pins_ensure_bpffs(struct err *e);

/* Open every map pinned for ifname and check its ABI; fds are -1 after a failure. */
int pins_open(struct pins *p, const char *ifname, struct err *e);
void pins_close(struct pins *p);

/* Pointers to p's fds in the order of pins_map_names (meta last). */
void pins_fds(struct pins *p, int *fds[PINS_NR_MAPS]);

/* Read the meta entry of an open meta map fd. */
int pins_read_meta(int meta_fd, struct sluice_meta *meta, struct err *e);

/* Number of possible CPUs, the per-CPU value count of `stats`; -1 with e set on failure. */
int pins_nr_cpus(struct err *e);

/* Sum the per-CPU `stats` entry into *total. */
int pins_read_stats(const struct pins *p, struct sluice_stats *total, struct err *e);

/* Sum the per-CPU `route_stats` entry of route_id into *total (zeros for ids past the map). */
int pins_read_route_counters(const struct pins *p, __u32 route_id, struct route_counters *total,
                             struct err *e);

#endif
