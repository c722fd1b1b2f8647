/*
 * attach.c — `load`, `unload` and `status`: the life cycle of the steering program on a device.
 *
 * load opens the steer skeleton with every shared map's pin path set (libbpf reuses compatible pins
 * and pins new maps; the program's private scratch map is not pinned), writes `meta`, seeds routes
 * from a config file's [routes] section (checked whole before anything is touched), attaches through a
 * bpf_link in the requested XDP mode and pins the link, so the attachment outlives the agent. unload removes
 * the link pin (which detaches) and every map pin, refusing while a server's AF_XDP sockets sit in `xsks`
 * unless forced. status reads a device's facts once, then prints them as text or as JSON. Each command
 * checks first that the BPF filesystem will outlive it (bpffs.c); reload.c swaps the program in place.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/agent.h"
#include "bpf/steer.skel.h"

enum mode_request { MODE_AUTO, MODE_NATIVE, MODE_GENERIC };

static const char load_help[] =
    "usage: sluice-agent load --dev DEVICE [--mode auto|native|generic] [--config FILE]\n"
    "                         [--max-conns-per-source N]\n"
    "\n"
    "Load the XDP steering program, pin its maps at " SLUICE_PIN_ROOT "/DEVICE/ and attach it to\n"
    "DEVICE through a pinned bpf_link. --mode native requires driver XDP, generic uses the kernel's\n"
    "generic XDP, auto (the default) tries native and falls back to generic, saying why.\n"
    "Maps already pinned for DEVICE with the same ABI are reused; another ABI is refused.\n"
    "--max-conns-per-source N: XDP drops the SYN of a new connection from a client address that\n"
    "has N open (0, the default: no cap; `sluice-agent sources` shows and changes it live).\n"
    "\n"
    "--config FILE seeds the routes map from the [routes] section of sluice's INI config file (the\n"
    "server ignores that section; the agent ignores the others). One route a line:\n"
    "    [routes]\n"
    "    path /heavy = 1        # KIND PREFIX = WORKER\n"
    "    path /api = 0,1        # a group: hashed over its live workers\n"
    "    sni example.com = 0\n"
    "    path default = 0       # 'default' is the kind's empty prefix\n"
    "KIND is path or sni, PREFIX as `route add --prefix` takes it. Comments start with '#' or ';'\n"
    "(at the start of a line or after a space). The file is checked whole first: a mistake is\n"
    "reported as FILE:LINE: problem, with exit status 2, and nothing is loaded or changed.\n"
    "exit status: 0 loaded, 2 bad option or config, 3 not root, 4 BPF/XDP unavailable,\n"
    "             5 no such device, 6 already loaded, another XDP program attached, or a BPF\n"
    "             filesystem private to this command (`ip netns exec`: use `nsenter --net`)\n";

static const char unload_help[] =
    "usage: sluice-agent unload --dev DEVICE [--force]\n"
    "\n"
    "Detach the steering program from DEVICE and remove every pin under " SLUICE_PIN_ROOT "/DEVICE/.\n"
    "Refused while a server holds AF_XDP sockets in the xsks map, unless --force.\n"
    "exit status: 0 unloaded, 2 bad option, 3 not root, 6 not loaded, 7 a server holds sockets\n";

static const char status_help[] =
    "usage: sluice-agent status [--dev DEVICE] [--json]\n"
    "\n"
    "Show, for DEVICE or every device sluice is loaded on: the program id, the attach mode, the\n"
    "pinned maps with their ids and entry counts, the workers and the ABI version. Without --dev,\n"
    "a device whose pins cannot be read (another ABI) is listed with the reason.\n"
    "--json prints the same facts as one JSON object, {\"devices\":[...]}, a device each:\n"
    "  {\"dev\", \"abi\", \"program\": {\"attached\", \"id\", \"name\", \"link_id\", \"mode\", \"ifindex\",\n"
    "   \"device_gone\"}, \"maps\": {NAME: {\"id\", \"entries\", \"max_entries\"} or {\"id\", \"slots\"}},\n"
    "   \"workers\": {\"live\"}, \"prefix\": {\"decided\", one per decision, \"handoffs\",\n"
    "   \"awaiting_more\"}, \"metadata\": {\"added\", \"failed\"}}\n"
    "or, for a device that cannot be read, {\"dev\", \"error\"}. A program without a pinned link\n"
    "is {\"attached\": false, \"link\": false}.\n"
    "exit status: 0 shown, 3 not root, 6 not loaded\n";

const char *agent_mode_name(__u32 mode)
{
    switch (mode) {
    case SLUICE_ATTACH_NATIVE:
        return "native";
    case SLUICE_ATTACH_GENERIC:
        return "generic";
    default:
        return "none";
    }
}

static bool path_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* Fail when sluice is loaded on dev, or when what is pinned there speaks another ABI. */
static int refuse_if_loaded(const char *dev, struct err *e)
{
    char link[PATH_MAX], meta[PATH_MAX];
    struct pins p;

    if (pins_path(link, sizeof(link), dev, SLUICE_PIN_LINK, e) ||
        pins_path(meta, sizeof(meta), dev, SLUICE_MAP_META, e))
        return -1;
    if (!path_exists(meta))
        return 0; /* nothing of ours pinned: a fresh load */
    if (pins_open(&p, dev, e))
        return -1; /* pins of another ABI, or unreadable: say so rather than mix layouts */
    pins_close(&p);
    if (path_exists(link))
        return ERR(e, EXIT_STATUS_STATE, 0, "sluice is already loaded on %s (unload it first)", dev);
    return 0; /* our maps without a link: load reuses them */
}

