/*
 * err.h — errors as values.
 *
 * A function that can fail returns -1 (or NULL) and fills a struct err with one operator-readable
 * sentence, the errno it saw, the exit status a command should end with, and the source location
 * that raised it. Nothing below the command line prints; the command prints the error once, as one
 * line, and exits with its status. Used by sluice-agent, sluice-server and the tools.
 */
#ifndef SLUICE_ERR_H
#define SLUICE_ERR_H

#include <stdio.h>

/* Exit statuses of sluice commands; documented in each command's --help and the README. */
enum exit_status {
    EXIT_STATUS_OK = 0,
    EXIT_STATUS_FAILURE = 1,    /* a system call or the kernel refused something unexpected */
    EXIT_STATUS_USAGE = 2,      /* bad command line or input value */
    EXIT_STATUS_PERMISSION = 3, /* not root / missing CAP_BPF or CAP_NET_ADMIN */
    EXIT_STATUS_NO_BPF = 4,     /* BPF, XDP or the BPF filesystem is unavailable */
    EXIT_STATUS_NO_DEVICE = 5,  /* the named network device does not exist */
    EXIT_STATUS_STATE = 6,      /* wrong state: not loaded, already loaded, ABI mismatch, not found */
    EXIT_STATUS_BUSY = 7,       /* refused because a running server depends on it */
};

struct err {
    int status; /* enum exit_status */
    int errnum; /* errno that caused it, or 0 */
    const char *src_file;
    int src_line;
    char msg[512];
};

/* Fill *e and return -1, so that `return ERR(e, ...)` reads as the failure it is. */
#define ERR(e, status, errnum, ...) err_set((e), __FILE__, __LINE__, (status), (errnum), __VA_ARGS__)

int err_set(struct err *e, const char *file, int line, int status, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Map an errno from a BPF or netlink call to the exit status an operator can act on. */
int err_status_for_errno(int errnum);

/* "prog: error: message: strerror" on one line; the source location when SLUICE_DEBUG is set. */
void err_print(FILE *out, const char *prog, const struct err *e);

#endif
