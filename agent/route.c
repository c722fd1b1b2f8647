/*
 * route.c — `route add|del|list`: the stream-prefix routes in the `routes` LPM trie.
 *
 * A route maps a kind (path or sni) and a prefix of the connection's first bytes to a worker or a
 * group of workers. A path route is two entries: its text (ROUTE_PATH) and the HPACK Huffman code of
 * that text (ROUTE_PATH_HUFFMAN, same id, workers and text), because XDP matches a Huffman-coded
 * :path as coded bits (maps/sluice_maps.h); add and del always write both, list shows one line.
 * `--bpftool` prints the exact `bpftool map update|delete pinned ...` lines that make the same
 * change, so routes can be changed live with bpftool alone; it changes nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <bpf/bpf.h>

#include "agent/agent.h"
#include "common/hpack_huffman.h"

#define ROUTE_TEXT_MAX (SLUICE_ROUTE_PREFIX_MAX - 1) /* a NUL always fits, so bpftool prints text */

static const char route_help[] =
    "usage: sluice-agent route add  --dev DEVICE --prefix PREFIX [--kind path|sni]\n"
    "                               (--worker N | --group N,N,...) [--id ID] [--bpftool]\n"
    "       sluice-agent route del  --dev DEVICE --prefix PREFIX [--kind path|sni] [--bpftool]\n"
    "       sluice-agent route list --dev DEVICE\n"
    "\n"
    "Routes steer a connection by its first bytes: kind path matches the HTTP/2 :path (raw or\n"
    "Huffman-coded) or the HTTP/1.1 request-target, kind sni the TLS server name. The longest matching\n"
    "prefix wins; PREFIX '' is the kind's default route. A path prefix starts with '/', an SNI prefix\n"
    "is a host name; both are printable ASCII without spaces, at most 63 bytes. A path route is\n"
    "stored twice, as text and as its HPACK Huffman code (same id); add and del change both.\n"
    "New connections follow a change at once; existing ones stay where they are.\n"
    "  --worker N     send matching connections to worker N (0-63) of the server that owns them\n"
    "                 (its slot in `workers`: N plus its generation's first slot)\n"
    "  --group LIST   hash matching connections over the live workers of LIST\n"
    "  --id ID        route id for counters, 1-4095 (default: the route's own when it exists,\n"
    "                 else one more than the largest in use)\n"
    "  --bpftool      print the bpftool commands that make this change (two for a path route: text\n"
    "                 and Huffman keys), and change nothing\n"
    "list shows each route once with CONNS, the connections it decided, and HANDOFFS, those of them\n"
    "that had to move to another worker.\n"
    "exit status: 0 done, 2 bad option, prefix or target, 3 not root, 6 not loaded or route missing\n";

struct route_args {
    const char *dev;
    const char *prefix;
    const char *kind;
    const char *worker;
    const char *group;
    const char *id;
    bool bpftool;
};

/* 0, or -1 with e filled, or 'h' at --help (before --dev is required): the caller prints its help */
static int parse_args(int argc, char **argv, const char *cmd, struct route_args *a, struct err *e)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'},
        {"prefix", required_argument, NULL, 'p'},
        {"kind", required_argument, NULL, 'k'},
        {"worker", required_argument, NULL, 'w'},
        {"group", required_argument, NULL, 'g'},
        {"id", required_argument, NULL, 'i'},
        {"bpftool", no_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(a, 0, sizeof(*a));
    while ((c = args_getopt(argc, argv, opts, cmd, e)) != -1) {
        switch (c) {
        case 'd':
            a->dev = optarg;
            break;
        case 'p':
            a->prefix = optarg;
            break;
        case 'k':
            a->kind = optarg;
            break;
        case 'w':
            a->worker = optarg;
            break;
        case 'g':
            a->group = optarg;
            break;
        case 'i':
            a->id = optarg;
            break;
        case 'b':
            a->bpftool = true;
            break;
        case 'h':
            return 'h';
        default:
            return -1;
        }
    }
    return agent_require_dev(a->dev, cmd, e);
}

static const char *kind_name(__u32 kind)
{
    switch (kind) {
    case ROUTE_PATH:
        return "path";
    case ROUTE_SNI:
        return "sni";
    case ROUTE_PATH_HUFFMAN:
        return "path-huffman";
    default:
        return "?";
    }
}

