/*
 * reload.c — `reload`: swap this build's steering program in on a device where sluice is loaded,
 * through the pinned bpf_link, keeping every pinned map.
 *
 * The new program is loaded against the pinned maps (the same pin paths load sets: libbpf reuses
 * each pin), then bpf_link_update replaces the link's program in one step, only if it is still the
 * one this command read (BPF_F_REPLACE), so two reloads cannot interleave. Packets already inside
 * the old program finish there; the next ones run the new one against the same flows, routes,
 * workers, xsks and counters, so established connections keep their worker. The link keeps its
 * attach mode. Nothing changes unless everything checked out: sluice loaded, the ABI version the
 * same, and every pinned map of the type and sizes this build's program declares.
 */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/agent.h"
#include "bpf/steer.skel.h"

static const char reload_help[] =
    "usage: sluice-agent reload --dev DEVICE\n"
    "\n"
    "Replace the XDP steering program on DEVICE with this build's, through the pinned bpf_link,\n"
    "keeping every pinned map: flows, routes, services, workers, AF_XDP sockets and counters stay,\n"
    "so established connections keep flowing to their workers and a running server is not\n"
    "disturbed. The attach mode stays as loaded. The program id changes (see `status`).\n"
    "Refused, changing nothing, when sluice is not loaded on DEVICE, when no program is attached\n"
    "(maps pinned without a link), when the pinned maps have another ABI version, or when a pinned\n"
    "map differs from this build's (type, key or value size, entries, flags).\n"
    "exit status: 0 reloaded, 2 bad option, 3 not root, 4 BPF unavailable or the program was\n"
    "             rejected, 5 no such device, 6 not loaded, not attached or ABI mismatch\n";

/* Fail unless every shared map the new program declares matches its pin (fds from pins_open). */
static int check_maps(struct steer *skel, struct pins *p, struct err *e)
{
    int *fds[PINS_NR_MAPS];

    pins_fds(p, fds);
    for (size_t i = 0; i < PINS_NR_MAPS; i++) {
        struct bpf_map *map = bpf_object__find_map_by_name(skel->obj, pins_map_names[i]);
        struct bpf_map_info info = {};
        __u32 len = sizeof(info);

        if (!map)
            return ERR(e, EXIT_STATUS_STATE, 0, "this build's program has no map %s", pins_map_names[i]);
        if (bpf_obj_get_info_by_fd(*fds[i], &info, &len))
            return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot read pinned map %s", pins_map_names[i]);
        if (info.type != (__u32)bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
            info.value_size != bpf_map__value_size(map) || info.max_entries != bpf_map__max_entries(map) ||
            info.map_flags != bpf_map__map_flags(map))
            return ERR(
                e, EXIT_STATUS_STATE, 0,
                "pinned map %s on %s (type %u, key %u, value %u, %u entries, flags %#x) differs from "
                "this build's (%u, %u, %u, %u, %#x) though the ABI version is the same; unload and load",
                pins_map_names[i], p->ifname, info.type, info.key_size, info.value_size, info.max_entries,
                info.map_flags, (__u32)bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map),
                bpf_map__max_entries(map), bpf_map__map_flags(map));
    }
    return 0;
}

int cmd_reload(int argc, char **argv, struct err *e)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dev = NULL;
    char path[PATH_MAX];
    struct pins p;
    struct sluice_meta meta;
    struct steer *skel = NULL;
    struct bpf_link_info link = {};
    struct bpf_prog_info prog = {};
    __u32 len = sizeof(link), zero = 0;
    int ifindex, c, link_fd = -1, old_fd = -1, new_fd, ret = -1;

    while ((c = args_getopt(argc, argv, opts, "reload", e)) != -1) {
        switch (c) {
        case 'd':
            dev = optarg;
            break;
        case 'h':
            return agent_help(reload_help);
        default:
            return -1;
        }
    }
    if (agent_require_dev(dev, "reload", e) || agent_require_root(e) ||
        pins_path(path, sizeof(path), dev, SLUICE_PIN_LINK, e))
        return -1;
    ifindex = (int)if_nametoindex(dev);
    if (!ifindex)
        return ERR(e, EXIT_STATUS_NO_DEVICE, 0, "device '%s' not found", dev);
    /* not loaded, or another ABI: pins_open says which, in one line */
    if (agent_open_pins(&p, dev, e) || pins_read_meta(p.meta, &meta, e))
        goto out;
    link_fd = bpf_obj_get(path);
    if (link_fd < 0) {
        if (errno == ENOENT)
            ERR(e, EXIT_STATUS_STATE, 0,
                "no program attached on %s (maps pinned without a link); `load` attaches one", dev);
        else
            ERR(e, err_status_for_errno(errno), errno, "cannot open the pinned link %s", path);
        goto out;
    }
    if (bpf_obj_get_info_by_fd(link_fd, &link, &len)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot read the pinned link %s", path);
        goto out;
    }
    if (link.type != BPF_LINK_TYPE_XDP || link.xdp.ifindex != (__u32)ifindex) {
        ERR(e, EXIT_STATUS_STATE, 0, "the link pinned at %s is not attached to %s (ifindex %u, not %d)", path,
            dev, link.xdp.ifindex, ifindex);
        goto out;
    }
    old_fd = bpf_prog_get_fd_by_id(link.prog_id);
    if (old_fd < 0) {
        ERR(e, err_status_for_errno(errno), errno, "cannot open the attached program (id %u)", link.prog_id);
        goto out;
    }

    skel = steer__open();
    if (!skel) {
        ERR(e, err_status_for_errno(errno), errno, "cannot open the steering program");
        goto out;
    }
    if (check_maps(skel, &p, e) || agent_set_pin_paths(skel->obj, dev, e))
        goto out;
    if (steer__load(skel)) {
        ERR(e, err_status_for_errno(errno), errno,
            "cannot load the new steering program against the maps pinned for %s (run with -v for the "
            "verifier log)",
            dev);
        goto out;
    }
    new_fd = bpf_program__fd(skel->progs.sluice_steer);
    {
        LIBBPF_OPTS(bpf_link_update_opts, update, .flags = BPF_F_REPLACE, .old_prog_fd = old_fd);

        if (bpf_link_update(link_fd, new_fd, &update)) {
            int errnum = errno;

            if (errnum == EPERM)
                ERR(e, EXIT_STATUS_STATE, 0,
                    "the program on %s changed while reloading (another reload?); nothing swapped", dev);
            else
                ERR(e, err_status_for_errno(errnum), errnum, "cannot swap the program on %s", dev);
            goto out;
        }
    }
    meta.loaded_at = (__u64)time(NULL); /* the program's load time; every other field stays */
    if (bpf_map_update_elem(p.meta, &zero, &meta, BPF_ANY))
        fprintf(stderr, "sluice-agent: warning: cannot record the reload time in the meta map: %s\n",
                strerror(errno));
    len = sizeof(prog);
    bpf_obj_get_info_by_fd(new_fd, &prog, &len);
    printf(
        "reloaded sluice_steer on %s: program id %u -> %u (link id %u, %s mode), every map kept (ABI %u)\n",
        dev, link.prog_id, prog.id, link.id, agent_mode_name(meta.attach_mode), SLUICE_ABI_VERSION);
    ret = EXIT_STATUS_OK;
out:
    steer__destroy(skel);
    if (old_fd >= 0)
        close(old_fd);
    if (link_fd >= 0)
        close(link_fd);
    pins_close(&p);
    return ret;
}
