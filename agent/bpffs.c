/*
 * bpffs.c — refusing a BPF filesystem that will not outlive the command.
 *
 * Pins live as long as the BPF filesystem instance that holds them, and an instance lives as long
 * as it is mounted in some mount namespace that still has a process in it. `ip netns exec NS CMD`
 * runs CMD in a mount namespace of its own with a fresh /sys and no BPF filesystem: an agent that
 * mounted one there and pinned into it would report success and lose every pin (and the link, so
 * the program detaches) the moment it exits. So before anything is mounted or pinned, the agent
 * judges /sys/fs/bpf against its caller: its parent process (the shell, script, systemd or
 * container shell that ran it; not PID 1, which may be outside a container), or, when the parent
 * shares the agent's mount namespace, the nearest ancestor that does not (`ip netns exec NS sh -c
 * '...'` puts a shell between the two, inside the private namespace).
 *
 *   1. No ancestor outside our mount namespace (up to PID 1 or the edge of our PID namespace):
 *      the namespace is the system's or a container's and outlives the command. Go on, mounting a
 *      BPF filesystem there if there is none, as ever.
 *   2. The caller is outside, but /sys/fs/bpf is a BPF filesystem and the caller sees the same
 *      instance (same device) at its /sys/fs/bpf: an inherited copy of the mount, as `unshare -m`
 *      makes. The pins land where everyone else looks. Go on.
 *   3. Otherwise, a process that is neither the agent nor one of its ancestors lives in our mount
 *      namespace (`docker exec` into a container without a PID namespace of its own: the
 *      container's processes): the namespace, and anything mounted in it, outlives the command.
 *      Go on.
 *   4. Otherwise the BPF filesystem is one the agent would mount, or one mounted only for this
 *      command's namespace: refuse, exit status 6, with the `nsenter --net` hint, changing nothing.
 *
 * An ancestor that cannot be examined (getppid() is 0 when the parent is outside our PID
 * namespace, as for `docker exec` or `kubectl exec`; /proc unreadable) ends the walk as in case 1:
 * the agent cannot tell, and such callers run in a container's long-lived namespace.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "agent/agent.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

#define BPFFS_DIR "/sys/fs/bpf"

/* Is path a BPF filesystem? Its device in *dev when it is. */
static bool is_bpffs(const char *path, dev_t *dev)
{
    struct statfs sfs;
    struct stat st;

    if (statfs(path, &sfs) < 0 || sfs.f_type != BPF_FS_MAGIC || stat(path, &st) < 0)
        return false;
    *dev = st.st_dev;
    return true;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

#define MAX_ANCESTORS 64

static bool same_ns(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* The parent of pid from /proc/PID/stat (after the last ')': state, then ppid); 0 when unknown. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512], *p;
    FILE *f;
    size_t n;
    int ppid = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
        return 0;
    return ppid;
}

/*
 * Walk up from our parent while the ancestors share our mount namespace *mnt (they are kept in
 * anc[0..*n)); the first one outside it, or 0 when the walk ends without one (case 1).
 */
static pid_t caller_outside(const struct stat *mnt, pid_t *anc, size_t *n)
{
    pid_t pid = getppid();

    *n = 0;
    while (pid > 0 && *n < MAX_ANCESTORS) {
        char path[64];
        struct stat st;

        snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
        if (stat(path, &st) < 0)
            return 0;
        if (!same_ns(&st, mnt))
            return pid;
        anc[(*n)++] = pid;
        pid = parent_of(pid);
    }
    return 0;
}

/* Does a process other than this one and its ancestors anc[0..n) live in the mount namespace *mnt? */
static bool mntns_shared(const struct stat *mnt, const pid_t *anc, size_t n)
{
    pid_t self = getpid();
    struct dirent *de;
    bool shared = false;
    DIR *d = opendir("/proc");

    while (d && !shared && (de = readdir(d))) {
        char path[64], *end;
        long pid = strtol(de->d_name, &end, 10);
        bool ancestor = false;
        struct stat st;

        if (*end || pid <= 0 || pid == self)
            continue;
        for (size_t i = 0; i < n; i++)
            ancestor |= anc[i] == pid;
        snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", pid);
        shared = !ancestor && stat(path, &st) == 0 && same_ns(&st, mnt);
    }
    if (d)
        closedir(d);
    return shared;
}

/* The name under /run/netns of the network namespace we are in, or "NS" when it has none. */
static void netns_name(char *buf, size_t len)
{
    struct dirent *de;
    DIR *d = opendir("/run/netns");

    snprintf(buf, len, "NS");
    while (d && (de = readdir(d))) {
        char path[PATH_MAX];

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
        if (same_file(path, "/proc/self/ns/net")) {
            snprintf(buf, len, "%s", de->d_name);
            break;
        }
    }
    if (d)
        closedir(d);
}

static int check_bpffs(struct err *e)
{
    char caller_bpffs[64], ns[NAME_MAX + 1];
    struct stat mnt;
    struct statfs sfs;
    pid_t anc[MAX_ANCESTORS], caller;
    size_t n;
    dev_t ours, theirs;

    if (statfs(BPFFS_DIR, &sfs) < 0)
        return 0; /* nothing can be mounted there either: pins_ensure_bpffs says so */
    if (stat("/proc/self/ns/mnt", &mnt) < 0)
        return 0;
    caller = caller_outside(&mnt, anc, &n);
    if (!caller)
        return 0; /* case 1 */
    snprintf(caller_bpffs, sizeof(caller_bpffs), "/proc/%d/root" BPFFS_DIR, (int)caller);
    if (is_bpffs(BPFFS_DIR, &ours) && is_bpffs(caller_bpffs, &theirs) && ours == theirs)
        return 0; /* case 2 */
    if (mntns_shared(&mnt, anc, n))
        return 0; /* case 3 */
    netns_name(ns, sizeof(ns));
    return ERR(e, EXIT_STATUS_STATE, 0,
               BPFFS_DIR " here is private to this command's mount namespace (ip netns exec?), pins would "
                         "vanish when it exits; run it as `nsenter --net=/run/netns/%s sluice-agent ...`",
               ns);
}

int agent_ensure_bpffs(struct err *e)
{
    if (check_bpffs(e))
        return -1;
    return pins_ensure_bpffs(e);
}
