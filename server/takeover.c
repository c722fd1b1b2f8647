/*
 * takeover.c — between server generations (see takeover.h): the pid file, the running one's offer of
 * its listening sockets on the control socket, the successor's taking of them, and the hand-over signal.
 */
#include "takeover.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TAKEOVER_MAGIC      0x534c544b /* 'SLTK' */
#define TAKEOVER_TIMEOUT_MS 5000

/* The one message on the control socket, with the descriptors themselves as SCM_RIGHTS. */
struct offer_msg {
    uint32_t magic;
    uint32_t n;
    char datapath[16]; /* the running generation's: a successor must run the same */
    uint16_t port[SERVER_MAX_INHERITED];
    uint32_t blob_len;
    uint8_t blob[SERVER_HANDOVER_BLOB];
};

union offer_cmsg {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int) * SERVER_MAX_INHERITED)];
};

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

/* The control socket's address: abstract, so it lives in the network namespace and goes with the process. */
static socklen_t control_addr(pid_t pid, struct sockaddr_un *a)
{
    int len;

    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    len = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "sluice-takeover-%d", (int)pid);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
}

static int receive_listeners(pid_t pid, const char *datapath, struct listen_fds *fds, struct err *e)
{
    struct sockaddr_un a;
    socklen_t alen = control_addr(pid, &a);
    struct timeval timeout = {TAKEOVER_TIMEOUT_MS / 1000, 0};
    struct offer_msg m;
    union offer_cmsg c;
    struct iovec iov = {&m, sizeof(m)};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
    struct cmsghdr *cm;
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), errnum;
    ssize_t got;

    if (sock < 0)
        return ERR(e, EXIT_STATUS_FAILURE, errno, "--takeover: cannot create a unix socket");
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (connect(sock, (struct sockaddr *)&a, alen)) {
        errnum = errno;
        close(sock);
        return ERR(
            e, EXIT_STATUS_STATE, errnum,
            "--takeover: the server of pid %d offers nothing to take over (it must run with a pid file, "
            "in this network namespace)",
            (int)pid);
    }
    got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    errnum = errno;
    close(sock);
    fds->n = 0;
    cm = got > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
        fds->n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        memcpy(fds->fd, CMSG_DATA(cm), (size_t)fds->n * sizeof(int));
    }
    if (got != (ssize_t)sizeof(m) || m.magic != TAKEOVER_MAGIC || m.n != (uint32_t)fds->n ||
        (mh.msg_flags & MSG_CTRUNC) || m.blob_len > sizeof(m.blob) ||
        strncmp(m.datapath, datapath, sizeof(m.datapath))) {
        for (int i = 0; i < fds->n; i++)
            close(fds->fd[i]);
        fds->n = 0;
        if (got == (ssize_t)sizeof(m) && m.magic == TAKEOVER_MAGIC &&
            strncmp(m.datapath, datapath, sizeof(m.datapath)))
            return ERR(
                e, EXIT_STATUS_USAGE, 0,
                "--takeover: the server of pid %d runs the %.16s datapath, this one %s: a successor runs "
                "the same",
                (int)pid, m.datapath, datapath);
        return ERR(e, EXIT_STATUS_STATE, got < 0 ? errnum : 0,
                   "--takeover: the server of pid %d sent nothing valid to take over", (int)pid);
    }
    memcpy(fds->port, m.port, sizeof(m.port));
    fds->blob_len = m.blob_len;
    memcpy(fds->blob, m.blob, m.blob_len);
    return 0;
}

int takeover_prepare(struct takeover *t, const char *pid_file, const char *datapath, struct listen_fds *fds,
                     struct err *e)
{
    t->pidfd = -1;
    if (!pid_file)
        return ERR(e, EXIT_STATUS_USAGE, 0,
                   "--takeover needs --pid-file: the running server's pid is read there");
    if (read_pid(pid_file, &t->pid, e))
        return -1;
    if (t->pid == getpid())
        return ERR(e, EXIT_STATUS_STATE, 0, "--takeover: %s holds this process's own pid", pid_file);
    t->pidfd = pidfd_open(t->pid, 0);
    if (t->pidfd < 0)
        return ERR(e, EXIT_STATUS_STATE, errno, "--takeover: the server of pid %d (from %s) is not running",
                   (int)t->pid, pid_file);
    if (receive_listeners(t->pid, datapath, fds, e)) {
        takeover_release(t);
        return -1;
    }
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

static void send_listeners(int sock, const char *datapath, const struct listen_fds *fds)
{
    struct offer_msg m = {.magic = TAKEOVER_MAGIC, .n = (uint32_t)fds->n, .blob_len = fds->blob_len};
    union offer_cmsg c = {0};
    struct iovec iov = {&m, sizeof(m)};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = c.buf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)fds->n)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

    snprintf(m.datapath, sizeof(m.datapath), "%s", datapath);
    memcpy(m.port, fds->port, sizeof(m.port));
    memcpy(m.blob, fds->blob, sizeof(m.blob));
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)fds->n);
    memcpy(CMSG_DATA(cm), fds->fd, sizeof(int) * (size_t)fds->n);
    sendmsg(sock, &mh, MSG_NOSIGNAL);
}

/* The offer thread: each connection from a process of this user (or root) gets the sockets, until
 * takeover_offer_stop writes to the stop eventfd. */
static void *offer_run(void *arg)
{
    struct takeover_offer *o = arg;
    struct pollfd p[2] = {{.fd = o->sock, .events = POLLIN}, {.fd = o->stop, .events = POLLIN}};

    while (poll(p, 2, -1) >= 0 || errno == EINTR) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        int c;

        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        c = accept4(o->sock, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        if (!getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) && (cred.uid == 0 || cred.uid == geteuid()))
            send_listeners(c, o->datapath, &o->fds);
        else
            fprintf(stderr, "takeover: refused the listening sockets to pid %d of another user (uid %u)\n",
                    (int)cred.pid, (unsigned)cred.uid);
        close(c);
    }
    return NULL;
}

int takeover_offer_start(struct takeover_offer *o, struct server *srv, struct err *e)
{
    struct sockaddr_un a;
    socklen_t alen = control_addr(getpid(), &a);
    int errnum;

    o->sock = o->stop = -1;
    if (!srv->cfg.datapath->listeners)
        return 0;
    o->datapath = srv->cfg.datapath->name;
    if (srv->cfg.datapath->listeners(srv, &o->fds) < 0)
        return ERR(e, EXIT_STATUS_USAGE, 0,
                   "more than %d listening sockets: a successor could not take them over",
                   SERVER_MAX_INHERITED);
    o->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    o->stop = eventfd(0, EFD_CLOEXEC);
    if (o->sock < 0 || o->stop < 0 || bind(o->sock, (struct sockaddr *)&a, alen) || listen(o->sock, 4) ||
        (errno = pthread_create(&o->thread, NULL, offer_run, o))) {
        errnum = errno;
        if (o->sock >= 0)
            close(o->sock);
        if (o->stop >= 0)
            close(o->stop);
        o->sock = o->stop = -1;
        return ERR(e, EXIT_STATUS_FAILURE, errnum, "cannot offer the listening sockets for a takeover");
    }
    return 0;
}

void takeover_offer_stop(struct takeover_offer *o)
{
    if (o->sock < 0)
        return;
    eventfd_write(o->stop, 1);
    pthread_join(o->thread, NULL);
    close(o->sock);
    close(o->stop);
    o->sock = o->stop = -1;
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
