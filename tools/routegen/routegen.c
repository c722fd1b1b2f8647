/*
 * routegen.c — sluice-routegen: compiles a routes file into the C router of include/sluice/router.h.
 *
 *   sluice-routegen [--name NAME] ROUTES_FILE OUTPUT.c
 *
 * The output defines one `const struct router NAME` (app_router by default), everything else in it
 * static, so that an app's router and the ones a benchmark links side by side never collide.
 * It runs at build time (a Makefile rule turns X.routes into $(BUILD)/gen/X.routes.c); its output is
 * never committed, and tests/router/routegen_test.sh pins it with golden files.
 *
 * Routes file: one route a line, fields separated by spaces or tabs, '#' starts a comment, blank
 * lines are ignored, at most ROUTES_MAX_LINE bytes a line.
 *
 *     METHODS PATH HANDLER [MIDDLEWARE,MIDDLEWARE,...]
 *
 *   METHODS     GET HEAD POST PUT DELETE PATCH OPTIONS joined by ',' (each at most once), or '*'
 *               alone for all seven.
 *   PATH        starts with '/'; segments are separated by '/'. A whole segment ':name' captures
 *               one non-empty segment; a last segment '*name' captures the rest of the path
 *               (possibly empty, '/' included). Any other byte is literal: printable ASCII except
 *               space, '#' (a comment) and '?' (query strings are stripped before routing).
 *               At most ROUTER_MAX_PARAMS captures, each name at most once.
 *   HANDLER     [a-z_][a-z0-9_]*, called as handler_NAME(req).
 *   MIDDLEWARE  the same, called as middleware_NAME(req) in order while they return HANDLER_NEXT.
 *               The name `offload` is reserved: what follows it in the chain (the middlewares after it
 *               and the handler) runs on the offload pool, never on a worker: the router's dispatch
 *               calls router_offload(route, req) there, and the pool's thread later calls its
 *               dispatch_offloaded(route, req) to run the rest. At most once per route.
 *
 * Matching: at each segment a literal beats ':param' beats '*wildcard', with backtracking (with
 * "/user/new" and "/user/:id/edit", "/user/new/edit" is the param route). The first pattern in that
 * order with a route for the request's method wins; HEAD uses the pattern's GET route when it has
 * no HEAD route. A path matched by some pattern but for other methods is 405 with the methods that
 * would match; otherwise 404. A trailing slash is significant.
 *
 * Checks: unknown or repeated method, empty method list, path not starting with '/', bad bytes,
 * empty or bad capture name, '*' not last, a name captured twice, too many captures, bad handler
 * or middleware name, missing or extra fields, too long a line, the same method and pattern on two
 * lines, and two captures at the same place with different names (they would be the same pattern).
 * Every problem is reported as "FILE:LINE: problem"; then nothing is written (exit status 2).
 *
 * The output is a byte trie written as code: one function per node where the routes branch, which
 * switches on the next byte, compares runs of literal bytes with memcmp, cuts ':param' at the next
 * '/' and ends in a switch on the method. Each function is entered at most once per lookup, so a
 * lookup costs the path's length, whatever the number of routes. Same input, same bytes out.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "sluice/router.h"

#define PROG            "sluice-routegen"
#define ROUTES_MAX_LINE 4096 /* bytes, newline excluded */
#define ALL_METHODS     ((1u << METHOD_COUNT) - 1)
#define NO_ROUTE        (-1)

static const char usage[] =
    "usage: " PROG " [--name NAME] ROUTES_FILE OUTPUT.c\n"
    "\n"
    "Compiles a routes file into C implementing <sluice/router.h> (include/sluice/router.h here):\n"
    "one `const struct router NAME` (default app_router) whose match walks a byte trie\n"
    "written as code, no loop over routes, and whose dispatch calls each route's middlewares, then\n"
    "its handler, as direct calls; the route count and names for logs and metrics. An app passes\n"
    "&NAME to sluice_main. OUTPUT.c is written (through a temporary file renamed into place) only\n"
    "when the whole routes file is valid.\n"
    "\n"
    "routes file: one route a line, fields separated by spaces or tabs, '#' starts a comment:\n"
    "  METHODS PATH HANDLER [MIDDLEWARE,MIDDLEWARE,...]\n"
    "  METHODS     GET HEAD POST PUT DELETE PATCH OPTIONS joined by ',', or * for all of them\n"
    "  PATH        /literal/:param/*rest  ':name' is a whole segment and captures one non-empty\n"
    "              segment; '*name' is the last segment and captures the rest (possibly empty);\n"
    "              other bytes are literal: printable ASCII but space, '#' and '?'; at most 8\n"
    "              captures\n"
    "  HANDLER     [a-z_][a-z0-9_]*, called as handler_NAME(req)\n"
    "  MIDDLEWARE  [a-z_][a-z0-9_]*, called as middleware_NAME(req), in order, while each returns\n"
    "              HANDLER_NEXT; 'offload' (at most once) runs the rest of the chain on the offload\n"
    "              pool (router_offload, then the router's dispatch_offloaded from a pool thread)\n"
    "At each segment a literal beats :param beats *wildcard, with backtracking; the first pattern\n"
    "with a route for the method wins, HEAD using GET's when the pattern has no HEAD route. A\n"
    "trailing slash is significant. Lines are at most 4096 bytes.\n"
    "\n"
    "exit status: 0 ok, 1 cannot read or write a file, 2 bad usage or bad routes file (each problem\n"
    "             is printed as FILE:LINE: problem)\n";

