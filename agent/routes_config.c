/*
 * routes_config.c — the `[routes]` section of sluice's INI config file, for `load --config FILE`.
 *
 * The server reads the same file and ignores this section; the agent reads only this section and
 * ignores the others. The whole file is checked before anything is written, so a mistake changes
 * nothing; every error names FILE:LINE. Line format (one route a line):
 *
 *     [routes]
 *     path /heavy = 1          # kind, prefix, '=', a worker
 *     path /api   = 0,1        # or a group: hashed over its live workers
 *     sni example.com = 0
 *     path default = 0         # `default` is the kind's empty prefix (matches everything else)
 *
 * KIND is path or sni; PREFIX as `route add --prefix` takes it (a path starts with '/', an SNI is a
 * host name, printable ASCII without spaces, at most 63 bytes). Comments start with '#' or ';' at
 * the start of a line or after a space; lines are at most 198 bytes, as the server's INI reader.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

#define ROUTES_CONFIG_LINE_MAX 198
#define ROUTES_CONFIG_MAX      (SLUICE_MAX_ROUTES / 2) /* a path route takes two entries */

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Cut a comment: '#' or ';' at the start or after whitespace. */
static void cut_comment(char *s)
{
    for (char *p = s; *p; p++) {
        if ((*p == '#' || *p == ';') && (p == s || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            return;
        }
    }
}

static int line_error(struct err *e, const char *path, int line, const struct err *why)
{
    return ERR(e, EXIT_STATUS_USAGE, 0, "%s:%d: %s", path, line, why->msg);
}

static int parse_route(char *text, const char *path, int line, struct route_key *key, __u64 *workers,
                       struct err *e)
{
    char *eq = strchr(text, '='), *kind, *prefix, *rest, *list, *w;
    struct err why = {0};

    if (!eq)
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s:%d: expected 'KIND PREFIX = WORKER[,WORKER...]', got '%s'",
                   path, line, text);
    *eq = '\0';
    kind = strtok_r(text, " \t", &rest);
    prefix = kind ? strtok_r(NULL, " \t", &rest) : NULL;
    if (!kind || !prefix || strtok_r(NULL, " \t", &rest))
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s:%d: expected 'KIND PREFIX' before '=' (e.g. 'path /api = 1')",
                   path, line);
    if (strcmp(kind, "path") && strcmp(kind, "sni"))
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s:%d: bad kind '%s': expected path or sni", path, line, kind);
    if (route_build_key(kind, strcmp(prefix, "default") ? prefix : "", key, &why))
        return line_error(e, path, line, &why);
    /* "0, 1" reads as "0,1": spaces inside the list are dropped */
    list = trim(eq + 1);
    for (w = list; *list; list++)
        if (!isspace((unsigned char)*list))
            *w++ = *list;
    *w = '\0';
    list = trim(eq + 1);
    if (!*list)
        return ERR(e, EXIT_STATUS_USAGE, 0, "%s:%d: no worker after '=' (e.g. 'path /api = 1' or '= 0,1')",
                   path, line);
    if (route_parse_workers(list, "workers", workers, &why))
        return line_error(e, path, line, &why);
    return 0;
}

int routes_config_read(const char *path, struct routes_config *rc, struct err *e)
{
    char buf[ROUTES_CONFIG_LINE_MAX + 3], section[64] = "";
    int line = 0, *lines = NULL, ret = -1;
    FILE *f = fopen(path, "r");

    memset(rc, 0, sizeof(*rc));
    if (!f)
        return ERR(e, errno == ENOENT ? EXIT_STATUS_USAGE : EXIT_STATUS_FAILURE, errno, "cannot open %s",
                   path);
    rc->keys = calloc(ROUTES_CONFIG_MAX, sizeof(*rc->keys));
    rc->workers = calloc(ROUTES_CONFIG_MAX, sizeof(*rc->workers));
    lines = calloc(ROUTES_CONFIG_MAX, sizeof(*lines));
    if (!rc->keys || !rc->workers || !lines) {
        ERR(e, EXIT_STATUS_FAILURE, ENOMEM, "reading %s", path);
        goto out;
    }
    while (fgets(buf, sizeof(buf), f)) {
        size_t len = strlen(buf);
        char *text;

        line++;
        if (len && buf[len - 1] == '\n')
            buf[--len] = '\0';
        else if (!feof(f)) {
            ERR(e, EXIT_STATUS_USAGE, 0, "%s:%d: line longer than %d bytes", path, line,
                ROUTES_CONFIG_LINE_MAX);
            goto out;
        }
        if (len && buf[len - 1] == '\r')
            buf[--len] = '\0';
        if (len > ROUTES_CONFIG_LINE_MAX) {
            ERR(e, EXIT_STATUS_USAGE, 0, "%s:%d: line longer than %d bytes", path, line,
                ROUTES_CONFIG_LINE_MAX);
            goto out;
        }
        cut_comment(buf);
        text = trim(buf);
        if (!*text)
            continue;
        if (*text == '[') {
            char *close = strchr(text, ']');

            if (!close || close[1]) {
                ERR(e, EXIT_STATUS_USAGE, 0, "%s:%d: bad section header '%s'", path, line, text);
                goto out;
            }
            *close = '\0';
            snprintf(section, sizeof(section), "%s", trim(text + 1));
            continue;
        }
        if (strcmp(section, "routes"))
            continue; /* the server's sections: its own reader checks them */
        if (rc->count == ROUTES_CONFIG_MAX) {
            ERR(e, EXIT_STATUS_USAGE, 0, "%s:%d: more than %d routes", path, line, ROUTES_CONFIG_MAX);
            goto out;
        }
        if (parse_route(text, path, line, &rc->keys[rc->count], &rc->workers[rc->count], e))
            goto out;
        for (size_t i = 0; i < rc->count; i++) {
            if (!memcmp(&rc->keys[i], &rc->keys[rc->count], sizeof(rc->keys[i]))) {
                ERR(e, EXIT_STATUS_USAGE, 0, "%s:%d: %s route '%s' given twice (first on line %d)", path,
                    line, rc->keys[i].kind == ROUTE_SNI ? "sni" : "path",
                    rc->keys[i].prefix[0] ? rc->keys[i].prefix : "default", lines[i]);
                goto out;
            }
        }
        lines[rc->count++] = line;
    }
    if (ferror(f)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot read %s", path);
        goto out;
    }
    ret = 0;
out:
    free(lines);
    fclose(f);
    if (ret)
        routes_config_free(rc);
    return ret;
}

void routes_config_free(struct routes_config *rc)
{
    free(rc->keys);
    free(rc->workers);
    memset(rc, 0, sizeof(*rc));
}
