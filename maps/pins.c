/*
 * pins.c — opening an interface's pinned maps and checking they speak our ABI (see pins.h).
 */
#include "maps/pins.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

const char *const pins_map_names[PINS_NR_MAPS] = {
    SLUICE_MAP_SERVICES, SLUICE_MAP_FLOWS,       SLUICE_MAP_ROUTES,  SLUICE_MAP_WORKERS, SLUICE_MAP_XSKS,
    SLUICE_MAP_STATS,    SLUICE_MAP_ROUTE_STATS, SLUICE_MAP_SOURCES, SLUICE_MAP_META,
};

int pins_path(char *buf, size_t len, const char *ifname, const char *name, struct err *e)
{
    int n;

    if (!ifname[0] || strlen(ifname) >= IF_NAMESIZE || strchr(ifname, '/') || !strcmp(ifname, ".") ||
        !strcmp(ifname, ".."))
        return ERR(e, EXIT_STATUS_USAGE, 0, "'%s' is not a valid interface name", ifname);
    if (name)
        n = snprintf(buf, len, "%s/%s/%s", SLUICE_PIN_ROOT, ifname, name);
    else
        n = snprintf(buf, len, "%s/%s", SLUICE_PIN_ROOT, ifname);
    if (n < 0 || (size_t)n >= len)
        return ERR(e, EXIT_STATUS_FAILURE, ENAMETOOLONG, "pin path for %s", ifname);
    return 0;
}

int pins_ensure_bpffs(struct err *e)
{
    const char *bpffs = "/sys/fs/bpf";
    struct statfs st;

    if (statfs(bpffs, &st) < 0)
        return ERR(e, EXIT_STATUS_NO_BPF, errno, "no BPF filesystem: cannot reach %s", bpffs);
    if (st.f_type == BPF_FS_MAGIC)
        return 0;
    if (mount("bpf", bpffs, "bpf", 0, "mode=0700") < 0)
        return ERR(e, errno == EPERM ? EXIT_STATUS_PERMISSION : EXIT_STATUS_NO_BPF, errno,
                   "%s is not a BPF filesystem and mounting one failed (inside `ip netns exec`, which "
                   "remounts /sys? use `nsenter --net=/run/netns/NAME`)",
                   bpffs);
    return 0;
}

static int open_pinned(const char *ifname, const char *name, int *fd, struct err *e)
{
    char path[PATH_MAX];

    if (pins_path(path, sizeof(path), ifname, name, e))
        return -1;
    *fd = bpf_obj_get(path);
    if (*fd < 0) {
        int errnum = errno;

        if (errnum == ENOENT)
            return ERR(e, EXIT_STATUS_STATE, 0, "sluice is not loaded on %s (%s is missing)", ifname, path);
        return ERR(e, err_status_for_errno(errnum), errnum, "cannot open pinned map %s", path);
    }
    return 0;
}

void pins_fds(struct pins *p, int *fds[PINS_NR_MAPS])
{
    int *all[PINS_NR_MAPS] = {&p->services, &p->flows,       &p->routes,  &p->workers, &p->xsks,
                              &p->stats,    &p->route_stats, &p->sources, &p->meta};

    memcpy(fds, all, sizeof(all));
}

int pins_read_meta(int meta_fd, struct sluice_meta *meta, struct err *e)
{
    __u32 zero = 0;

    if (bpf_map_lookup_elem(meta_fd, &zero, meta) < 0)
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot read the meta map");
    return 0;
}

int pins_open(struct pins *p, const char *ifname, struct err *e)
{
    int *fds[PINS_NR_MAPS];
    struct sluice_meta meta;

    pins_fds(p, fds);
    for (size_t i = 0; i < PINS_NR_MAPS; i++)
        *fds[i] = -1;
    snprintf(p->ifname, sizeof(p->ifname), "%s", ifname);
    if (pins_ensure_bpffs(e))
        return -1;
    /* meta first: an ABI mismatch must be reported before any layout is trusted */
    if (open_pinned(ifname, SLUICE_MAP_META, &p->meta, e) || pins_read_meta(p->meta, &meta, e))
        goto fail;
    if (meta.abi_version != SLUICE_ABI_VERSION) {
        ERR(e, EXIT_STATUS_STATE, 0,
            "maps pinned for %s have ABI version %u, this build speaks %u; unload them with "
            "`sluice-agent unload --dev %s --force`",
            ifname, meta.abi_version, SLUICE_ABI_VERSION, ifname);
        goto fail;
    }
    for (size_t i = 0; i < PINS_NR_MAPS - 1; i++)
        if (open_pinned(ifname, pins_map_names[i], fds[i], e))
            goto fail;
    return 0;
fail:
    pins_close(p);
    return -1;
}

void pins_close(struct pins *p)
{
    int *fds[PINS_NR_MAPS];

    pins_fds(p, fds);
    for (size_t i = 0; i < PINS_NR_MAPS; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

int pins_nr_cpus(struct err *e)
{
    int n = libbpf_num_possible_cpus();

    if (n <= 0)
        return ERR(e, EXIT_STATUS_FAILURE, -n, "cannot count possible CPUs");
    return n;
}

int pins_read_stats(const struct pins *p, struct sluice_stats *total, struct err *e)
{
    int ncpus = pins_nr_cpus(e);
    struct sluice_stats *percpu;
    __u32 zero = 0;

    if (ncpus < 0)
        return -1;
    /* per-CPU values are laid out at 8-byte strides; sluice_stats is all __u64 so none is padded */
    percpu = calloc(ncpus, sizeof(*percpu));
    if (!percpu)
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "reading stats");
    if (bpf_map_lookup_elem(p->stats, &zero, percpu) < 0) {
        free(percpu);
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot read the stats map");
    }
    memset(total, 0, sizeof(*total));
    for (int c = 0; c < ncpus; c++) {
        const __u64 *src = (const __u64 *)&percpu[c];
        __u64 *dst = (__u64 *)total;

        for (size_t i = 0; i < sizeof(*total) / sizeof(__u64); i++)
            dst[i] += src[i];
    }
    free(percpu);
    return 0;
}

int pins_read_route_counters(const struct pins *p, __u32 route_id, struct route_counters *total,
                             struct err *e)
{
    int ncpus = pins_nr_cpus(e);
    struct route_counters *percpu;

    memset(total, 0, sizeof(*total));
    if (ncpus < 0)
        return -1;
    if (route_id >= SLUICE_MAX_ROUTES)
        return 0;
    /* route_counters is all __u64: per-CPU values follow each other without padding */
    percpu = calloc(ncpus, sizeof(*percpu));
    if (!percpu)
        return ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "reading route counters");
    if (bpf_map_lookup_elem(p->route_stats, &route_id, percpu) < 0) {
        free(percpu);
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot read the route_stats map");
    }
    for (int c = 0; c < ncpus; c++) {
        total->connections += percpu[c].connections;
        total->handoffs += percpu[c].handoffs;
    }
    free(percpu);
    return 0;
}