/* A problem with one line of the routes file: "FILE:LINE: problem", exit status 2. */
#define LINE_ERR(e, g, line, fmt, ...)                                                                       \
    ERR((e), EXIT_STATUS_USAGE, 0, "%s:%d: " fmt, (g)->routes_path, (line), ##__VA_ARGS__)

struct route {
    int line;
    uint32_t methods; /* bit (1 << enum method) */
    char *pattern;
    char *handler;
    char **middlewares;
    int nmiddlewares;
    int offload_at; /* index of `offload` in middlewares, -1 without */
};

struct trie_node;

struct trie_edge {
    unsigned char byte;
    struct trie_node *to;
};

/*
 * A prefix of one or more patterns. Literal edges consume one byte; the param and wildcard edges
 * capture, and leave only nodes whose prefix ends with '/'. A wildcard edge always ends at a leaf.
 */
struct trie_node {
    struct trie_edge *edges; /* sorted by byte, so that the output does not depend on route order */
    int nedges;
    struct trie_node *param;
    char *param_name;
    int param_line; /* the line that declared it, named when another line conflicts */
    struct trie_node *wildcard;
    char *wildcard_name;
    int wildcard_line;
    int route[METHOD_COUNT]; /* the route ending here for each method, or NO_ROUTE */
    int nparams;             /* captures made on the way here */
    int function;            /* number of the generated function starting here, or -1 */
};

struct routegen {
    const char *routes_path;
    const char *name; /* of the generated struct router */
    struct route *routes;
    int nroutes;
    struct trie_node *root;
    struct trie_node **nodes; /* all of them, to free */
    int nnodes;
    struct trie_node **functions; /* nodes that start a generated function, in output order */
    char **function_prefixes;     /* the pattern text matched before each one */
    int nfunctions;
    bool has_params;
};

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1); /* realloc(p, 0) may free p and return NULL */
    if (!p) {
        fprintf(stderr, PROG ": error: out of memory\n");
        exit(EXIT_STATUS_FAILURE);
    }
    return p;
}

