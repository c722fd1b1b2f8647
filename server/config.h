/*
 * config.h — sluice-server's settings: the config file (INI, sections [server] [xdp] [tcp] [http]
 * [tls] [log] [services]) and the command-line options that override it, both read through one table of
 * settings in config.c, which is also where each setting's limits and help text live.
 *
 * This is the one place that knows every datapath: it parses their settings beside the
 * scheduler's and picks the datapath's table (sched/datapath.h) into server.datapath, with its own
 * settings as server.datapath_cfg; the scheduler sees neither kind.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdio.h>

#include "afxdp/xdp_worker.h"
#include "common/err.h"
#include "sched/worker.h"
#include "sock/sock_worker.h"
#include "tls/tls.h"

enum config_datapath { CONFIG_DATAPATH_XDP, CONFIG_DATAPATH_SOCKET }; /* --datapath's choices, in order */

struct config {
    enum config_datapath datapath;
    struct server_config server; /* what server_start takes; datapath_cfg points into this struct */
    struct xdp_config xdp;       /* [xdp] and --dev */
    struct tls_config tls;       /* [tls], --https: its service's layer_config is set by main, once loaded */
    const char *pid_file;        /* written once ready; NULL: none */
    bool takeover;               /* take over from the server whose pid is in pid_file (takeover.h) */
};

/* Defaults, then --config FILE if given (else default_config, when not NULL), then every other option;
 * checks the combination. program names the command in messages about its arguments. */
int config_load(int argc, char **argv, const char *program, const char *default_config, struct config *cfg,
                struct err *e);

/* --help: the options, generated from the settings table. */
void config_print_usage(FILE *out, const char *program);

/* --settings: every config file key with its section, range and default, one a line (the README
 * documents each; tests/server/config_test.sh checks that it does). */
void config_print_settings(FILE *out);

#endif
