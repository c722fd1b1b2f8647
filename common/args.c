/*
 * args.c — see args.h.
 */
#include "common/args.h"

#include <errno.h>
#include <stdlib.h>

int args_getopt(int argc, char **argv, const struct option *opts, const char *cmd, struct err *e)
{
    char shortopts[64] = ":";
    size_t n = 1;
    int c;

    for (const struct option *o = opts; o->name && n + 2 < sizeof(shortopts); o++) {
        if (o->val == 'h' || (o->val >= 'a' && o->val <= 'z')) {
            shortopts[n++] = (char)o->val;
            if (o->has_arg == required_argument)
                shortopts[n++] = ':';
        }
    }
    shortopts[n] = '\0';
    opterr = 0;
    c = getopt_long(argc, argv, shortopts, opts, NULL);
    if (c == '?')
        ERR(e, EXIT_STATUS_USAGE, 0, "unknown option '%s' for `%s` (see --help)", argv[optind - 1], cmd);
    else if (c == ':')
        ERR(e, EXIT_STATUS_USAGE, 0, "option '%s' of `%s` needs a value", argv[optind - 1], cmd);
    else if (c == -1 && optind < argc)
        ERR(e, EXIT_STATUS_USAGE, 0, "unexpected argument '%s' for `%s`", argv[optind], cmd);
    else
        return c;
    return '?';
}

int args_u32(const char *text, const char *what, uint32_t min, uint32_t max, uint32_t *out, struct err *e)
{
    unsigned long v;
    char *end;

    errno = 0;
    v = strtoul(text, &end, 10);
    if (!*text || *end || errno || text[0] == '-' || v < min || v > max)
        return ERR(e, EXIT_STATUS_USAGE, 0, "bad %s '%s': expected a number from %u to %u", what, text, min,
                   max);
    *out = (uint32_t)v;
    return 0;
}
