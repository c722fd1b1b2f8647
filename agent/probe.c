/*
 * probe.c — which `xsks` slots hold a socket, asked of the kernel through bpf/xsks_probe.bpf.c.
 *
 * User space cannot read an XSKMAP, so the probe program is loaded against the pinned map
 * (bpf_map__reuse_fd) and run once with BPF_PROG_TEST_RUN on a dummy frame; it reports a bitmask
 * of queues per worker in its .bss. Nothing is attached or pinned, and the program is gone when this returns.
 */
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>

#include "agent/agent.h"
#include "bpf/xsks_probe.skel.h"

int agent_probe_xsks(int xsks_fd, __u32 queues[SLUICE_MAX_WORKERS], struct err *e)
{
    unsigned char frame[64] = {0};
    LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = sizeof(frame), .repeat = 1);
    struct xsks_probe *skel;
    int ret = -1;

    skel = xsks_probe__open();
    if (!skel)
        return ERR(e, err_status_for_errno(errno), errno, "cannot open the xsks probe program");
    if (bpf_map__reuse_fd(skel->maps.xsks, xsks_fd)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot attach the probe to the pinned xsks map");
        goto out;
    }
    if (xsks_probe__load(skel)) {
        ERR(e, err_status_for_errno(errno), errno, "cannot load the xsks probe program");
        goto out;
    }
    if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sluice_xsks_probe), &run)) {
        ERR(e, err_status_for_errno(errno), errno, "cannot run the xsks probe program");
        goto out;
    }
    memcpy(queues, skel->bss->xsks_queues, sizeof(skel->bss->xsks_queues));
    ret = 0;
out:
    xsks_probe__destroy(skel);
    return ret;
}

void agent_queue_list(__u32 queues, char *buf, size_t len)
{
    size_t n = 0;

    buf[0] = '\0';
    if (!queues) {
        snprintf(buf, len, "-");
        return;
    }
    for (__u32 q = 0; q < SLUICE_MAX_QUEUES && n < len; q++) {
        __u32 last = q;

        if (!(queues & (1u << q)))
            continue;
        while (last + 1 < SLUICE_MAX_QUEUES && (queues & (1u << (last + 1))))
            last++;
        if (last == q)
            n += snprintf(buf + n, len - n, "%s%u", n ? "," : "", q);
        else
            n += snprintf(buf + n, len - n, "%s%u-%u", n ? "," : "", q, last);
        q = last;
    }
}