static char *xstrndup(const char *s, size_t len)
{
    char *copy = xrealloc(NULL, len + 1);

    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

/* ---- the trie ---------------------------------------------------------------------------------- */

static struct trie_node *node_new(struct routegen *g, int nparams)
{
    struct trie_node *node = xrealloc(NULL, sizeof(*node));

    memset(node, 0, sizeof(*node));
    for (int m = 0; m < METHOD_COUNT; m++)
        node->route[m] = NO_ROUTE;
    node->nparams = nparams;
    node->function = -1;
    g->nodes = xrealloc(g->nodes, (g->nnodes + 1) * sizeof(*g->nodes));
    g->nodes[g->nnodes++] = node;
    return node;
}

static struct trie_node *node_literal_child(struct routegen *g, struct trie_node *node, unsigned char byte)
{
    int i = 0;

    while (i < node->nedges && node->edges[i].byte < byte)
        i++;
    if (i < node->nedges && node->edges[i].byte == byte)
        return node->edges[i].to;
    node->edges = xrealloc(node->edges, (node->nedges + 1) * sizeof(*node->edges));
    memmove(&node->edges[i + 1], &node->edges[i], (node->nedges - i) * sizeof(*node->edges));
    node->edges[i].byte = byte;
    node->edges[i].to = node_new(g, node->nparams);
    node->nedges++;
    return node->edges[i].to;
}

static bool node_has_routes(const struct trie_node *node)
{
    for (int m = 0; m < METHOD_COUNT; m++)
        if (node->route[m] != NO_ROUTE)
            return true;
    return false;
}

/*
 * Follows a literal edge through the nodes that neither branch, capture nor end a route, so that
 * the output compares a run of bytes at once. Fills run (NUL-terminated) and returns where it ends.
 */
static struct trie_node *literal_run(const struct trie_edge *edge, char *run, size_t *len)
{
    struct trie_node *node = edge->to;

    *len = 0;
    run[(*len)++] = (char)edge->byte;
    while (node->nedges == 1 && !node->param && !node->wildcard && !node_has_routes(node)) {
        run[(*len)++] = (char)node->edges[0].byte;
        node = node->edges[0].to;
    }
    run[*len] = '\0';
    return node;
}

/* ---- parsing ----------------------------------------------------------------------------------- */

static bool is_identifier(const char *s, size_t len)
{
    if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static int parse_methods(struct routegen *g, int line, const char *field, uint32_t *methods, struct err *e)
{
    *methods = 0;
    if (strcmp(field, "*") == 0) {
        *methods = ALL_METHODS;
        return 0;
    }
    if (field[strspn(field, ",")] == '\0')
        return LINE_ERR(e, g, line, "empty method list");
    for (const char *item = field;;) {
        size_t len = strcspn(item, ",");
        enum method m = method_parse(item, len);

        if (len == 0)
            return LINE_ERR(e, g, line, "empty method name in '%s'", field);
        if (len == 1 && item[0] == '*')
            return LINE_ERR(e, g, line, "'*' stands for every method and cannot be listed with others");
        if (m == METHOD_OTHER)
            return LINE_ERR(
                e, g, line,
                "unknown method '%.*s' (expected GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS or *)",
                (int)len, item);
        if (*methods & (1u << m))
            return LINE_ERR(e, g, line, "method %s listed twice", method_name(m));
        *methods |= 1u << m;
        if (item[len] == '\0')
            return 0;
        item += len + 1;
    }
}

/* Everything that makes a pattern bad on its own; what makes it clash with others is found on insertion. */
static int check_path(struct routegen *g, int line, const char *path, struct err *e)
{
    const char *names[ROUTER_MAX_PARAMS];
    size_t name_lens[ROUTER_MAX_PARAMS];
    int ncaptures = 0;

    if (path[0] != '/')
        return LINE_ERR(e, g, line, "path '%s' does not start with '/'", path);
    if (strchr(path, '?'))
        return LINE_ERR(e, g, line, "'?' in path '%s': query strings are stripped before routing", path);
    for (const char *seg = path + 1;; seg++) {
        size_t len = strcspn(seg, "/");
        const char *kind = seg[0] == ':' ? "parameter" : "wildcard";

        if (len > 0 && (seg[0] == ':' || seg[0] == '*')) {
            if (len == 1)
                return LINE_ERR(e, g, line, "%s '%c' has no name", kind, seg[0]);
            if (!is_identifier(seg + 1, len - 1))
                return LINE_ERR(e, g, line, "bad %s name '%.*s' (expected [a-z_][a-z0-9_]*)", kind, (int)len,
                                seg);
            if (seg[0] == '*' && seg[len] != '\0')
                return LINE_ERR(e, g, line, "wildcard '%.*s' is not the last segment", (int)len, seg);
            if (ncaptures < ROUTER_MAX_PARAMS) {
                for (int i = 0; i < ncaptures; i++)
                    if (name_lens[i] == len - 1 && memcmp(names[i], seg + 1, len - 1) == 0)
                        return LINE_ERR(e, g, line, "name '%.*s' is captured twice", (int)len - 1, seg + 1);
                names[ncaptures] = seg + 1;
                name_lens[ncaptures] = len - 1;
            }
            ncaptures++;
        }
        seg += len;
        if (*seg == '\0')
            break;
    }
    if (ncaptures > ROUTER_MAX_PARAMS)
        return LINE_ERR(e, g, line, "too many captures: %d (at most %d)", ncaptures, ROUTER_MAX_PARAMS);
    return 0;
}

static int parse_middlewares(struct routegen *g, int line, const char *field, struct route *r, struct err *e)
{
    for (const char *item = field;;) {
        size_t len = strcspn(item, ",");

        if (len == 0)
            return LINE_ERR(e, g, line, "empty middleware name in '%s'", field);
        if (!is_identifier(item, len))
            return LINE_ERR(e, g, line, "bad middleware name '%.*s' (expected [a-z_][a-z0-9_]*)", (int)len,
                            item);
        if (len == 7 && !memcmp(item, "offload", 7)) {
            if (r->offload_at >= 0)
                return LINE_ERR(e, g, line, "offload twice in '%s'", field);
            r->offload_at = r->nmiddlewares;
        }
        r->middlewares = xrealloc(r->middlewares, (r->nmiddlewares + 1) * sizeof(*r->middlewares));
        r->middlewares[r->nmiddlewares++] = xstrndup(item, len);
        if (item[len] == '\0')
            return 0;
        item += len + 1;
    }
}

static void route_free(struct route *r)
{
    free(r->pattern);
    free(r->handler);
    for (int i = 0; i < r->nmiddlewares; i++)
        free(r->middlewares[i]);
    free(r->middlewares);
}

/* Same capture edge, different names: the patterns are one and the same, named two ways. */
static int capture_edge(struct routegen *g, const struct route *r, struct trie_node *node, const char *seg,
                        size_t len, struct trie_node **next, struct err *e)
{
    bool is_param = seg[0] == ':';
    struct trie_node **child = is_param ? &node->param : &node->wildcard;
    char **name = is_param ? &node->param_name : &node->wildcard_name;
    int *declared_on = is_param ? &node->param_line : &node->wildcard_line;

    if (*child && (strlen(*name) != len - 1 || memcmp(*name, seg + 1, len - 1) != 0))
        return LINE_ERR(e, g, r->line,
                        "%s '%.*s' conflicts with '%c%s' on line %d (same position, another name)",
                        is_param ? "parameter" : "wildcard", (int)len, seg, seg[0], *name, *declared_on);
    if (!*child) {
        *child = node_new(g, node->nparams + 1);
        *name = xstrndup(seg + 1, len - 1);
        *declared_on = r->line;
        g->has_params |= is_param;
    }
    *next = *child;
    return 0;
}

static int insert_route(struct routegen *g, int index, struct err *e)
{
    const struct route *r = &g->routes[index];
    struct trie_node *node = g->root;

    for (const char *p = r->pattern; *p;) {
        if (p != r->pattern && p[-1] == '/' && (*p == ':' || *p == '*')) {
            size_t len = strcspn(p, "/");

            if (capture_edge(g, r, node, p, len, &node, e) < 0)
                return -1;
            p += len;
        } else {
            node = node_literal_child(g, node, (unsigned char)*p++);
        }
    }
    for (int m = 0; m < METHOD_COUNT; m++)
        if ((r->methods & (1u << m)) && node->route[m] != NO_ROUTE)
            return LINE_ERR(e, g, r->line, "duplicate route: %s %s is already routed on line %d",
                            method_name(m), r->pattern, g->routes[node->route[m]].line);
    for (int m = 0; m < METHOD_COUNT; m++)
        if (r->methods & (1u << m))
            node->route[m] = index;
    return 0;
}

static int parse_line(struct routegen *g, int line, char *text, size_t len, struct err *e)
{
    char *fields[4];
    int nfields = 0;
    struct route r = {.line = line, .offload_at = -1};
    char *comment = memchr(text, '#', len);

    if (comment)
        len = (size_t)(comment - text);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c != ' ' && c != '\t' && (c < 0x21 || c > 0x7e))
            return LINE_ERR(e, g, line, "bad byte 0x%02x in column %zu (printable ASCII only)", c, i + 1);
    }
    text[len] = '\0';
    for (char *p = text + strspn(text, " \t"); *p; p += strspn(p, " \t")) {
        size_t flen = strcspn(p, " \t");

        if (nfields == 4)
            return LINE_ERR(e, g, line, "unexpected field '%.*s' after the middlewares", (int)flen, p);
        fields[nfields++] = p;
        p += flen;
        if (*p)
            *p++ = '\0';
    }
    if (nfields == 0)
        return 0;
    if (nfields < 3)
        return LINE_ERR(e, g, line, "missing %s (expected METHODS PATH HANDLER [MIDDLEWARE,...])",
                        nfields == 1 ? "path and handler" : "handler");
    if (parse_methods(g, line, fields[0], &r.methods, e) < 0 || check_path(g, line, fields[1], e) < 0)
        return -1;
    if (!is_identifier(fields[2], strlen(fields[2])))
        return LINE_ERR(e, g, line, "bad handler name '%s' (expected [a-z_][a-z0-9_]*)", fields[2]);
    if (nfields == 4 && parse_middlewares(g, line, fields[3], &r, e) < 0) {
        route_free(&r);
        return -1;
    }
    r.pattern = xstrndup(fields[1], strlen(fields[1]));
    r.handler = xstrndup(fields[2], strlen(fields[2]));
    g->routes = xrealloc(g->routes, (g->nroutes + 1) * sizeof(*g->routes));
    g->routes[g->nroutes] = r;
    if (insert_route(g, g->nroutes, e) < 0) {
        route_free(&g->routes[g->nroutes]);
        return -1;
    }
    g->nroutes++;
    return 0;
}