static int attach_link(int prog_fd, int ifindex, __u32 xdp_flags)
{
    LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = xdp_flags);

    return bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
}

/* Attach in the requested mode; *why explains a fallback to generic mode. */
static int attach_xdp(int prog_fd, int ifindex, const char *dev, enum mode_request want, __u32 *got,
                      char *why, size_t why_len, struct err *e)
{
    int fd, errnum;

    why[0] = '\0';
    if (want != MODE_GENERIC) {
        fd = attach_link(prog_fd, ifindex, XDP_FLAGS_DRV_MODE);
        if (fd >= 0) {
            *got = SLUICE_ATTACH_NATIVE;
            return fd;
        }
        errnum = errno;
        if (errnum == EBUSY || errnum == EEXIST)
            return ERR(e, EXIT_STATUS_STATE, errnum, "%s already has another XDP program attached", dev);
        if (want == MODE_NATIVE)
            return ERR(e, err_status_for_errno(errnum), errnum, "native XDP attach on %s failed", dev);
        snprintf(why, why_len, "native attach failed: %s", strerror(errnum));
    } else {
        snprintf(why, why_len, "requested");
    }
    fd = attach_link(prog_fd, ifindex, XDP_FLAGS_SKB_MODE);
    if (fd < 0) {
        errnum = errno;
        if (errnum == EBUSY || errnum == EEXIST)
            return ERR(e, EXIT_STATUS_STATE, errnum, "%s already has another XDP program attached", dev);
        return ERR(e, err_status_for_errno(errnum), errnum, "generic XDP attach on %s failed (%s)", dev, why);
    }
    *got = SLUICE_ATTACH_GENERIC;
    return fd;
}

/* Maps shared through pins (pins_map_names); the program's private maps stay unpinned. */
static bool is_shared_map(const char *name)
{
    for (size_t i = 0; i < PINS_NR_MAPS; i++)
        if (!strcmp(name, pins_map_names[i]))
            return true;
    return false;
}

int agent_set_pin_paths(struct bpf_object *obj, const char *dev, struct err *e)
{
    char path[PATH_MAX];
    struct bpf_map *map;

    bpf_object__for_each_map(map, obj)
    {
        if (bpf_map__is_internal(map) || !is_shared_map(bpf_map__name(map)))
            continue;
        if (pins_path(path, sizeof(path), dev, bpf_map__name(map), e))
            return -1;
        if (bpf_map__set_pin_path(map, path))
            return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot set the pin path of map %s",
                       bpf_map__name(map));
    }
    return 0;
}

