/*
 * main.c — sluice-server: the command line, signals and the life cycle around the worker pool.
 *
 * It runs beside the steering program the agent loaded on --dev: it opens that device's pinned
 * maps (and says so clearly when there are none), starts the workers (server/sched/worker.c), which
 * register their AF_XDP sockets, and on SIGINT or SIGTERM drains connections, deregisters and
 * releases everything, printing its counters. All signals are taken by this thread with sigwait,
 * so workers are never interrupted.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "static_file.h"
#include "worker.h"

static const char usage[] =
    "usage: sluice-server --dev DEVICE [options]\n"
    "       sluice-server --datapath socket [options]\n"
    "\n"
    "Serve TCP from AF_XDP sockets on DEVICE, where `sluice-agent load --dev DEVICE` attached the\n"
    "steering program and `sluice-agent service add` named the ports that reach us; or, with\n"
    "--datapath socket, from ordinary kernel sockets (no XDP, no root needed for ports >= 1024).\n"
    "\n"
    "  --datapath D       xdp (default) or socket\n"
    "  --workers N        worker threads (default: one per online CPU, at most 64)\n"
    "  --cpus LIST        CPU of each worker, comma-separated (default: worker i on CPU i mod CPUs)\n"
    "  --queue Q          interface queue to bind (default 0)\n"
    "  --frames N         UMEM frames (default 32768)\n"
    "  --frame-size B     2048 or 4096 (default 4096)\n"
    "  --ring N           RX and TX ring entries per socket, a power of two (default 2048)\n"
    "  --zerocopy MODE    auto (default), on or off\n"
    "  --busy-poll        spin instead of sleeping in poll()\n"
    "  --max-conns N      connections per worker (default 16384)\n"
    "  --drain-ms MS      on stop, how long open connections may take to finish (default 2000)\n"
    "  --http PORT        serve HTTP/2 and HTTP/1.1 on PORT (routes compiled from server/sluice.routes)\n"
    "  --static DIR       the directory GET /static/* serves\n"
    "  --echo PORT        serve echo on PORT\n"
    "  --sink PORT        serve sink (SHA-256 of the upload) on PORT\n"
    "  --source PORT      serve source (N bytes of the deterministic stream) on PORT\n"
    "\n"
    "exit status: 0 clean stop, 1 failure (including frames not all returned at exit), 2 bad usage,\n"
    "             3 not permitted, 4 BPF/AF_XDP unavailable, 5 no such device, 6 sluice not loaded\n";

enum { OPT_HTTP = 253, OPT_STATIC = 254, OPT_DATAPATH = 255, OPT_FRAME_SIZE = 256, OPT_BUSY_POLL, OPT_MAX_CONNS, OPT_DRAIN_MS, OPT_ECHO, OPT_SINK, OPT_SOURCE };

static int parse_cpus(const char *text, struct server_config *cfg, uint32_t *ncpus, struct err *e)
{
    const char *p = text;

    *ncpus = 0;
    for (;;) {
        char item[16];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        uint32_t cpu;

        if (!len || len >= sizeof(item) || *ncpus == SLUICE_MAX_WORKERS)
            return ERR(e, EXIT_STATUS_USAGE, 0, "bad --cpus '%s': expected CPU numbers separated by commas", text);
        memcpy(item, p, len);
        item[len] = '\0';
        if (args_u32(item, "CPU in --cpus", 0, CPU_SETSIZE - 1, &cpu, e))
            return -1;
        cfg->cpus[(*ncpus)++] = (int)cpu;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int add_service(struct server_config *cfg, const char *port_text, const struct app_ops *ops, struct err *e)
{
    uint32_t port;

    if (args_u32(port_text, "port", 1, 65535, &port, e))
        return -1;
    for (int i = 0; i < cfg->nservices; i++)
        if (cfg->services[i].port == port)
            return ERR(e, EXIT_STATUS_USAGE, 0, "port %u is given to two services", port);
    cfg->services[cfg->nservices].port = (uint16_t)port;
    cfg->services[cfg->nservices].ops = ops;
    cfg->nservices++;
    return 0;
}

static int parse_args(int argc, char **argv, struct server_config *cfg, struct err *e)
{
    static const struct option opts[] = {
        {"dev", required_argument, NULL, 'd'},
        {"datapath", required_argument, NULL, OPT_DATAPATH},
        {"workers", required_argument, NULL, 'w'},
        {"cpus", required_argument, NULL, 'c'},
        {"queue", required_argument, NULL, 'q'},
        {"frames", required_argument, NULL, 'f'},
        {"frame-size", required_argument, NULL, OPT_FRAME_SIZE},
        {"ring", required_argument, NULL, 'r'},
        {"zerocopy", required_argument, NULL, 'z'},
        {"busy-poll", no_argument, NULL, OPT_BUSY_POLL},
        {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
        {"drain-ms", required_argument, NULL, OPT_DRAIN_MS},
        {"http", required_argument, NULL, OPT_HTTP},
        {"static", required_argument, NULL, OPT_STATIC},
        {"echo", required_argument, NULL, OPT_ECHO},
        {"sink", required_argument, NULL, OPT_SINK},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t ncpus = 0, value;
    int c;

    cfg->nworkers = online > 0 && online < SLUICE_MAX_WORKERS ? (uint32_t)online : 1;
    while ((c = args_getopt(argc, argv, opts, "sluice-server", e)) != -1) {
        switch (c) {
        case 'd':
            cfg->ifname = optarg;
            break;
        case OPT_DATAPATH:
            if (!strcmp(optarg, "xdp"))
                cfg->datapath = DATAPATH_XDP;
            else if (!strcmp(optarg, "socket"))
                cfg->datapath = DATAPATH_SOCKET;
            else
                return ERR(e, EXIT_STATUS_USAGE, 0, "bad --datapath '%s': expected xdp or socket", optarg);
            break;
        case 'w':
            if (args_u32(optarg, "--workers", 1, SLUICE_MAX_WORKERS, &cfg->nworkers, e))
                return -1;
            break;
        case 'c':
            if (parse_cpus(optarg, cfg, &ncpus, e))
                return -1;
            break;
        case 'q':
            if (args_u32(optarg, "--queue", 0, 1023, &cfg->queue, e))
                return -1;
            break;
        case 'f':
            if (args_u32(optarg, "--frames", 1024, 1u << 22, &cfg->umem.nframes, e))
                return -1;
            break;
        case OPT_FRAME_SIZE:
            if (args_u32(optarg, "--frame-size", 2048, 4096, &value, e))
                return -1;
            if (value != 2048 && value != 4096)
                return ERR(e, EXIT_STATUS_USAGE, 0, "bad --frame-size '%s': expected 2048 or 4096", optarg);
            cfg->umem.frame_size = value;
            break;
        case 'r':
            if (args_u32(optarg, "--ring", 64, 1u << 16, &value, e))
                return -1;
            if (value & (value - 1))
                return ERR(e, EXIT_STATUS_USAGE, 0, "bad --ring '%s': expected a power of two", optarg);
            cfg->ring_size = value;
            break;
        case 'z':
            if (!strcmp(optarg, "auto"))
                cfg->zerocopy = XSK_ZC_AUTO;
            else if (!strcmp(optarg, "on"))
                cfg->zerocopy = XSK_ZC_ON;
            else if (!strcmp(optarg, "off"))
                cfg->zerocopy = XSK_ZC_OFF;
            else
                return ERR(e, EXIT_STATUS_USAGE, 0, "bad --zerocopy '%s': expected auto, on or off", optarg);
            break;
        case OPT_BUSY_POLL:
            cfg->busy_poll = true;
            break;
        case OPT_MAX_CONNS:
            if (args_u32(optarg, "--max-conns", 16, 1u << 20, &cfg->tcp.max_conns, e))
                return -1;
            break;
        case OPT_DRAIN_MS:
            if (args_u32(optarg, "--drain-ms", 0, 600000, &cfg->drain_ms, e))
                return -1;
            break;
        case OPT_STATIC:
            cfg->http.static_dir = optarg;
            break;
        case OPT_HTTP:
        case OPT_ECHO:
        case OPT_SINK:
        case OPT_SOURCE:
            if (cfg->nservices == APP_MAX_SERVICES)
                return ERR(e, EXIT_STATUS_USAGE, 0, "at most %d services", APP_MAX_SERVICES);
            if (add_service(cfg, optarg,
                            c == OPT_HTTP   ? &app_http_ops
                            : c == OPT_ECHO ? &app_echo_ops
                            : c == OPT_SINK ? &app_sink_ops
                                            : &app_source_ops,
                            e))
                return -1;
            break;
        case 'h':
            fputs(usage, stdout);
            exit(EXIT_STATUS_OK);
        default:
            return -1;
        }
    }
    if (cfg->datapath == DATAPATH_XDP && !cfg->ifname)
        return ERR(e, EXIT_STATUS_USAGE, 0, "--dev DEVICE is required with the xdp datapath (see --help)");
    if (cfg->datapath == DATAPATH_SOCKET && cfg->ifname)
        return ERR(e, EXIT_STATUS_USAGE, 0, "--dev is for the xdp datapath; the socket datapath listens on all addresses");
    if (!cfg->nservices)
        return ERR(e, EXIT_STATUS_USAGE, 0, "no service to serve: give --http, --echo, --sink or --source");
    for (uint32_t i = 0; i < cfg->nworkers; i++)
        cfg->cpus[i] = ncpus ? cfg->cpus[i % ncpus] : (int)(i % (uint32_t)(online > 0 ? online : 1));
    return 0;
}

int main(int argc, char **argv)
{
    static struct server srv;
    struct server_config cfg = {.ring_size = 2048, .drain_ms = 2000};
    struct err e = {0};
    sigset_t signals;
    int sig;

    umem_config_default(&cfg.umem);
    tcp_config_default(&cfg.tcp);
    http_config_default(&cfg.http);
    cfg.tcp.max_conns = 16384;
    if (parse_args(argc, argv, &cfg, &e)) {
        err_print(stderr, "sluice-server", &e);
        return e.status;
    }
    if (cfg.datapath == DATAPATH_XDP && geteuid() != 0) {
        fprintf(stderr, "sluice-server: error: must be run as root (needs CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW)\n");
        return EXIT_STATUS_PERMISSION;
    }
    if (cfg.http.static_dir && static_file_open_dir(cfg.http.static_dir, &e)) {
        err_print(stderr, "sluice-server", &e);
        return e.status;
    }
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL); /* inherited by the workers */
    if (server_start(&srv, &cfg, &e)) {
        err_print(stderr, "sluice-server", &e);
        return e.status;
    }
    printf("sluice-server: ready\n");
    fflush(stdout);
    sigwait(&signals, &sig);
    printf("sluice-server: %s: draining connections, then stopping\n", strsignal(sig));
    fflush(stdout);
    if (server_stop(&srv, stdout, &e)) {
        err_print(stderr, "sluice-server", &e);
        return e.status;
    }
    printf("sluice-server: stopped%s\n", cfg.datapath == DATAPATH_XDP ? ", every frame returned" : "");
    return EXIT_STATUS_OK;
}
