/*
 * main.c — sluice-agent: the operator's command line for the XDP side of sluice.
 *
 * It loads and attaches the steering program (bpf/steer.bpf.c) to a device, pins its maps under
 * SLUICE_PIN_ROOT/<ifname>/, edits services and routes in those maps, and reports workers and
 * counters. It keeps no state of its own: everything it knows is read back from the pins, so it
 * can be run, killed and run again at any time beside a running server.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stddef.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/agent.h"

bool agent_verbose;

static const char usage[] =
    "usage: sluice-agent [-v] <command> [options]\n"
    "\n"
    "commands:\n"
    "  load      attach the XDP steering program to a device and pin its maps\n"
    "  unload    detach the program and remove every pin of a device\n"
    "  reload    swap in this build's XDP program through the pinned link, keeping every map\n"
    "  status    program, attach mode, maps, workers and ABI version\n"
    "  service   add, delete or list services (address + port served by sluice)\n"
    "  route     add, delete or list stream-prefix routes\n"
    "  workers   the server's workers as the maps see them\n"
    "  stats     steering counters summed over CPUs\n"
    "  sources   the per-source connection cap: set it, see the sources holding the most\n"
    "\n"
    "Run `sluice-agent <command> --help` for a command's options. -v prints libbpf's messages.\n"
    "Maps are pinned at " SLUICE_PIN_ROOT "/<device>/<map>.\n"
    "\n"
    "exit status: 0 ok, 1 failure, 2 bad usage or value, 3 not permitted (needs root),\n"
    "             4 BPF unavailable, 5 no such device, 6 wrong state (not loaded, already loaded,\n"
    "             ABI mismatch, entry exists or missing, a BPF filesystem that would vanish with\n"
    "             the command: `ip netns exec`), 7 busy (a server holds sockets)\n";

static const struct agent_command commands[] = {
    {"load", cmd_load},       {"unload", cmd_unload},   {"reload", cmd_reload},
    {"status", cmd_status},   {"service", cmd_service}, {"route", cmd_route},
    {"workers", cmd_workers}, {"stats", cmd_stats},     {"sources", cmd_sources},
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (!agent_verbose || level == LIBBPF_DEBUG)
        return 0;
    return vfprintf(stderr, fmt, ap);
}

int agent_help(const char *text)
{
    fputs(text, stdout);
    return EXIT_STATUS_OK;
}

int agent_dispatch(const struct agent_command *table, size_t n, int argc, char **argv, const char *help,
                   const char *unknown, struct err *e)
{
    const char *name = argc > 0 ? argv[0] : "";

    if (!strcmp(name, "--help") || !strcmp(name, "-h"))
        return agent_help(help);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, table[i].name))
            return table[i].run(argc, argv, e);
    return ERR(e, EXIT_STATUS_USAGE, 0, unknown, name);
}

_Static_assert(offsetof(struct service_value, service_id) == 0, "agent_next_id reads the id first");
_Static_assert(offsetof(struct route_value, route_id) == 0, "agent_next_id reads the id first");

__u32 agent_next_id(int fd, size_t key_size, size_t value_size)
{
    unsigned char key[256], next[256], value[256];
    void *prev = NULL;
    __u32 max = 0, id;

    if (key_size > sizeof(key) || value_size > sizeof(value))
        return 1;
    while (bpf_map_get_next_key(fd, prev, next) == 0) {
        if (bpf_map_lookup_elem(fd, next, value) == 0) {
            memcpy(&id, value, sizeof(id));
            if (id > max)
                max = id;
        }
        memcpy(key, next, key_size);
        prev = key;
    }
    return max + 1;
}

int agent_require_root(struct err *e)
{
    if (geteuid() != 0)
        return ERR(e, EXIT_STATUS_PERMISSION, 0, "must be run as root (needs CAP_BPF and CAP_NET_ADMIN)");
    return 0;
}

int agent_require_dev(const char *dev, const char *cmd, struct err *e)
{
    if (!dev)
        return ERR(e, EXIT_STATUS_USAGE, 0, "`%s` needs --dev DEVICE", cmd);
    return 0;
}

int agent_open_pins(struct pins *p, const char *dev, struct err *e)
{
    int *fds[PINS_NR_MAPS];

    pins_fds(p, fds); /* closed fds before the checks too, so that pins_close after a failure is safe */
    for (size_t i = 0; i < PINS_NR_MAPS; i++)
        *fds[i] = -1;
    if (agent_require_root(e) || agent_ensure_bpffs(e))
        return -1;
    return pins_open(p, dev, e);
}

void agent_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

int main(int argc, char **argv)
{
    struct err e = {0};
    int argi = 1, status;

    if (argi < argc && !strcmp(argv[argi], "-v")) {
        agent_verbose = true;
        argi++;
    }
    if (argi >= argc) {
        fputs(usage, stderr);
        return EXIT_STATUS_USAGE;
    }
    if (!strcmp(argv[argi], "help")) /* a word only at this level; agent_dispatch takes --help and -h */
        return agent_help(usage);
    libbpf_set_print(libbpf_print);
    status = agent_dispatch(commands, sizeof(commands) / sizeof(commands[0]), argc - argi, argv + argi, usage,
                            "unknown command '%s' (see sluice-agent --help)", &e);
    if (status == -1) {
        err_print(stderr, "sluice-agent", &e);
        return e.status;
    }
    return status;
}
