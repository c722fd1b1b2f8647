/*
 * takeover.c — the pid file and the hand-over signal between server generations (see takeover.h).
 */
#include "takeover.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#define MIGRATE_REQ_SYSCTL "/proc/sys/net/ipv4/tcp_migrate_req"

static int read_pid(const char *path, pid_t *pid, struct err *e)
{
    char buf[32], *end;
    FILE *f = fopen(path, "r");
    long v;

    if (!f)
        return ERR(e, EXIT_STATUS_STATE, errno, "--takeover: cannot read the running server's pid file %s",
                   path);
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    errno = 0;
    v = strtol(buf, &end, 10);
    if (errno || end == buf || *end || v <= 0 || v > INT32_MAX)
        return ERR(e, EXIT_STATUS_STATE, 0, "--takeover: %s does not hold a pid: '%.20s'", path, buf);
    *pid = (pid_t)v;
    return 0;
}

static int migrate_req_on(struct err *e)
{
    char v = '0';
    int fd = open(MIGRATE_REQ_SYSCTL, O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        if (read(fd, &v, 1) != 1)
            v = '0';
        close(fd);
    }
    if (v != '1')
        return ERR(
            e, EXIT_STATUS_STATE, 0,
            "--takeover with kernel sockets needs net.ipv4.tcp_migrate_req = 1 in the server's network "
            "namespace, or the connections queued on the running server's listeners are reset when it "
            "closes them (sysctl -w net.ipv4.tcp_migrate_req=1)");
    return 0;
}

int takeover_prepare(struct takeover *t, const char *pid_file, bool sockets, struct err *e)
{
    t->pidfd = -1;
    if (!pid_file)
        return ERR(e, EXIT_STATUS_USAGE, 0,
                   "--takeover needs --pid-file: the running server's pid is read there");
    if (sockets && migrate_req_on(e))
        return -1;
    if (read_pid(pid_file, &t->pid, e))
        return -1;
    if (t->pid == getpid())
        return ERR(e, EXIT_STATUS_STATE, 0, "--takeover: %s holds this process's own pid", pid_file);
    t->pidfd = pidfd_open(t->pid, 0);
    if (t->pidfd < 0)
        return ERR(e, EXIT_STATUS_STATE, errno, "--takeover: the server of pid %d (from %s) is not running",
                   (int)t->pid, pid_file);
    return 0;
}

int takeover_signal(struct takeover *t, struct err *e)
{
    int ret = 0;

    if (pidfd_send_signal(t->pidfd, SIGUSR2, NULL, 0))
        ret = errno == ESRCH ? 1
                             : ERR(e, EXIT_STATUS_STATE, errno,
                                   "--takeover: cannot signal the running server (pid %d)", (int)t->pid);
    takeover_release(t);
    return ret;
}

void takeover_release(struct takeover *t)
{
    if (t->pidfd >= 0)
        close(t->pidfd);
    t->pidfd = -1;
}

int pid_file_write(const char *path, struct err *e)
{
    char tmp[4096];
    FILE *f;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid()) >= sizeof(tmp))
        return ERR(e, EXIT_STATUS_USAGE, 0, "pid file path too long: %s", path);
    f = fopen(tmp, "w");
    if (!f)
        return ERR(e, EXIT_STATUS_FAILURE, errno, "cannot write the pid file %s", tmp);
    fprintf(f, "%d\n", (int)getpid());
    if (fclose(f) || rename(tmp, path)) {
        int errnum = errno;

        unlink(tmp);
        return ERR(e, EXIT_STATUS_FAILURE, errnum, "cannot write the pid file %s", path);
    }
    return 0;
}

void pid_file_remove(const char *path)
{
    pid_t pid;
    struct err ignored;

    if (path && !read_pid(path, &pid, &ignored) && pid == getpid())
        unlink(path);
}