/* Reports every bad line; returns the number of them, or -1 (e filled) when the file cannot be read. */
static int read_routes(struct routegen *g, struct err *e)
{
    FILE *in = fopen(g->routes_path, "r");
    char *text = NULL;
    size_t cap = 0;
    ssize_t got;
    int line = 0, nbad = 0;

    if (!in)
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot open '%s'", g->routes_path);
    while ((got = getline(&text, &cap, in)) >= 0) {
        size_t len = (size_t)got;
        struct err line_err;

        line++;
        if (len > 0 && text[len - 1] == '\n')
            len--;
        if (len > ROUTES_MAX_LINE)
            LINE_ERR(&line_err, g, line, "line too long: %zu bytes (at most %d)", len, ROUTES_MAX_LINE);
        else if (parse_line(g, line, text, len, &line_err) == 0)
            continue;
        fprintf(stderr, "%s\n", line_err.msg);
        nbad++;
    }
    if (ferror(in))
        nbad = ERR(e, EXIT_STATUS_FAILURE, errno, "cannot read '%s'", g->routes_path);
    free(text);
    fclose(in);
    return nbad;
}

/* ---- output ------------------------------------------------------------------------------------ */

/* Bytes of a pattern inside a C string or character literal. Patterns are printable ASCII without '?'. */
static void put_c_escaped(FILE *out, const char *s, size_t len, char quote)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' || s[i] == quote)
            fputc('\\', out);
        fputc(s[i], out);
    }
}