int route_build_key(const char *kind, const char *prefix, struct route_key *key, struct err *e)
{
    size_t len;

    memset(key, 0, sizeof(*key));
    if (!strcmp(kind, "path"))
        key->kind = ROUTE_PATH;
    else if (!strcmp(kind, "sni"))
        key->kind = ROUTE_SNI;
    else
        return ERR(e, EXIT_STATUS_USAGE, 0, "bad --kind '%s': expected path or sni", kind);
    len = strlen(prefix);
    if (len > ROUTE_TEXT_MAX)
        return ERR(e, EXIT_STATUS_USAGE, 0, "bad prefix '%.70s...': %zu bytes, at most %d", prefix, len,
                   ROUTE_TEXT_MAX);
    if (key->kind == ROUTE_PATH && len && prefix[0] != '/')
        return ERR(e, EXIT_STATUS_USAGE, 0, "bad prefix '%s': a path prefix starts with '/'", prefix);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)prefix[i];

        if (ch <= ' ' || ch > '~')
            return ERR(e, EXIT_STATUS_USAGE, 0, "bad prefix: byte %zu is 0x%02x, not printable ASCII", i, ch);
        if (key->kind == ROUTE_SNI && !isalnum(ch) && ch != '-' && ch != '.')
            return ERR(e, EXIT_STATUS_USAGE, 0,
                       "bad prefix '%s': an SNI prefix holds letters, digits, '-' and '.'", prefix);
        key->prefix[i] = key->kind == ROUTE_SNI ? (char)tolower(ch) : (char)ch;
    }
    key->prefixlen = ROUTE_KEY_PREFIXLEN(len);
    return 0;
}

int route_parse_workers(const char *list, const char *what, __u64 *workers, struct err *e)
{
    char item_what[64];
    const char *p;
    __u32 w;

    *workers = 0;
    snprintf(item_what, sizeof(item_what), "worker in %s", what);
    for (p = list;; p++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[16];

        if (len == 0 || len >= sizeof(item))
            return ERR(e, EXIT_STATUS_USAGE, 0, "bad %s '%s': expected worker numbers separated by commas",
                       what, list);
        memcpy(item, p, len);
        item[len] = '\0';
        if (args_u32(item, item_what, 0, SLUICE_MAX_WORKERS - 1, &w, e))
            return -1;
        *workers |= 1ull << w;
        if (!comma)
            return 0;
        p = comma;
    }
}

static int parse_target(const struct route_args *a, __u64 *workers, struct err *e)
{
    __u32 w;

    *workers = 0;
    if (!!a->worker == !!a->group)
        return ERR(e, EXIT_STATUS_USAGE, 0, "`route add` needs exactly one of --worker N or --group N,N,...");
    if (a->worker) {
        if (args_u32(a->worker, "worker", 0, SLUICE_MAX_WORKERS - 1, &w, e))
            return -1;
        *workers = 1ull << w;
        return 0;
    }
    return route_parse_workers(a->group, "--group", workers, e);
}

static int build_key(const struct route_args *a, const char *cmd, struct route_key *key, struct err *e)
{
    if (!a->prefix)
        return ERR(e, EXIT_STATUS_USAGE, 0, "`%s` needs --prefix PREFIX ('' for the default route)", cmd);
    return route_build_key(a->kind ? a->kind : "path", a->prefix, key, e);
}

/* The ROUTE_PATH_HUFFMAN twin of a path key: the code's exact bits, cut at SLUICE_ROUTE_PREFIX_MAX bytes. */
static bool huffman_twin(const struct route_key *key, struct route_key *twin)
{
    size_t len = strnlen(key->prefix, sizeof(key->prefix)), bits;

    if (key->kind != ROUTE_PATH)
        return false;
    memset(twin, 0, sizeof(*twin));
    twin->kind = ROUTE_PATH_HUFFMAN;
    bits = hpack_huffman_encode(key->prefix, len, (unsigned char *)twin->prefix, sizeof(twin->prefix), NULL);
    twin->prefixlen = 32u + (__u32)bits;
    return true;
}

int route_write(int fd, const struct route_key *key, const struct route_value *value, struct err *e)
{
    struct route_key twin;

    if (bpf_map_update_elem(fd, key, value, BPF_ANY))
        return ERR(e, err_status_for_errno(errno), errno, "cannot add the route '%s'", key->prefix);
    if (huffman_twin(key, &twin) && bpf_map_update_elem(fd, &twin, value, BPF_ANY)) {
        int errnum = errno;

        bpf_map_delete_elem(fd, key); /* all or nothing: a path route without its twin misroutes */
        return ERR(e, err_status_for_errno(errnum), errnum, "cannot add the Huffman key of route '%s'",
                   key->prefix);
    }
    return 0;
}

static const char *workers_text(__u64 workers, char *buf, size_t len)
{
    size_t n = snprintf(buf, len, "%s ", __builtin_popcountll(workers) == 1 ? "worker" : "group");

    for (int i = 0; i < SLUICE_MAX_WORKERS && n < len; i++)
        if (workers & (1ull << i))
            n += snprintf(buf + n, len - n, "%s%d", buf[n - 1] == ' ' ? "" : ",", i);
    return buf;
}

