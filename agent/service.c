/*
 * service.c — `service add|del|list`: which (address, port) pairs the steering program claims.
 *
 * A service entry is what turns TCP to an address and port from "the kernel's" into "sluice's"; an
 * all-zero address (0.0.0.0 or ::) claims the port on every address of that family.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <bpf/bpf.h>

#include "common/addr.h"
#include "agent/agent.h"

static const char service_help[] =
    "usage: sluice-agent service add  --dev DEVICE --addr ADDRESS --port PORT [--id ID] [--tls] [--steer]\n"
    "                                  [--syncookie]\n"
    "       sluice-agent service del  --dev DEVICE --addr ADDRESS --port PORT\n"
    "       sluice-agent service list --dev DEVICE\n"
    "\n"
    "A service is a destination address and TCP port served by sluice: the steering program\n"
    "redirects its packets to the server's workers and passes all other traffic to the kernel.\n"
    "ADDRESS is IPv4 or IPv6; 0.0.0.0 or :: claims PORT on every address of that family.\n"
    "  --id ID    service id reported to the server (default: one more than the largest in use)\n"
    "  --tls      connections carry TLS (steering reads the ClientHello SNI)\n"
    "  --steer    steer connections by their first bytes through the routes map\n"
    "  --syncookie  answer every SYN in XDP with a SYN cookie (without it, cookies start when a\n"
    "             worker's half-open connections reach the server's [server] syncookie_half_open)\n"
    "exit status: 0 done, 2 bad option or value, 3 not root, 6 not loaded, service exists (add) or\n"
    "             is missing (del)\n";

struct service_args {
    const char *dev;
    const char *addr;
    const char *port;
    const char *id;
    __u32 flags;
};

/* 0, or -1 with e filled, or 'h' at --help (before --dev is required): the caller prints its help */
static int parse_args(int argc, char **argv, const char *cmd, struct service_args *a, struct err *e)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'},
        {"addr", required_argument, NULL, 'a'},
        {"port", required_argument, NULL, 'p'},
        {"id", required_argument, NULL, 'i'},
        {"tls", no_argument, NULL, 't'},
        {"steer", no_argument, NULL, 's'},
        {"syncookie", no_argument, NULL, 'c'},
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
        case 'a':
            a->addr = optarg;
            break;
        case 'p':
            a->port = optarg;
            break;
        case 'i':
            a->id = optarg;
            break;
        case 't':
            a->flags |= SERVICE_F_TLS;
            break;
        case 's':
            a->flags |= SERVICE_F_STEER;
            break;
        case 'c':
            a->flags |= SERVICE_F_SYNCOOKIE;
            break;
        case 'h':
            return 'h';
        default:
            return -1;
        }
    }
    return agent_require_dev(a->dev, cmd, e);
}

static int build_key(const struct service_args *a, const char *cmd, struct service_key *key, struct err *e)
{
    __u32 port;

    memset(key, 0, sizeof(*key));
    if (!a->addr || !a->port)
        return ERR(e, EXIT_STATUS_USAGE, 0, "`%s` needs --addr ADDRESS and --port PORT", cmd);
    if (addr_parse(a->addr, key->addr, &key->family))
        return ERR(e, EXIT_STATUS_USAGE, 0, "bad address '%s': expected IPv4 or IPv6", a->addr);
    if (args_u32(a->port, "port", 1, 65535, &port, e))
        return -1;
    key->port = (__u16)port;
    return 0;
}

static const char *flags_text(__u32 flags, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", flags & SERVICE_F_TLS ? ",tls" : "", flags & SERVICE_F_STEER ? ",steer" : "",
             flags & SERVICE_F_SYNCOOKIE ? ",syncookie" : "");
    if (!buf[0])
        snprintf(buf, len, ",-");
    memmove(buf, buf + 1, strlen(buf)); /* the first comma */
    return buf;
}

