/*
 * bpffs.c — refusing a BPF filesystem that will not outlive the command.
 *
 * Pins live as long as the BPF filesystem instance that holds them, and an instance lives as long
 * as it is mounted in some mount namespace that still has a process in it. `ip netns exec NS CMD`
 * runs CMD in a mount namespace of its own with a fresh /sys and no BPF filesystem: an agent that
 * mounted one there and pinned into it would report success and lose every pin (and the link, so
 * the program detaches) the moment it exits. So before anything is mounted or pinned, the agent
 * applies this rule to /sys/fs/bpf, judged against its parent process (the shell, script, systemd
 * or container shell that ran it; not PID 1, which in a container is outside):
 *
 *   1. Same mount namespace as the parent: whatever is there, or what the agent mounts there,
 *      belongs to a namespace that outlives the command. Go on (mounting one if needed).
 *   2. A namespace of its own, but /sys/fs/bpf is a BPF filesystem and the parent sees the same
 *      instance (same device) at its /sys/fs/bpf: an inherited copy of the mount, as `unshare -m`
 *      makes. The pins land where everyone else looks. Go on.
 *   3. Otherwise, another process shares this mount namespace (`docker exec` into a container
 *      without a PID namespace of its own): the namespace, and anything mounted in it, outlives
 *      the command. Go on.
 *   4. Otherwise the BPF filesystem is one the agent would mount, or one mounted only for this
 *      command's namespace: refuse, exit status 6, with the `nsenter --net` hint.
 *
 * A parent that cannot be examined (getppid() is 0 when it is outside our PID namespace, as for
 * `docker exec` or `kubectl exec`; /proc unreadable) is taken as case 1: the agent cannot tell, and
 * such callers run in a container's long-lived namespace. Known gap: `ip netns exec NS sh -c 'a; b'`
 * runs the agent from a shell inside the private namespace (case 1), so the pins last as long as
 * that shell does.
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

/* Does a process other than this one live in the mount namespace *mnt? */
static bool mntns_shared(const struct stat *mnt)
{
    pid_t self = getpid();
    struct dirent *de;
    bool shared = false;
    DIR *d = opendir("/proc");

    while (d && !shared && (de = readdir(d))) {
        char path[64], *end;
        long pid = strtol(de->d_name, &end, 10);
        struct stat st;

        if (*end || pid <= 0 || pid == self)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", pid);
        shared = stat(path, &st) == 0 && st.st_dev == mnt->st_dev && st.st_ino == mnt->st_ino;
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
    char parent_ns[64], parent_bpffs[64], ns[NAME_MAX + 1];
    struct stat self_mnt, parent_mnt;
    struct statfs sfs;
    dev_t ours, theirs;
    pid_t ppid = getppid();

    if (statfs(BPFFS_DIR, &sfs) < 0)
        return 0; /* nothing can be mounted there either: pins_ensure_bpffs says so */
    if (ppid <= 0)
        return 0; /* the parent is outside our PID namespace: cannot tell (see the rule above) */
    snprintf(parent_ns, sizeof(parent_ns), "/proc/%d/ns/mnt", (int)ppid);
    snprintf(parent_bpffs, sizeof(parent_bpffs), "/proc/%d/root" BPFFS_DIR, (int)ppid);
    if (stat("/proc/self/ns/mnt", &self_mnt) < 0 || stat(parent_ns, &parent_mnt) < 0)
        return 0;
    if (self_mnt.st_dev == parent_mnt.st_dev && self_mnt.st_ino == parent_mnt.st_ino)
        return 0; /* rule 1 */
    if (is_bpffs(BPFFS_DIR, &ours) && is_bpffs(parent_bpffs, &theirs) && ours == theirs)
        return 0; /* rule 2 */
    if (mntns_shared(&self_mnt))
        return 0; /* rule 3 */
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
