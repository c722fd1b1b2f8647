/*
 * source_cap.c — loading and running bpf/source_release.bpf.c for the AF_XDP datapath (see
 * source_cap.h). Runs in the worker threads: one BPF_PROG_TEST_RUN system call per connection
 * that ends while the cap is set, none while it is off.
 */
#include "afxdp/source_cap.h"

#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "afxdp/xdp_steer.h"
#include "bpf/source_release.skel.h"

int source_cap_open(struct source_cap *sc, const struct pins *p, struct err *e)
{
    sc->prog_fd = -1;
    sc->skel = source_release__open();
    if (!sc->skel)
        return ERR(e, err_status_for_errno(errno), errno, "cannot open the per-source release program");
    if (bpf_map__reuse_fd(sc->skel->maps.flows, p->flows) ||
        bpf_map__reuse_fd(sc->skel->maps.sources, p->sources))
        return ERR(e, EXIT_STATUS_FAILURE, errno,
                   "cannot point the per-source release program at %s's pinned flows and sources maps",
                   p->ifname);
    if (source_release__load(sc->skel))
        return ERR(e, err_status_for_errno(errno), errno,
                   "cannot load the per-source release program (BPF_PROG_TYPE_SYSCALL, Linux 5.14)");
    sc->prog_fd = bpf_program__fd(sc->skel->progs.sluice_source_release);
    return 0;
}

void source_cap_close(struct source_cap *sc)
{
    source_release__destroy(sc->skel);
    sc->skel = NULL;
    sc->prog_fd = -1;
}

uint32_t source_cap_setting(const struct pins *p)
{
    struct sluice_meta meta;
    __u32 zero = 0;

    if (bpf_map_lookup_elem(p->meta, &zero, &meta))
        return 0;
    return meta.max_conns_per_source;
}

int source_cap_release(const struct source_cap *sc, const struct pkt_tuple *t)
{
    struct flow_key k = xdp_steer_flow_key(t);
    LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = &k, .ctx_size_in = sizeof(k));

    if (bpf_prog_test_run_opts(sc->prog_fd, &run))
        return -1;
    return run.retval == 1;
}
