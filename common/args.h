/*
 * args.h — command-line parsing that turns every bad argument into one struct err, shared by
 * sluice-agent and sluice-server so both reject input the same way.
 */
#ifndef SLUICE_ARGS_H
#define SLUICE_ARGS_H

#include <getopt.h>
#include <stdint.h>

#include "common/err.h"

/*
 * getopt_long with errors as values: returns the option's value, -1 when options end (and fails
 * if a positional argument is left), or '?' with e set for an unknown option or a missing value.
 * Options whose val is a lowercase letter or 'h' also work in their short form. cmd names the
 * command in messages ("route add").
 */
int args_getopt(int argc, char **argv, const struct option *opts, const char *cmd, struct err *e);

/* A decimal number in [min, max]; what names the value in the error. */
int args_u32(const char *text, const char *what, uint32_t min, uint32_t max, uint32_t *out, struct err *e);

#endif