static void print_hex(const void *data, size_t len)
{
    const unsigned char *b = data;

    for (size_t i = 0; i < len; i++)
        printf(" %02x", b[i]);
}

static void print_bpftool_one(const char *verb, const char *dev, const struct route_key *key,
                              const struct route_value *value)
{
    printf("bpftool map %s pinned %s/%s/%s key hex", verb, SLUICE_PIN_ROOT, dev, SLUICE_MAP_ROUTES);
    print_hex(key, sizeof(*key));
    if (value) {
        printf(" value hex");
        print_hex(value, sizeof(*value));
    }
    printf("\n");
}

/* One line per key: the route's text key, then for a path its Huffman key. */
static void print_bpftool(const char *verb, const char *dev, const struct route_key *key,
                          const struct route_value *value)
{
    struct route_key twin;

    print_bpftool_one(verb, dev, key, value);
    if (huffman_twin(key, &twin))
        print_bpftool_one(verb, dev, &twin, value);
}

static int route_add(int argc, char **argv, struct err *e)
{
    struct route_args a;
    struct route_key key;
    struct route_value value = {0};
    char target[256];
    struct pins p;
    int c;

    if ((c = parse_args(argc, argv, "route add", &a, e)))
        return c == 'h' ? agent_help(route_help) : -1;
    if (build_key(&a, "route add", &key, e) || parse_target(&a, &value.workers, e))
        return -1;
    if (a.id && args_u32(a.id, "route id", 1, SLUICE_MAX_ROUTES - 1, &value.route_id, e))
        return -1;
    memcpy(value.text, key.prefix, sizeof(value.text));
    if (agent_open_pins(&p, a.dev, e))
        return -1;
    if (!a.id) {
        struct route_value old;

        /* changing a route's target keeps its id, and so its counters; the trie's lookup is by
         * longest prefix, so only an entry with this very text is the same route */
        if (bpf_map_lookup_elem(p.routes, &key, &old) == 0 &&
            !strncmp(old.text, value.text, sizeof(old.text)))
            value.route_id = old.route_id;
        else
            value.route_id = agent_next_id(p.routes, sizeof(struct route_key), sizeof(struct route_value));
    }
    if (a.bpftool) {
        pins_close(&p);
        print_bpftool("update", a.dev, &key, &value);
        return EXIT_STATUS_OK;
    }
    if (value.route_id >= SLUICE_MAX_ROUTES) {
        pins_close(&p);
        return ERR(e, EXIT_STATUS_STATE, 0, "no route id left below %d: give one with --id",
                   SLUICE_MAX_ROUTES);
    }
    if (route_write(p.routes, &key, &value, e)) {
        pins_close(&p);
        return -1;
    }
    pins_close(&p);
    printf("route %u: %s '%s' -> %s on %s\n", value.route_id, kind_name(key.kind), key.prefix,
           workers_text(value.workers, target, sizeof(target)), a.dev);
    if (key.kind == ROUTE_PATH) {
        unsigned char code[SLUICE_ROUTE_PREFIX_MAX];
        int cut = 0;

        hpack_huffman_encode(key.prefix, strlen(key.prefix), code, sizeof(code), &cut);
        if (cut)
            printf(
                "note: its Huffman key is cut at %d bytes: Huffman-coded paths match its first part only\n",
                SLUICE_ROUTE_PREFIX_MAX);
    }
    return EXIT_STATUS_OK;
}

/* Exact match: a lookup in an LPM trie answers with the longest matching prefix, not this key. */
static bool route_exists(int fd, const struct route_key *key)
{
    struct route_key cur, next;
    void *prev = NULL;

    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        if (!memcmp(&next, key, sizeof(next)))
            return true;
        cur = next;
        prev = &cur;
    }
    return false;
}

