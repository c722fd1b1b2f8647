/*
 * netem.c — attach tests/afxdp/netem.bpf.c to a device's clsact hooks, hold it there until
 * SIGTERM/SIGINT, then detach and print how many packets it dropped and duplicated.
 *
 *   netem DEVICE DROP_PPM DUP_PPM
 *
 * Prints "ready" once attached. Run it in the namespace that holds DEVICE.
 */
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "bpf/netem.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
    DECLARE_LIBBPF_OPTS(bpf_tc_opts, in, .handle = 1, .priority = 1);
    DECLARE_LIBBPF_OPTS(bpf_tc_opts, out, .handle = 1, .priority = 1);
    struct netem *skel;
    int ifindex, err;

    if (argc != 4) {
        fprintf(stderr, "usage: netem DEVICE DROP_PPM DUP_PPM\n");
        return 2;
    }
    ifindex = (int)if_nametoindex(argv[1]);
    if (!ifindex) {
        fprintf(stderr, "netem: error: device '%s' not found\n", argv[1]);
        return 5;
    }
    skel = netem__open();
    if (!skel) {
        fprintf(stderr, "netem: error: cannot open the BPF object: %s\n", strerror(errno));
        return 1;
    }
    skel->rodata->drop_ppm = (__u32)strtoul(argv[2], NULL, 10);
    skel->rodata->dup_ppm = (__u32)strtoul(argv[3], NULL, 10);
    skel->rodata->ifindex = (__u32)ifindex;
    if (netem__load(skel)) {
        fprintf(stderr, "netem: error: cannot load the BPF programs: %s\n", strerror(errno));
        return 1;
    }
    hook.ifindex = ifindex;
    err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST) {
        fprintf(stderr, "netem: error: cannot create the clsact qdisc on %s: %s\n", argv[1], strerror(-err));
        return 1;
    }
    hook.attach_point = BPF_TC_INGRESS;
    in.prog_fd = bpf_program__fd(skel->progs.netem_ingress);
    err = bpf_tc_attach(&hook, &in);
    hook.attach_point = BPF_TC_EGRESS;
    out.prog_fd = bpf_program__fd(skel->progs.netem_egress);
    if (!err)
        err = bpf_tc_attach(&hook, &out);
    if (err) {
        fprintf(stderr, "netem: error: cannot attach to %s: %s\n", argv[1], strerror(-err));
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("ready\n");
    fflush(stdout);
    while (!stop)
        pause();
    hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
    bpf_tc_hook_destroy(&hook); /* removes the clsact qdisc and both filters */
    printf("dropped %llu duplicated %llu\n", (unsigned long long)skel->bss->dropped,
           (unsigned long long)skel->bss->duplicated);
    netem__destroy(skel);
    return 0;
}