static void put_c_string(FILE *out, const char *s)
{
    fputc('"', out);
    put_c_escaped(out, s, strlen(s), '"');
    fputc('"', out);
}

/* "METHODS pattern"; in_string escapes the pattern for a C string literal. */
static void put_route_name(FILE *out, const struct route *r, bool in_string)
{
    if (r->methods == ALL_METHODS) {
        fputc('*', out);
    } else {
        const char *sep = "";

        for (int m = 0; m < METHOD_COUNT; m++)
            if (r->methods & (1u << m)) {
                fprintf(out, "%s%s", sep, method_name(m));
                sep = ",";
            }
    }
    fputc(' ', out);
    if (in_string)
        put_c_escaped(out, r->pattern, strlen(r->pattern), '"');
    else
        fputs(r->pattern, out);
}

/*
 * Numbers the nodes that start a function, in depth-first order, remembering the prefix of each.
 * Recursion as deep as a pattern is long: runs go straight into prefix, not into a buffer per frame.
 */
static void collect_functions(struct routegen *g, struct trie_node *node, char *prefix, size_t len)
{
    size_t run_len;

    node->function = g->nfunctions;
    g->functions = xrealloc(g->functions, (g->nfunctions + 1) * sizeof(*g->functions));
    g->function_prefixes =
        xrealloc(g->function_prefixes, (g->nfunctions + 1) * sizeof(*g->function_prefixes));
    g->functions[g->nfunctions] = node;
    g->function_prefixes[g->nfunctions++] = xstrndup(prefix, len);
    for (int i = 0; i < node->nedges; i++) {
        struct trie_node *to = literal_run(&node->edges[i], prefix + len, &run_len);

        collect_functions(g, to, prefix, len + run_len);
    }
    if (node->param) {
        size_t name_len = strlen(node->param_name);

        prefix[len] = ':';
        memcpy(prefix + len + 1, node->param_name, name_len);
        collect_functions(g, node->param, prefix, len + 1 + name_len);
    }
}

/* The end of a pattern: take its route for this method, or note its methods for a 405 and go on. */
static void emit_leaf(FILE *out, const struct trie_node *node, const char *indent)
{
    int route[METHOD_COUNT];
    const char *sep = "";

    memcpy(route, node->route, sizeof(route));
    if (route[METHOD_HEAD] == NO_ROUTE)
        route[METHOD_HEAD] = route[METHOD_GET];
    fprintf(out, "%sswitch (s->method) {\n", indent);
    for (int m = 0; m < METHOD_COUNT; m++) {
        bool first = true;

        if (route[m] == NO_ROUTE)
            continue;
        for (int other = 0; other < m && first; other++)
            first = route[other] != route[m];
        if (!first)
            continue;
        for (int same = m; same < METHOD_COUNT; same++)
            if (route[same] == route[m])
                fprintf(out, "%scase METHOD_%s:\n", indent, method_name(same));
        fprintf(out, "%s    return router_found(s, %d, %d);\n", indent, route[m], node->nparams);
    }
    fprintf(out, "%sdefault:\n%s    s->out->allow |= ", indent, indent);
    for (int m = 0; m < METHOD_COUNT; m++)
        if (route[m] != NO_ROUTE) {
            fprintf(out, "%s(1u << METHOD_%s)", sep, method_name(m));
            sep = " | ";
        }
    fprintf(out, ";\n%s    break;\n%s}\n", indent, indent);
}

/* "p[at] == 'c'" for one byte, a memcmp for more, h2o-style: the compiler turns short ones into loads. */
static void put_bytes_test(FILE *out, const char *bytes, size_t len, size_t at)
{
    if (len == 1) {
        fprintf(out, at ? "p[%zu] == '" : "*p == '", at);
        put_c_escaped(out, bytes, 1, '\'');
        fputc('\'', out);
    } else {
        fprintf(out, at ? "memcmp(p + %zu, \"" : "memcmp(p, \"", at);
        put_c_escaped(out, bytes, len, '"');
        fprintf(out, "\", %zu) == 0", len);
    }
}

