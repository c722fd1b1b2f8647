/*
 * sluice_main.c — the library's entry point (include/sluice/sluice.h): settings (config.c), signals
 * and the life cycle around the worker pool, for sluice-server (server/main.c) and every app.
 *
 * On the xdp datapath it runs beside the steering program the agent loaded on --dev: the datapath
 * opens that device's pinned maps (and says so clearly when there are none). It starts the workers
 * (server/sched/worker.c) on the datapath config.c picked, which register their sockets, and on
 * SIGINT or SIGTERM drains connections, deregisters and releases everything, printing its counters. With
 * TLS, SIGHUP reloads the certificates and this thread rotates the session ticket keys; SIGUSR1 reopens
 * the access log's file (logrotate). SIGUSR2 is the hand-over to a new generation (takeover.h): no new
 * connections, the open ones served until they close or drain_ms ends, then the stop as on SIGTERM.
 * All signals are taken by this thread with sigwait, so workers are never interrupted.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "sluice/sluice.h"
#include "http/handlers/static_file.h"
#include "sched/worker.h"
#include "takeover.h"
#include "tls/tls.h"

/* The next signal; meanwhile, once a minute, the TLS session ticket keys are rotated when due. */
static int wait_signal(const char *name, const sigset_t *signals, struct tls_server *tls)
{
    const struct timespec minute = {60, 0};

    for (;;) {
        struct err e = {0};
        int sig = tls ? sigtimedwait(signals, NULL, &minute) : sigwaitinfo(signals, NULL);

        if (sig > 0)
            return sig;
        if (tls && errno == EAGAIN && tls_server_tick(tls, &e)) {
            char prefix[128];

            snprintf(prefix, sizeof(prefix), "%s: ticket keys", name);
            err_print(stderr, prefix, &e);
        }
    }
}

/*
 * Handed over (SIGUSR2): wait until every connection is closed by its client, drain_ms passes, or
 * SIGINT/SIGTERM comes; the stop follows. Says which, and how long it took.
 */
static void hand_over(const char *name, struct server *srv, const sigset_t *signals)
{
    const struct timespec tick = {0, 50 * 1000000};
    uint64_t start = worker_now_ns(), deadline = start + (uint64_t)srv->cfg.drain_ms * 1000000;
    const char *why = "drain_ms is over";
    int sig;

    printf("%s: SIGUSR2: handed over to a new generation: no new connections; the open ones are served until "
           "they close, for up to %u ms\n",
           name, srv->cfg.drain_ms);
    fflush(stdout);
    server_hand_over(srv);
    while (worker_now_ns() < deadline) {
        if (server_settled(srv)) {
            why = "every connection closed";
            break;
        }
        sig = sigtimedwait(signals, NULL, &tick);
        if (sig == SIGUSR1) /* logrotate goes on meanwhile */
            server_reopen_logs(srv);
        if (sig == SIGINT || sig == SIGTERM) {
            why = strsignal(sig);
            break;
        }
    }
    printf("%s: hand-over: %s after %llu ms\n", name, why,
           (unsigned long long)((worker_now_ns() - start) / 1000000));
    fflush(stdout);
}

int sluice_main(int argc, char **argv, const struct sluice_app *app)
{
    static struct server srv;
    static struct config cfg;
    const char *name = app->name ? app->name : "sluice";
    struct tls_server *tls = NULL;
    struct takeover old = {.pidfd = -1};
    struct takeover_offer offer = {.sock = -1, .stop = -1};
    int handed = 0;
    struct err e = {0};
    sigset_t signals;
    int sig;

    if (config_load(argc, argv, name, app->config_file, &cfg, &e)) {
        err_print(stderr, name, &e);
        return e.status;
    }
    cfg.server.http.router = app->router;
    if (cfg.datapath == CONFIG_DATAPATH_XDP && geteuid() != 0) {
        fprintf(stderr, "%s: error: must be run as root (needs CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW)\n", name);
        return EXIT_STATUS_PERMISSION;
    }
    if (cfg.server.http.static_dir && static_file_open_dir(cfg.server.http.static_dir, &e)) {
        err_print(stderr, name, &e);
        return e.status;
    }
    if (cfg.tls.port && !(tls = tls_server_new(&cfg.tls, &e))) {
        err_print(stderr, name, &e);
        return e.status;
    }
    if (cfg.takeover &&
        takeover_prepare(&old, cfg.pid_file, cfg.server.datapath->name, &cfg.server.inherit, &e)) {
        err_print(stderr, name, &e);
        tls_server_free(tls);
        return e.status;
    }
    for (int i = 0; i < cfg.server.nservices; i++)
        if (cfg.server.services[i].layer == &tls_layer)
            cfg.server.services[i].layer_config = tls;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGUSR1);
    sigaddset(&signals, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &signals, NULL); /* inherited by the workers */
    if (server_start(&srv, &cfg.server, &e)) {
        err_print(stderr, name, &e);
        takeover_release(&old);
        tls_server_free(tls);
        return e.status;
    }
    if (cfg.pid_file && (pid_file_write(cfg.pid_file, &e) || takeover_offer_start(&offer, &srv, &e) ||
                         (cfg.takeover && (handed = takeover_signal(&old, &e)) < 0))) {
        err_print(stderr, name, &e);
        takeover_release(&old);
        takeover_offer_stop(&offer);
        server_stop(&srv, NULL, &e);
        pid_file_remove(cfg.pid_file);
        tls_server_free(tls);
        return EXIT_STATUS_STATE;
    }
    if (cfg.takeover)
        printf(handed ? "%s: pid %d had exited: nothing to take over\n"
                      : "%s: took over from pid %d: it serves its open connections until they close\n",
               name, (int)old.pid);
    printf("%s: ready\n", name);
    fflush(stdout);
    while ((sig = wait_signal(name, &signals, tls)) == SIGHUP || sig == SIGUSR1 || sig == SIGUSR2) {
        if (sig == SIGUSR1) {
            server_reopen_logs(&srv);
            continue;
        }
        if (sig == SIGUSR2) {
            takeover_offer_stop(&offer); /* before the workers close the sockets it offers */
            hand_over(name, &srv, &signals);
            break;
        }
        if (!tls)
            continue;
        if (tls_server_reload(tls, &e)) {
            char prefix[128];

            snprintf(prefix, sizeof(prefix), "%s: SIGHUP: kept the certificates in use", name);
            err_print(stderr, prefix, &e);
            continue;
        }
        printf("%s: SIGHUP: certificates reloaded\n", name);
        fflush(stdout);
    }
    printf("%s: %s: draining connections, then stopping\n", name,
           sig == SIGUSR2 ? "hand-over" : strsignal(sig));
    fflush(stdout);
    takeover_offer_stop(&offer);
    pid_file_remove(cfg.pid_file);
    if (server_stop(&srv, stdout, &e)) {
        err_print(stderr, name, &e);
        tls_server_free(tls);
        return e.status;
    }
    tls_server_free(tls);
    printf("%s: stopped%s\n", name, cfg.datapath == CONFIG_DATAPATH_XDP ? ", every frame returned" : "");
    return EXIT_STATUS_OK;
}