/* Write the config's routes with fresh ids; a path route is written with its Huffman key. */
static int seed_routes(int routes_fd, const struct routes_config *rc, struct err *e)
{
    __u32 id = agent_next_id(routes_fd, sizeof(struct route_key), sizeof(struct route_value));

    for (size_t i = 0; i < rc->count; i++, id++) {
        struct route_value value = {.route_id = id, .workers = rc->workers[i]};

        if (id >= SLUICE_MAX_ROUTES)
            return ERR(e, EXIT_STATUS_STATE, 0, "no route id left below %d for the config's routes",
                       SLUICE_MAX_ROUTES);
        memcpy(value.text, rc->keys[i].prefix, sizeof(value.text));
        if (route_write(routes_fd, &rc->keys[i], &value, e))
            return -1;
    }
    return 0;
}

static void unpin_maps(struct steer *skel)
{
    struct bpf_map *map;

    bpf_object__for_each_map(map, skel->obj)
    {
        if (bpf_map__pin_path(map))
            bpf_map__unpin(map, NULL);
    }
}

int cmd_load(int argc, char **argv, struct err *e)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'},    {"mode", required_argument, NULL, 'm'},
        {"config", required_argument, NULL, 'c'}, {"max-conns-per-source", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    enum mode_request want = MODE_AUTO;
    const char *dev = NULL, *config = NULL;
    struct routes_config routes = {0};
    char dir[PATH_MAX], path[PATH_MAX], why[160];
    struct steer *skel = NULL;
    struct sluice_meta meta = {.abi_version = SLUICE_ABI_VERSION, .max_workers = SLUICE_MAX_WORKERS};
    bool dir_created = false, maps_pinned = false;
    int ifindex, link_fd = -1, c, ret = -1;
    __u32 zero = 0, got = SLUICE_ATTACH_NONE;
    struct bpf_prog_info info = {};
    __u32 info_len = sizeof(info);

    while ((c = args_getopt(argc, argv, opts, "load", e)) != -1) {
        switch (c) {
        case 'd':
            dev = optarg;
            break;
        case 'm':
            if (!strcmp(optarg, "auto"))
                want = MODE_AUTO;
            else if (!strcmp(optarg, "native"))
                want = MODE_NATIVE;
            else if (!strcmp(optarg, "generic"))
                want = MODE_GENERIC;
            else
                return ERR(e, EXIT_STATUS_USAGE, 0, "bad --mode '%s': expected auto, native or generic",
                           optarg);
            break;
        case 'c':
            config = optarg;
            break;
        case 's':
            if (args_u32(optarg, "--max-conns-per-source", 0, UINT32_MAX, &meta.max_conns_per_source, e))
                return -1;
            break;
        case 'h':
            return agent_help(load_help);
        default:
            return -1;
        }
    }
    if (agent_require_dev(dev, "load", e) || agent_require_root(e) ||
        pins_path(dir, sizeof(dir), dev, NULL, e))
        return -1;
    ifindex = (int)if_nametoindex(dev);
    if (!ifindex)
        return ERR(e, EXIT_STATUS_NO_DEVICE, 0, "device '%s' not found", dev);
    if (config && routes_config_read(config, &routes, e))
        return -1; /* before anything is created: a bad file changes nothing */
    if (agent_ensure_bpffs(e) || refuse_if_loaded(dev, e))
        goto out;

    if (mkdir(SLUICE_PIN_ROOT, 0700) < 0 && errno != EEXIST) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot create %s", SLUICE_PIN_ROOT);
        goto out;
    }
    if (mkdir(dir, 0700) == 0) {
        dir_created = true;
    } else if (errno != EEXIST) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot create %s", dir);
        goto out;
    }

    skel = steer__open();
    if (!skel) {
        ERR(e, err_status_for_errno(errno), errno, "cannot open the steering program");
        goto out;
    }
    if (agent_set_pin_paths(skel->obj, dev, e))
        goto out;
    if (steer__load(skel)) {
        int errnum = errno;

        ERR(e, err_status_for_errno(errnum), errnum,
            "cannot load the steering program or pin its maps in %s (run with -v for the verifier log)", dir);
        goto out;
    }
    maps_pinned = true;
    meta.ifindex = ifindex;
    meta.loaded_at = (__u64)time(NULL);
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.meta), &zero, &meta, BPF_ANY)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot write the meta map");
        goto out;
    }
    /* routes before the attachment: the first connection already sees them */
    if (seed_routes(bpf_map__fd(skel->maps.routes), &routes, e))
        goto out;

    link_fd =
        attach_xdp(bpf_program__fd(skel->progs.sluice_steer), ifindex, dev, want, &got, why, sizeof(why), e);
    if (link_fd < 0)
        goto out;
    if (pins_path(path, sizeof(path), dev, SLUICE_PIN_LINK, e))
        goto out;
    if (bpf_obj_pin(link_fd, path)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot pin the XDP link at %s", path);
        goto out;
    }
    meta.attach_mode = got;
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.meta), &zero, &meta, BPF_ANY)) {
        unlink(path);
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot write the meta map");
        goto out;
    }
    bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.sluice_steer), &info, &info_len);
    printf("loaded sluice_steer (program id %u, ABI %u) on %s (ifindex %d) in %s mode%s%s%s\n", info.id,
           SLUICE_ABI_VERSION, dev, ifindex, agent_mode_name(got), why[0] ? " (" : "", why,
           why[0] ? ")" : "");
    printf("maps pinned under %s\n", dir);
    if (config)
        printf("seeded %zu route%s from %s\n", routes.count, routes.count == 1 ? "" : "s", config);
    ret = EXIT_STATUS_OK;