static int service_add(int argc, char **argv, struct err *e)
{
    struct service_args a;
    struct service_key key;
    struct service_value value = {0};
    char text[ADDR_TEXT_MAX];
    struct pins p;
    int c;

    if ((c = parse_args(argc, argv, "service add", &a, e)))
        return c == 'h' ? agent_help(service_help) : -1;
    if (build_key(&a, "service add", &key, e))
        return -1;
    value.flags = a.flags;
    if (a.id && args_u32(a.id, "service id", 0, UINT32_MAX, &value.service_id, e))
        return -1;
    if (agent_open_pins(&p, a.dev, e))
        return -1;
    if (!a.id)
        value.service_id =
            agent_next_id(p.services, sizeof(struct service_key), sizeof(struct service_value));
    if (bpf_map_update_elem(p.services, &key, &value, BPF_NOEXIST)) {
        int errnum = errno;

        pins_close(&p);
        if (errnum == EEXIST)
            return ERR(e, EXIT_STATUS_STATE, 0, "service %s port %u already exists on %s (delete it first)",
                       addr_format(key.addr, key.family, text, sizeof(text)), key.port, a.dev);
        return ERR(e, err_status_for_errno(errnum), errnum, "cannot add the service");
    }
    pins_close(&p);
    printf("service %u: %s port %u on %s\n", value.service_id,
           addr_format(key.addr, key.family, text, sizeof(text)), key.port, a.dev);
    return EXIT_STATUS_OK;
}

static int service_del(int argc, char **argv, struct err *e)
{
    struct service_args a;
    struct service_key key;
    char text[ADDR_TEXT_MAX];
    struct pins p;
    int c;

    if ((c = parse_args(argc, argv, "service del", &a, e)))
        return c == 'h' ? agent_help(service_help) : -1;
    if (build_key(&a, "service del", &key, e))
        return -1;
    if (a.id || a.flags)
        return ERR(e, EXIT_STATUS_USAGE, 0, "`service del` takes only --dev, --addr and --port");
    if (agent_open_pins(&p, a.dev, e))
        return -1;
    if (bpf_map_delete_elem(p.services, &key)) {
        int errnum = errno;

        pins_close(&p);
        if (errnum == ENOENT)
            return ERR(e, EXIT_STATUS_STATE, 0, "no service %s port %u on %s",
                       addr_format(key.addr, key.family, text, sizeof(text)), key.port, a.dev);
        return ERR(e, err_status_for_errno(errnum), errnum, "cannot delete the service");
    }
    pins_close(&p);
    printf("deleted service %s port %u on %s\n", addr_format(key.addr, key.family, text, sizeof(text)),
           key.port, a.dev);
    return EXIT_STATUS_OK;
}

static int service_list(int argc, char **argv, struct err *e)
{
    struct service_args a;
    struct service_key key, next;
    struct service_value value;
    char text[ADDR_TEXT_MAX], flags[32];
    void *prev = NULL;
    struct pins p;
    int c;

    if ((c = parse_args(argc, argv, "service list", &a, e)))
        return c == 'h' ? agent_help(service_help) : -1;
    if (a.addr || a.port || a.id || a.flags)
        return ERR(e, EXIT_STATUS_USAGE, 0, "`service list` takes only --dev");
    if (agent_open_pins(&p, a.dev, e))
        return -1;
    printf("%-6s %-40s %-5s %s\n", "ID", "ADDRESS", "PORT", "FLAGS");
    while (bpf_map_get_next_key(p.services, prev, &next) == 0) {
        if (bpf_map_lookup_elem(p.services, &next, &value) == 0)
            printf("%-6u %-40s %-5u %s\n", value.service_id,
                   addr_format(next.addr, next.family, text, sizeof(text)), next.port,
                   flags_text(value.flags, flags, sizeof(flags)));
        key = next;
        prev = &key;
    }
    pins_close(&p);
    return EXIT_STATUS_OK;
}

int cmd_service(int argc, char **argv, struct err *e)
{
    static const struct agent_command actions[] = {
        {"add", service_add},
        {"del", service_del},
        {"list", service_list},
    };

    return agent_dispatch(actions, sizeof(actions) / sizeof(actions[0]), argc - 1, argv + 1, service_help,
                          "`service` needs add, del or list (see sluice-agent service --help)", e);
}
