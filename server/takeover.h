/*
 * takeover.h — one server generation handing its clients to the next, as nginx and h2o do on a
 * binary upgrade, without a failed request.
 *
 * Every server started with a pid file writes its pid there once ready, and offers its listening
 * sockets on a control socket (abstract, "sluice-takeover-PID", so per network namespace) to a process
 * of its own user or root. A new server started with --takeover reads the running generation's pid
 * from that file, holds it as a pidfd (so the signal later reaches that process and no other), takes
 * its listening sockets over the control socket (SCM_RIGHTS) and starts on them; once ready, it writes
 * its own pid to the file and sends the old generation SIGUSR2. The old one then stops taking new
 * connections (its copies of the sockets close, the sockets stay open in the new one: nothing queued on
 * them is lost), serves the connections it has until their clients close them or drain_ms ends, and
 * stops as on SIGTERM.
 *
 * On AF_XDP what is handed over is the UMEM (afxdp/umem.h: its memfds and each queue's first
 * socket): the successor shares it, binds its own sockets to the same queues and takes the other
 * half of the worker slots (SLUICE_GEN_SLOTS in maps/sluice_maps.h); once its workers are live,
 * XDP sends new connections there (`meta` new_flow_workers) while every existing flow still reaches
 * its old worker.
 */
#ifndef SLUICE_TAKEOVER_H
#define SLUICE_TAKEOVER_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"
#include "sched/worker.h"

/* The generation being taken over, as seen by its successor. */
struct takeover {
    pid_t pid;
    int pidfd; /* -1 when none is held */
};

/* Before the new generation starts: the pid in pid_file, a live process other than this one, held as
 * a pidfd, and what it hands over into *fds (the new server's to own); it must run datapath too. */
int takeover_prepare(struct takeover *t, const char *pid_file, const char *datapath, struct listen_fds *fds,
                     struct err *e);

/* Once the new generation is ready (its pid file written): SIGUSR2 to the old one; 1 when it had
 * exited meanwhile (nothing to hand over). Releases t. */
int takeover_signal(struct takeover *t, struct err *e);

void takeover_release(struct takeover *t);

/* The running generation's side: its listening sockets (AF_XDP: its UMEM), offered on the control socket by a
 * thread until takeover_offer_stop (before the hand-over closes them). */
struct takeover_offer {
    struct listen_fds fds;
    const char *datapath;
    int sock; /* -1: not offering */
    int stop; /* eventfd that ends the thread */
    pthread_t thread;
};

int takeover_offer_start(struct takeover_offer *o, struct server *srv, struct err *e);
void takeover_offer_stop(struct takeover_offer *o);

/* Write this process's pid to path, atomically (a temporary file renamed over it). */
int pid_file_write(const char *path, struct err *e);

/* Remove path if it still holds this process's pid (a newer generation's file is left alone). */
void pid_file_remove(const char *path);

#endif