out:
    if (ret != EXIT_STATUS_OK && maps_pinned && dir_created) {
        unpin_maps(skel);
        rmdir(dir);
    } else if (ret != EXIT_STATUS_OK && dir_created) {
        rmdir(dir);
    }
    if (link_fd >= 0)
        close(link_fd);
    steer__destroy(skel);
    routes_config_free(&routes);
    return ret;
}

int cmd_unload(int argc, char **argv, struct err *e)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dev = NULL;
    bool force = false;
    char dir[PATH_MAX], path[PATH_MAX];
    struct pins p;
    int c;

    while ((c = args_getopt(argc, argv, opts, "unload", e)) != -1) {
        switch (c) {
        case 'd':
            dev = optarg;
            break;
        case 'f':
            force = true;
            break;
        case 'h':
            return agent_help(unload_help);
        default:
            return -1;
        }
    }
    if (agent_require_dev(dev, "unload", e) || agent_require_root(e) ||
        pins_path(dir, sizeof(dir), dev, NULL, e) || agent_ensure_bpffs(e))
        return -1;
    if (!path_exists(dir))
        return ERR(e, EXIT_STATUS_STATE, 0, "sluice is not loaded on %s (%s is missing)", dev, dir);

    if (!force) {
        __u32 queues[SLUICE_MAX_WORKERS];
        char list[3 * SLUICE_MAX_WORKERS + 1] = "";
        size_t n = 0;

        if (pins_open(&p, dev, e))
            return -1;
        if (agent_probe_xsks(p.xsks, queues, e)) {
            pins_close(&p);
            return -1;
        }
        pins_close(&p);
        for (int i = 0; i < SLUICE_MAX_WORKERS; i++)
            if (queues[i])
                n += snprintf(list + n, sizeof(list) - n, "%s%d", n ? "," : "", i);
        if (n)
            return ERR(e, EXIT_STATUS_BUSY, 0,
                       "a server holds AF_XDP sockets of workers %s on %s; stop it first or use --force",
                       list, dev);
    }

    /* the link first: removing its only reference detaches the program before maps disappear */
    if (pins_path(path, sizeof(path), dev, SLUICE_PIN_LINK, e))
        return -1;
    if (unlink(path) < 0 && errno != ENOENT)
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot remove %s", path);
    for (size_t i = 0; i < PINS_NR_MAPS; i++) {
        if (pins_path(path, sizeof(path), dev, pins_map_names[i], e))
            return -1;
        if (unlink(path) < 0 && errno != ENOENT)
            return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot remove %s", path);
    }
    if (rmdir(dir) < 0)
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot remove %s (unknown files left in it?)", dir);
    rmdir(SLUICE_PIN_ROOT); /* only succeeds when no other device is loaded */
    printf("unloaded sluice from %s%s\n", dev, force ? " (forced)" : "");
    return EXIT_STATUS_OK;
}

