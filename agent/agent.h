/*
 * agent.h — what sluice-agent's subcommands share: their entry points, option parsing that turns
 * every bad argument into one struct err, and access to an interface's pins.
 *
 * Each subcommand lives in its own file (attach.c: load/unload/status, service.c, route.c,
 * workers.c, stats.c) and returns an exit status or -1 with e filled; main.c prints and exits.
 */
#ifndef SLUICE_AGENT_H
#define SLUICE_AGENT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#include "args.h"
#include "err.h"
#include "pins.h"

extern bool agent_verbose;

int cmd_load(int argc, char **argv, struct err *e);
int cmd_unload(int argc, char **argv, struct err *e);
int cmd_status(int argc, char **argv, struct err *e);
int cmd_service(int argc, char **argv, struct err *e);
int cmd_route(int argc, char **argv, struct err *e);
int cmd_workers(int argc, char **argv, struct err *e);
int cmd_stats(int argc, char **argv, struct err *e);

/* Print a subcommand's help text (a static string) and report success. */
int agent_help(const char *text);

/*
 * One more than the largest id in a hash or LPM map whose values start with a __u32 id
 * (service_value, route_value), so that new entries get an unused id.
 */
__u32 agent_next_id(int fd, size_t key_size, size_t value_size);

int agent_require_root(struct err *e);
int agent_require_dev(const char *dev, const char *cmd, struct err *e);

/* require root, then open the interface's pins (see pins_open) */
int agent_open_pins(struct pins *p, const char *dev, struct err *e);

/* Which `xsks` slots hold an AF_XDP socket, read by running the probe program once. */
int agent_probe_xsks(int xsks_fd, __u64 *present, struct err *e);

#endif