/* One edge: test the whole run. Several: switch on the first byte, then test the rest of each run. */
static void emit_literals(FILE *out, const struct trie_node *node)
{
    char run[ROUTES_MAX_LINE + 1];
    size_t len;

    if (node->nedges == 0)
        return;
    if (node->nedges == 1) {
        const struct trie_node *to = literal_run(&node->edges[0], run, &len);

        if (len == 1)
            fputs("    if (p < s->end && ", out);
        else
            fprintf(out, "    if (s->end - p >= %zu && ", len);
        put_bytes_test(out, run, len, 0);
        fprintf(out, " && match_%d(s, p + %zu))\n        return true;\n", to->function, len);
        return;
    }
    fputs("    if (p < s->end) {\n        switch (*p) {\n", out);
    for (int i = 0; i < node->nedges; i++) {
        const struct trie_node *to = literal_run(&node->edges[i], run, &len);

        fputs("        case '", out);
        put_c_escaped(out, run, 1, '\'');
        if (len == 1) {
            fprintf(out, "':\n            if (match_%d(s, p + 1))\n", to->function);
        } else {
            fprintf(out, "':\n            if (s->end - p >= %zu && ", len);
            put_bytes_test(out, run + 1, len - 1, 1);
            fprintf(out, " && match_%d(s, p + %zu))\n", to->function, len);
        }
        fputs("                return true;\n            break;\n", out);
    }
    fputs("        }\n    }\n", out);
}