/* What `status` says about one device, read once and then printed as text or JSON. */
struct map_status {
    const char *name;
    int errnum;   /* 0, or why its info could not be read */
    bool counted; /* a hash or trie: entries counted; else an array of max_entries slots */
    __u32 id, entries, max_entries;
};

#define STATUS_TOP_SOURCES 3

struct device_status {
    const char *dev;
    struct sluice_meta meta;
    bool linked; /* a pinned link */
    __u32 link_id, prog_id, ifindex;
    char prog_name[BPF_OBJ_NAME_LEN];
    struct map_status maps[PINS_NR_MAPS];
    __u32 live_workers;
    bool have_stats;
    struct sluice_stats stats;
    struct agent_source top[STATUS_TOP_SOURCES]; /* the sources holding the most open connections */
    int nsources;                                /* sources with a count or a refusal */
};

static void read_map(const char *name, int fd, struct map_status *m)
{
    struct bpf_map_info info = {};
    __u32 len = sizeof(info);
    char key[sizeof(struct route_key)], next[sizeof(struct route_key)];
    void *prev = NULL;

    memset(m, 0, sizeof(*m));
    m->name = name;
    if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
        m->errnum = errno;
        return;
    }
    m->id = info.id;
    m->max_entries = info.max_entries;
    m->counted = info.type == BPF_MAP_TYPE_HASH || info.type == BPF_MAP_TYPE_LRU_HASH ||
                 info.type == BPF_MAP_TYPE_LPM_TRIE;
    while (m->counted && info.key_size <= sizeof(key) && bpf_map_get_next_key(fd, prev, next) == 0) {
        memcpy(key, next, info.key_size);
        prev = key;
        m->entries++;
    }
}

static int read_device(const char *dev, struct device_status *ds, struct err *e)
{
    struct pins p;
    struct bpf_link_info link = {};
    struct bpf_prog_info prog = {};
    __u32 len;
    char path[PATH_MAX];
    int link_fd, *fds[PINS_NR_MAPS];

    memset(ds, 0, sizeof(*ds));
    ds->dev = dev;
    if (pins_open(&p, dev, e))
        return -1;
    if (pins_read_meta(p.meta, &ds->meta, e)) {
        pins_close(&p);
        return -1;
    }
    if (pins_path(path, sizeof(path), dev, SLUICE_PIN_LINK, e) == 0 && (link_fd = bpf_obj_get(path)) >= 0) {
        len = sizeof(link);
        bpf_obj_get_info_by_fd(link_fd, &link, &len);
        close(link_fd);
        if (link.prog_id) {
            int prog_fd = bpf_prog_get_fd_by_id(link.prog_id);

            len = sizeof(prog);
            if (prog_fd >= 0) {
                bpf_obj_get_info_by_fd(prog_fd, &prog, &len);
                close(prog_fd);
            }
        }
        ds->linked = true;
        ds->link_id = link.id;
        ds->prog_id = link.prog_id;
        ds->ifindex = link.xdp.ifindex;
        memcpy(ds->prog_name, prog.name, sizeof(ds->prog_name));
    }
    pins_fds(&p, fds);
    for (size_t i = 0; i < PINS_NR_MAPS; i++)
        read_map(pins_map_names[i], *fds[i], &ds->maps[i]);
    for (__u32 i = 0; i < SLUICE_MAX_WORKERS; i++) {
        struct worker_state ws;

        if (bpf_map_lookup_elem(p.workers, &i, &ws) == 0 && ws.live)
            ds->live_workers++;
    }
    ds->have_stats = pins_read_stats(&p, &ds->stats, e) == 0;
    ds->nsources = agent_top_sources(p.sources, ds->top, STATUS_TOP_SOURCES);
    pins_close(&p);
    return 0;
}

