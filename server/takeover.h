/*
 * takeover.h — one server generation handing its clients to the next, as nginx and h2o do on a
 * binary upgrade, without a failed request.
 *
 * Every server started with a pid file writes its pid there once ready. A new server started with
 * --takeover reads the running generation's pid from that file before it starts (and holds it as a
 * pidfd, so the signal later reaches that process and no other), starts beside it, and once ready
 * writes its own pid there and sends the old generation SIGUSR2. The old one stops taking new
 * connections (kernel sockets: it closes its SO_REUSEPORT listeners, and the kernel migrates the
 * connections still queued on them to the new generation's, net.ipv4.tcp_migrate_req), serves the
 * ones it has until their clients close them or drain_ms ends, then stops as on SIGTERM.
 */
#ifndef SLUICE_TAKEOVER_H
#define SLUICE_TAKEOVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"

/* The generation being taken over. */
struct takeover {
    pid_t pid;
    int pidfd; /* -1 when none is held */
};

/* Before the new generation starts: the pid in pid_file, a live process other than this one, held as
 * a pidfd; with kernel sockets (sockets true), net.ipv4.tcp_migrate_req must be on, or connections
 * queued on the old listeners would be reset when they close. */
int takeover_prepare(struct takeover *t, const char *pid_file, bool sockets, struct err *e);

/* Once the new generation is ready (its pid file written): SIGUSR2 to the old one; 1 when it had
 * exited meanwhile (nothing to hand over). Releases t. */
int takeover_signal(struct takeover *t, struct err *e);

void takeover_release(struct takeover *t);

/* Write this process's pid to path, atomically (a temporary file renamed over it). */
int pid_file_write(const char *path, struct err *e);

/* Remove path if it still holds this process's pid (a newer generation's file is left alone). */
void pid_file_remove(const char *path);

#endif