/* Alternatives in order of precedence: the route ending here, literal bytes, ':param', '*wildcard'. */
static void emit_function(struct routegen *g, FILE *out, int function)
{
    const struct trie_node *node = g->functions[function];
    const char *prefix = g->function_prefixes[function];

    fputs("\n// ", out);
    put_c_string(out, prefix);
    fprintf(out, "\nstatic bool match_%d(struct router_search *s, const char *p)\n{\n", function);
    if (node_has_routes(node)) {
        fputs("    if (p == s->end) {\n", out);
        emit_leaf(out, node, "        ");
        fputs("    }\n", out);
    }
    emit_literals(out, node);
    if (node->param) {
        fputs("    {\n        const char *q = router_segment_end(p, s->end);\n\n        if (q != p) {\n",
              out);
        fprintf(out, "            s->out->params[%d] = (struct router_param){", node->nparams);
        put_c_string(out, node->param_name);
        fprintf(out,
                ", p, (size_t)(q - p)};\n            if (match_%d(s, q))\n                return true;\n",
                node->param->function);
        fputs("        }\n    }\n", out);
    }
    if (node->wildcard) {
        fprintf(out, "    s->out->params[%d] = (struct router_param){", node->nparams);
        put_c_string(out, node->wildcard_name);
        fputs(", p, (size_t)(s->end - p)};\n", out);
        emit_leaf(out, node->wildcard, "    ");
    }
    fputs("    return false;\n}\n", out);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Each name once, sorted: the declarations do not move when routes are reordered. */
static void emit_declarations(struct routegen *g, FILE *out, bool middlewares)
{
    const char **names = NULL;
    int n = 0;

    for (int i = 0; i < g->nroutes; i++) {
        const struct route *r = &g->routes[i];
        int count = middlewares ? r->nmiddlewares : 1;

        names = xrealloc(names, (n + count) * sizeof(*names));
        for (int j = 0; j < count; j++)
            if (!middlewares || j != r->offload_at) /* router.h declares router_offload */
                names[n++] = middlewares ? r->middlewares[j] : r->handler;
    }
    if (n > 0)
        qsort(names, n, sizeof(*names), compare_strings);
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
            fprintf(out, "int %s_%s(struct http_request *req);\n", middlewares ? "middleware" : "handler",
                    names[i]);
    free(names);
}

static void emit_matcher(struct routegen *g, FILE *out)
{
    if (g->nroutes == 0) {
        fputs(
            "\nstatic void route_match(enum method method, const char *path, size_t len, struct router_match "
            "*out)\n"
            "{\n    (void)method;\n    (void)path;\n    (void)len;\n"
            "    out->result = ROUTER_NOT_FOUND;\n    out->route = -1;\n    out->allow = 0;\n"
            "    out->nparams = 0;\n}\n",
            out);
        return;
    }
    fputs("\n/* One lookup: the method and the end of the path never change; out collects captures and "
          "allow. */\n"
          "struct router_search {\n    enum method method;\n    const char *end;\n"
          "    struct router_match *out;\n};\n"
          "\nstatic bool router_found(struct router_search *s, int route, int nparams)\n{\n"
          "    s->out->route = route;\n    s->out->nparams = (uint16_t)nparams;\n    return true;\n}\n",
          out);
    if (g->has_params)
        fputs("\nstatic const char *router_segment_end(const char *p, const char *end)\n{\n"
              "    const char *slash = memchr(p, '/', (size_t)(end - p));\n\n"
              "    return slash ? slash : end;\n}\n",
              out);
    fputs("\n/* One function per trie node where routes branch, entered after the pattern text in its "
          "comment;\n"
          " * true when it found the route. */\n",
          out);
    for (int i = 0; i < g->nfunctions; i++)
        fprintf(out, "static bool match_%d(struct router_search *s, const char *p);\n", i);
    for (int i = 0; i < g->nfunctions; i++)
        emit_function(g, out, i);
    fputs("\nstatic void route_match(enum method method, const char *path, size_t len, struct router_match "
          "*out)\n"
          "{\n    struct router_search s = {method, path + len, out};\n\n"
          "    out->route = -1;\n    out->allow = 0;\n    out->nparams = 0;\n"
          "    if (match_0(&s, path)) {\n        out->result = ROUTER_FOUND;\n"
          "        out->allow = 0; /* the search stopped at the first route: what it saw is not all */\n"
          "    } else {\n        out->result = out->allow ? ROUTER_METHOD_NOT_ALLOWED : ROUTER_NOT_FOUND;\n"
          "    }\n}\n",
          out);
}

/* Middlewares [from, to) of r as calls that return unless they let the chain go on. */
static void emit_middlewares(FILE *out, const struct route *r, int from, int to)
{
    for (int j = from; j < to; j++)
        fprintf(out, "        if ((ret = middleware_%s(req)) != HANDLER_NEXT)\n            return ret;\n",
                r->middlewares[j]);
}

/*
 * router_dispatch runs each route's chain up to `offload` (all of it without); router_dispatch_offloaded
 * runs the rest of an offloaded route's chain, on a pool thread. Routes not in a function's part are
 * -1 there, as an unknown route is.
 */
static void emit_dispatch_function(struct routegen *g, FILE *out, bool offloaded)
{
    bool any_call = false, any_case = false;

    for (int i = 0; i < g->nroutes; i++) {
        const struct route *r = &g->routes[i];
        int from = offloaded ? r->offload_at + 1 : 0,
            to = r->offload_at >= 0 && !offloaded ? r->offload_at : r->nmiddlewares;

        if (offloaded && r->offload_at < 0)
            continue;
        any_case = true;
        any_call |= to > from;
    }
    fprintf(out, "\nstatic int route_dispatch%s(int route, struct http_request *req)\n{\n",
            offloaded ? "_offloaded" : "");
    fputs(any_call ? "    int ret;\n\n" : !any_case ? "    (void)req;\n" : "", out);
    fputs("    switch (route) {\n", out);
    for (int i = 0; i < g->nroutes; i++) {
        const struct route *r = &g->routes[i];

        if (offloaded && r->offload_at < 0)
            continue;
        fprintf(out, "    case %d: // ", i);
        put_route_name(out, r, false); /* the line number keeps a final '\\' from joining lines */
        fprintf(out, " (line %d)\n", r->line);
        if (offloaded) {
            emit_middlewares(out, r, r->offload_at + 1, r->nmiddlewares);
        } else if (r->offload_at >= 0) {
            emit_middlewares(out, r, 0, r->offload_at);
            fprintf(out, "        return router_offload(%d, req);\n", i);
            continue;
        } else {
            emit_middlewares(out, r, 0, r->nmiddlewares);
        }
        fprintf(out, "        return handler_%s(req);\n", r->handler);
    }
    fputs("    default:\n        return -1;\n    }\n}\n", out);
}

static void emit_dispatch(struct routegen *g, FILE *out)
{
    emit_dispatch_function(g, out, false);
    emit_dispatch_function(g, out, true);
}

/* The routes file's name in the first comment, unable to end it early. */
static void put_comment_safe(FILE *out, const char *s)
{
    for (; *s; s++)
        fputc(*s == '*' || (unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e ? '_' : *s, out);
}

static void emit(struct routegen *g, FILE *out)
{
    fputs("/* DO NOT EDIT: generated by " PROG " from ", out);
    put_comment_safe(out, g->routes_path);
    fprintf(
        out,
        " */\n"
        "/*\n"
        " * The router for %d route%s (include/sluice/router.h): match walks a byte trie written as code,\n"
        " * dispatch calls a route's middlewares and handler.\n"
        " */\n"
        "#include <stdbool.h>\n#include <stdint.h>\n#include <string.h>\n\n#include \"sluice/router.h\"\n",
        g->nroutes, g->nroutes == 1 ? "" : "s");
    if (g->nroutes > 0) {
        fputs("\n/* Defined by the server. */\n", out);
        emit_declarations(g, out, false);
        emit_declarations(g, out, true);
    }
    emit_matcher(g, out);
    emit_dispatch(g, out);
    fputs("\nstatic const char *const route_names[] = {\n", out);
    for (int i = 0; i < g->nroutes; i++) {
        fputs("    \"", out);
        put_route_name(out, &g->routes[i], true);
        fputs("\",\n", out);
    }
    fputs("    NULL,\n};\n", out);
    fputs("\nstatic const unsigned char route_offloaded[] = {", out);
    for (int i = 0; i < g->nroutes; i++)
        fprintf(out, "%s%d", i ? ", " : "", g->routes[i].offload_at >= 0);
    fputs(g->nroutes ? "};\n" : "0};\n", out);
    fprintf(out,
            "\nconst struct router %s = {\n"
            "    .match = route_match,\n"
            "    .dispatch = route_dispatch,\n"
            "    .dispatch_offloaded = route_dispatch_offloaded,\n"
            "    .route_count = %d,\n"
            "    .route_names = route_names,\n"
            "    .route_offloaded = route_offloaded,\n"
            "};\n",
            g->name, g->nroutes);
}

/* Through a temporary file beside the output, renamed into place: a failed run leaves nothing. */
static int write_output(struct routegen *g, const char *path, struct err *e)
{
    size_t len = strlen(path);
    char *tmp = xrealloc(NULL, len + sizeof(".XXXXXX"));
    mode_t mask = umask(0);
    FILE *out = NULL;
    int fd, ret = -1;

    umask(mask);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".XXXXXX", sizeof(".XXXXXX"));
    fd = mkstemp(tmp);
    if (fd < 0) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot create a temporary file beside '%s'", path);
        goto Exit;
    }
    if (fchmod(fd, 0666 & ~mask) < 0 || !(out = fdopen(fd, "w"))) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot write '%s'", tmp);
        close(fd);
        goto Unlink;
    }
    emit(g, out);
    if (fflush(out) != 0 || ferror(out)) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot write '%s'", tmp);
        fclose(out);
        goto Unlink;
    }
    if (fclose(out) != 0) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot write '%s'", tmp);
        goto Unlink;
    }
    if (rename(tmp, path) < 0) {
        ERR(e, EXIT_STATUS_FAILURE, errno, "cannot rename '%s' to '%s'", tmp, path);
        goto Unlink;
    }
    ret = 0;
    goto Exit;