static __u64 prefix_decided(const struct sluice_stats *s)
{
    __u64 decided = 0;

#define SUM_DECISION(name, help) decided += s->name;
    SLUICE_PREFIX_DECISION_COUNTERS(SUM_DECISION)
#undef SUM_DECISION
    return decided;
}

static void print_device_text(const struct device_status *ds)
{
    const struct sluice_stats *s = &ds->stats;

    printf("%s\n", ds->dev);
    printf("  abi       %u\n", ds->meta.abi_version);
    if (ds->linked)
        printf("  program   id %u %s, link id %u, %s mode on ifindex %u%s\n", ds->prog_id, ds->prog_name,
               ds->link_id, agent_mode_name(ds->meta.attach_mode), ds->ifindex,
               ds->ifindex ? "" : " (device gone: detached)");
    else
        printf("  program   not attached (maps pinned without a link)\n");
    printf("  maps\n");
    for (size_t i = 0; i < PINS_NR_MAPS; i++) {
        const struct map_status *m = &ds->maps[i];

        if (m->errnum)
            printf("  %-9s (unreadable: %s)\n", m->name, strerror(m->errnum));
        else if (m->counted)
            printf("  %-9s id %-5u %u of %u entries\n", m->name, m->id, m->entries, m->max_entries);
        else
            printf("  %-9s id %-5u %u slots\n", m->name, m->id, m->max_entries);
    }
    printf("  workers   %u live (see `sluice-agent workers --dev %s`)\n", ds->live_workers, ds->dev);
    printf("  sources   max_conns_per_source %u%s", ds->meta.max_conns_per_source,
           ds->meta.max_conns_per_source ? "" : " (off)");
    for (int i = 0; i < ds->nsources && i < STATUS_TOP_SOURCES; i++) {
        char addr[INET6_ADDRSTRLEN];

        agent_source_addr(&ds->top[i].key, addr, sizeof(addr));
        printf("%s %s %llu", i ? "," : "; most open:", addr, (unsigned long long)ds->top[i].value.count);
    }
    if (ds->have_stats)
        printf("; %llu SYNs refused", (unsigned long long)ds->stats.drop_source_cap);
    printf("\n");
    if (!ds->have_stats)
        return;
    printf("  prefix    %llu decided:", (unsigned long long)prefix_decided(s));
#define PRINT_DECISION(name, help)                                                                           \
    printf(" %s %llu", &#name[sizeof("prefix_") - 1], (unsigned long long)s->name);
    SLUICE_PREFIX_DECISION_COUNTERS(PRINT_DECISION)
#undef PRINT_DECISION
    printf("; %llu hand-offs, %llu awaiting more, metadata %llu added %llu failed\n",
           (unsigned long long)s->prefix_handoffs, (unsigned long long)s->prefix_awaiting_more,
           (unsigned long long)s->meta_added, (unsigned long long)s->meta_failed);
}

/* One device as a JSON object: the facts of print_device_text, under the same names. */
static void print_device_json(const struct device_status *ds)
{
    const struct sluice_stats *s = &ds->stats;

    printf("{\"dev\":");
    agent_json_string(stdout, ds->dev);
    printf(",\"abi\":%u,\"program\":", ds->meta.abi_version);
    if (ds->linked) {
        printf("{\"attached\":%s,\"id\":%u,\"name\":", ds->ifindex ? "true" : "false", ds->prog_id);
        agent_json_string(stdout, ds->prog_name);
        printf(",\"link_id\":%u,\"mode\":\"%s\",\"ifindex\":%u,\"device_gone\":%s}", ds->link_id,
               agent_mode_name(ds->meta.attach_mode), ds->ifindex, ds->ifindex ? "false" : "true");
    } else {
        printf("{\"attached\":false,\"link\":false}");
    }
    printf(",\"maps\":{");
    for (size_t i = 0; i < PINS_NR_MAPS; i++) {
        const struct map_status *m = &ds->maps[i];

        printf("%s\"%s\":", i ? "," : "", m->name);
        if (m->errnum) {
            printf("{\"error\":");
            agent_json_string(stdout, strerror(m->errnum));
            printf("}");
        } else if (m->counted) {
            printf("{\"id\":%u,\"entries\":%u,\"max_entries\":%u}", m->id, m->entries, m->max_entries);
        } else {
            printf("{\"id\":%u,\"slots\":%u}", m->id, m->max_entries);
        }
    }
    printf("},\"workers\":{\"live\":%u}", ds->live_workers);
    printf(",\"sources\":{\"max_conns_per_source\":%u,\"tracked\":%d,\"top\":[",
           ds->meta.max_conns_per_source, ds->nsources);
    for (int i = 0; i < ds->nsources && i < STATUS_TOP_SOURCES; i++) {
        char addr[INET6_ADDRSTRLEN];

        agent_source_addr(&ds->top[i].key, addr, sizeof(addr));
        printf("%s{\"addr\":\"%s\",\"open\":%llu,\"refused\":%llu}", i ? "," : "", addr,
               (unsigned long long)ds->top[i].value.count, (unsigned long long)ds->top[i].value.refused);
    }
    printf("]");
    if (ds->have_stats)
        printf(",\"refused\":%llu", (unsigned long long)ds->stats.drop_source_cap);
    printf("}");
    if (ds->have_stats) {
        printf(",\"prefix\":{\"decided\":%llu", (unsigned long long)prefix_decided(s));
#define PRINT_DECISION(name, help)                                                                           \
    printf(",\"%s\":%llu", &#name[sizeof("prefix_") - 1], (unsigned long long)s->name);
        SLUICE_PREFIX_DECISION_COUNTERS(PRINT_DECISION)
#undef PRINT_DECISION
        printf(",\"handoffs\":%llu,\"awaiting_more\":%llu},\"metadata\":{\"added\":%llu,\"failed\":%llu}",
               (unsigned long long)s->prefix_handoffs, (unsigned long long)s->prefix_awaiting_more,
               (unsigned long long)s->meta_added, (unsigned long long)s->meta_failed);
    }
    printf("}");
}

/* One device, as text or as a JSON object (after sep); a device that cannot be read is an error. */
static int show_device(const char *dev, bool json, const char *sep, struct err *e)
{
    struct device_status ds;

    if (read_device(dev, &ds, e))
        return -1;
    if (json) {
        fputs(sep, stdout);
        print_device_json(&ds);
    } else {
        print_device_text(&ds);
    }
    return 0;
}

int cmd_status(int argc, char **argv, struct err *e)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dev = NULL;
    bool json = false;
    struct dirent *de;
    DIR *d;
    int c, shown = 0;

    while ((c = args_getopt(argc, argv, opts, "status", e)) != -1) {
        switch (c) {
        case 'd':
            dev = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            return agent_help(status_help);
        default:
            return -1;
        }
    }
    if (agent_require_root(e) || agent_ensure_bpffs(e))
        return -1;
    if (dev) {
        /* read whole before printing: a failure prints nothing but the error */
        if (show_device(dev, json, "{\"devices\":[", e))
            return -1;
        if (json)
            printf("]}\n");
        return EXIT_STATUS_OK;
    }
    d = opendir(SLUICE_PIN_ROOT);
    while (d && (de = readdir(d))) {
        struct err why = {0};
        const char *sep = shown ? "," : "{\"devices\":[";

        if (de->d_name[0] == '.')
            continue;
        /* one device's pins of another ABI (another build's agent) do not hide the others */
        if (show_device(de->d_name, json, sep, &why)) {
            if (json) {
                printf("%s{\"dev\":", sep);
                agent_json_string(stdout, de->d_name);
                printf(",\"error\":");
                agent_json_string(stdout, why.msg);
                printf("}");
            } else {
                printf("%s\n  not shown: %s\n", de->d_name, why.msg);
            }
        }
        shown++;
    }
    if (d)
        closedir(d);
    if (!shown)
        return ERR(e, EXIT_STATUS_STATE, 0, "sluice is not loaded on any device (nothing under %s)",
                   SLUICE_PIN_ROOT);
    if (json)
        printf("]}\n");
    return EXIT_STATUS_OK;
}
