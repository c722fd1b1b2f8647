/*
 * config.h — sluice-server's settings: the config file (INI, sections [server] [xdp] [tcp] [http]
 * [services]) and the command-line options that override it, both read through one table of
 * settings in config.c, which is also where each setting's limits and help text live.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdio.h>

#include "common/err.h"
#include "sched/worker.h"

/* Defaults, then --config FILE if given, then every other option; checks the combination. */
int config_load(int argc, char **argv, struct server_config *cfg, struct err *e);

/* --help: the options, generated from the settings table. */
void config_print_usage(FILE *out);

/* --settings: every config file key with its section, range and default, one a line (the README
 * documents each; tests/server/config_test.sh checks that it does). */
void config_print_settings(FILE *out);

#endif
