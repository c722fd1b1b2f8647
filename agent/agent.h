/*
 * agent.h — what sluice-agent's subcommands share: their entry points, option parsing that turns
 * every bad argument into one struct err, and access to an interface's pins.
 *
 * Each subcommand lives in its own file (attach.c: load/unload/status, reload.c, service.c, route.c,
 * workers.c, stats.c) and returns an exit status or -1 with e filled; main.c prints and exits.
 */
#ifndef SLUICE_AGENT_H
#define SLUICE_AGENT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#include "common/args.h"
#include "common/err.h"
#include "maps/pins.h"

extern bool agent_verbose;

int cmd_load(int argc, char **argv, struct err *e);
int cmd_unload(int argc, char **argv, struct err *e);
int cmd_reload(int argc, char **argv, struct err *e);
int cmd_status(int argc, char **argv, struct err *e);
int cmd_service(int argc, char **argv, struct err *e);
int cmd_route(int argc, char **argv, struct err *e);
int cmd_workers(int argc, char **argv, struct err *e);
int cmd_stats(int argc, char **argv, struct err *e);
int cmd_sources(int argc, char **argv, struct err *e);

/* Print a subcommand's help text (a static string) and report success. */
int agent_help(const char *text);

/* One level of the command line: the commands of main.c, the actions of `route` and `service`. */
struct agent_command {
    const char *name;
    int (*run)(int argc, char **argv, struct err *e); /* argv[0] is name; an exit status or -1 */
};

/*
 * Run the command of table[0..n) that argv[0] names, passing argc and argv on unchanged. "--help"
 * and "-h" print help instead. A missing or unknown name is a usage error said by unknown, a printf
 * format given the name (it may leave the name out).
 */
int agent_dispatch(const struct agent_command *table, size_t n, int argc, char **argv, const char *help,
                   const char *unknown, struct err *e);

/*
 * One more than the largest id in a hash or LPM map whose values start with a __u32 id
 * (service_value, route_value), so that new entries get an unused id.
 */
__u32 agent_next_id(int fd, size_t key_size, size_t value_size);

int agent_require_root(struct err *e);
int agent_require_dev(const char *dev, const char *cmd, struct err *e);

/*
 * bpffs.c: refuse (exit status 6, with the `nsenter --net` hint) a BPF filesystem at /sys/fs/bpf
 * that will not outlive this command (one `ip netns exec` leaves it to mount in a private mount
 * namespace; the rule is at the top of bpffs.c), then make sure one is mounted (pins_ensure_bpffs).
 * Every command that reads or writes pins calls it first, before anything is mounted or changed.
 */
int agent_ensure_bpffs(struct err *e);

/* require root, check the BPF filesystem (agent_ensure_bpffs), then open the interface's pins */
int agent_open_pins(struct pins *p, const char *dev, struct err *e);

/* attach.c, shared with reload.c: point every shared map of the steering object at its pin under
 * dev's folder, so that loading reuses what is pinned (and pins what is not). */
struct bpf_object;
int agent_set_pin_paths(struct bpf_object *obj, const char *dev, struct err *e);

/* "native", "generic" or "none" for an enum sluice_attach_mode */
const char *agent_mode_name(__u32 mode);

/* s as a JSON string, quoted and escaped */
void agent_json_string(FILE *out, const char *s);

/* Which `xsks` slots hold an AF_XDP socket, read by running the probe program once: bit q of
 * queues[w] is set when worker w has a socket on receive queue q. */
int agent_probe_xsks(int xsks_fd, __u32 queues[SLUICE_MAX_WORKERS], struct err *e);
/* queues (a bit per queue) as "0-3,6" into buf, "-" when none. */
void agent_queue_list(__u32 queues, char *buf, size_t len);

/* sources.c, shared with `status`: the k sources with the most open connections, most first, into
 * top[0..k); returns how many sources hold a count or a refusal (may exceed k). */
#define AGENT_TOP_SOURCES_MAX 100
struct agent_source {
    struct source_key key;
    struct source_value value;
};
int agent_top_sources(int fd, struct agent_source *top, __u32 k);
/* A source's address as text. */
void agent_source_addr(const struct source_key *key, char *buf, size_t len);

/* route.c, shared with `load --config`: a route's key from its kind ("path", "sni") and prefix text */
int route_build_key(const char *kind, const char *prefix, struct route_key *key, struct err *e);

/* "N" or "N,N,..." into a worker bitmask; what names the list in errors ("--group"). */
int route_parse_workers(const char *list, const char *what, __u64 *workers, struct err *e);

/* Write a route: its key, and for a path its Huffman-coded twin (both or neither). */
int route_write(int routes_fd, const struct route_key *key, const struct route_value *value, struct err *e);

/* routes_config.c: the [routes] section of an INI config file, checked whole before use. */
struct routes_config {
    struct route_key *keys;
    __u64 *workers;
    size_t count;
};

int routes_config_read(const char *path, struct routes_config *rc, struct err *e);
void routes_config_free(struct routes_config *rc);

#endif