static int route_del(int argc, char **argv, struct err *e)
{
    struct route_args a;
    struct route_key key, twin;
    struct pins p;
    int c;

    if ((c = parse_args(argc, argv, "route del", &a, e)))
        return c == 'h' ? agent_help(route_help) : -1;
    if (build_key(&a, "route del", &key, e))
        return -1;
    if (a.worker || a.group || a.id)
        return ERR(e, EXIT_STATUS_USAGE, 0, "`route del` takes only --dev, --prefix, --kind and --bpftool");
    if (agent_open_pins(&p, a.dev, e))
        return -1;
    if (!route_exists(p.routes, &key)) {
        pins_close(&p);
        return ERR(e, EXIT_STATUS_STATE, 0, "no %s route '%s' on %s", kind_name(key.kind), key.prefix, a.dev);
    }
    if (a.bpftool) {
        pins_close(&p);
        print_bpftool("delete", a.dev, &key, NULL);
        return EXIT_STATUS_OK;
    }
    if (bpf_map_delete_elem(p.routes, &key)) {
        int errnum = errno;

        pins_close(&p);
        return ERR(e, err_status_for_errno(errnum), errnum, "cannot delete the route");
    }
    if (huffman_twin(&key, &twin) && bpf_map_delete_elem(p.routes, &twin) && errno != ENOENT) {
        int errnum = errno;

        pins_close(&p);
        return ERR(e, err_status_for_errno(errnum), errnum, "cannot delete the Huffman key of the route");
    }
    pins_close(&p);
    printf("deleted %s route '%s' on %s\n", kind_name(key.kind), key.prefix, a.dev);
    return EXIT_STATUS_OK;
}

/*
 * Whether the entry for key holds this route (same id and text): one LPM lookup, which answers the
 * longest match; only the entry itself, or a twin written with it, carries the same id and text.
 */
static bool same_route_at(int fd, const struct route_key *key, const struct route_value *value)
{
    struct route_value found;

    return bpf_map_lookup_elem(fd, key, &found) == 0 && found.route_id == value->route_id &&
           !memcmp(found.text, value->text, sizeof(found.text));
}

/* A Huffman key whose text twin exists is the same route: list shows the route once. */
static bool is_listed_twin(int fd, const struct route_key *key, const struct route_value *value)
{
    struct route_key text;

    if (key->kind != ROUTE_PATH_HUFFMAN)
        return false;
    memset(&text, 0, sizeof(text));
    text.kind = ROUTE_PATH;
    memcpy(text.prefix, value->text, sizeof(text.prefix));
    text.prefixlen = ROUTE_KEY_PREFIXLEN(strnlen(value->text, sizeof(value->text)));
    return same_route_at(fd, &text, value);
}

/* "text+huffman" for a path route with both keys, "text only" when its Huffman key is missing. */
static const char *keys_text(int fd, const struct route_key *key, const struct route_value *value)
{
    struct route_key twin;

    if (key->kind == ROUTE_PATH_HUFFMAN)
        return "huffman only";
    if (!huffman_twin(key, &twin))
        return "text";
    return same_route_at(fd, &twin, value) ? "text+huffman" : "text only";
}

static int route_list(int argc, char **argv, struct err *e)
{
    struct route_args a;
    struct route_key key, next;
    struct route_value value;
    struct route_counters rc;
    char target[256];
    void *prev = NULL;
    struct pins p;
    int c;

    if ((c = parse_args(argc, argv, "route list", &a, e)))
        return c == 'h' ? agent_help(route_help) : -1;
    if (a.prefix || a.kind || a.worker || a.group || a.id || a.bpftool)
        return ERR(e, EXIT_STATUS_USAGE, 0, "`route list` takes only --dev");
    if (agent_open_pins(&p, a.dev, e))
        return -1;
    printf("%-6s %-12s %-40s %-20s %10s %10s  %s\n", "ID", "KIND", "PREFIX", "TARGET", "CONNS", "HANDOFFS",
           "KEYS");
    while (bpf_map_get_next_key(p.routes, prev, &next) == 0) {
        if (bpf_map_lookup_elem(p.routes, &next, &value) == 0 && !is_listed_twin(p.routes, &next, &value)) {
            char quoted[SLUICE_ROUTE_PREFIX_MAX + 3];

            if (pins_read_route_counters(&p, value.route_id, &rc, e)) {
                pins_close(&p);
                return -1;
            }
            snprintf(quoted, sizeof(quoted), "'%.*s'", SLUICE_ROUTE_PREFIX_MAX, value.text);
            printf("%-6u %-12s %-40s %-20s %10llu %10llu  %s\n", value.route_id,
                   kind_name(next.kind == ROUTE_PATH_HUFFMAN ? ROUTE_PATH : next.kind), quoted,
                   workers_text(value.workers, target, sizeof(target)), (unsigned long long)rc.connections,
                   (unsigned long long)rc.handoffs, keys_text(p.routes, &next, &value));
        }
        key = next;
        prev = &key;
    }
    pins_close(&p);
    return EXIT_STATUS_OK;
}

int cmd_route(int argc, char **argv, struct err *e)
{
    static const struct agent_command actions[] = {
        {"add", route_add},
        {"del", route_del},
        {"list", route_list},
    };

    return agent_dispatch(actions, sizeof(actions) / sizeof(actions[0]), argc - 1, argv + 1, route_help,
                          "`route` needs add, del or list (see sluice-agent route --help)", e);
}