Unlink:
    unlink(tmp);
Exit:
    free(tmp);
    return ret;
}

static void routegen_free(struct routegen *g)
{
    for (int i = 0; i < g->nroutes; i++)
        route_free(&g->routes[i]);
    free(g->routes);
    for (int i = 0; i < g->nnodes; i++) {
        free(g->nodes[i]->edges);
        free(g->nodes[i]->param_name);
        free(g->nodes[i]->wildcard_name);
        free(g->nodes[i]);
    }
    free(g->nodes);
    for (int i = 0; i < g->nfunctions; i++)
        free(g->function_prefixes[i]);
    free(g->function_prefixes);
    free(g->functions);
}

int main(int argc, char **argv)
{
    struct routegen g = {0};
    struct err e = {0};
    char prefix[ROUTES_MAX_LINE + 1];
    int nbad, status = EXIT_STATUS_OK;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return EXIT_STATUS_OK;
    }
    g.name = "app_router";
    if (argc >= 3 && strcmp(argv[1], "--name") == 0) {
        /* the generated file's own static names start with route_, router_ or match_ */
        if (!is_identifier(argv[2], strlen(argv[2])) || strncmp(argv[2], "route_", 6) == 0 ||
            strncmp(argv[2], "router_", 7) == 0 || strncmp(argv[2], "match_", 6) == 0) {
            fprintf(stderr,
                    PROG ": error: --name '%s': expected [a-z_][a-z0-9_]* not starting with route_, router_ "
                         "or match_\n",
                    argv[2]);
            return EXIT_STATUS_USAGE;
        }
        g.name = argv[2];
        argv += 2;
        argc -= 2;
    }
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-') {
            fprintf(stderr, PROG ": error: unknown option '%s'\n%s", argv[i], usage);
            return EXIT_STATUS_USAGE;
        }
    if (argc != 3) {
        fputs(usage, stderr);
        return EXIT_STATUS_USAGE;
    }
    g.routes_path = argv[1];
    g.root = node_new(&g, 0);
    nbad = read_routes(&g, &e);
    if (nbad < 0) {
        status = e.status;
        err_print(stderr, PROG, &e);
    } else if (nbad > 0) {
        status = EXIT_STATUS_USAGE;
    } else {
        if (g.nroutes > 0)
            collect_functions(&g, g.root, prefix, 0);
        if (write_output(&g, argv[2], &e) < 0) {
            status = e.status;
            err_print(stderr, PROG, &e);
        }
    }
    routegen_free(&g);
    return status;
}
