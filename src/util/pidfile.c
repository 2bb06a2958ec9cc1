/* SPDX-License-Identifier: MIT */
/* pidfile - see pidfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidfile.h"
#include "xalloc.h"

struct pidfile {
    int fd;
    pid_t pid;
    char *path;
};

/* read_pid - the pid written in fd, or 0. */
static pid_t
read_pid(int fd)
{
    char b[32];
    ssize_t n = pread(fd, b, sizeof b - 1, 0);
    if (n <= 0)
        return 0;
    b[n] = '\0';
    long v = strtol(b, NULL, 10);
    return v > 0 && v < 0x7fffffff ? (pid_t)v : 0;
}

/* is_arcproxy - pid is alive and its command name is arcproxy. */
static int
is_arcproxy(pid_t pid)
{
    char path[64], comm[64] = "";
    if (kill(pid, 0) != 0 && errno != EPERM)
        return 0;
    snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1; /* alive; cannot tell what it is: assume the worst */
    if (!fgets(comm, sizeof comm, f))
        comm[0] = '\0';
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    return strcmp(comm, "arcproxy") == 0;
}

int
pidfile_open(const char *path, struct pidfile **pfp, struct err *e)
{
    *pfp = NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return err_set(e, ARC_EIO, "pidfile %s: %s", path, strerror(errno));
    pid_t other = read_pid(fd);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int sys = errno;
        close(fd);
        if (sys == EWOULDBLOCK)
            return err_set(e, ARC_ESTATE, "pidfile %s: arcproxy (pid %ld) is running", path,
                           (long)other);
        return err_set(e, ARC_EIO, "pidfile %s: lock: %s", path, strerror(sys));
    }
    if (other && other != getpid() && is_arcproxy(other)) {
        close(fd);
        return err_set(e, ARC_ESTATE, "pidfile %s: names a running arcproxy (pid %ld)", path,
                       (long)other);
    }
    char b[32];
    int n = snprintf(b, sizeof b, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, b, (size_t)n, 0) != n) {
        int sys = errno;
        close(fd);
        return err_set(e, ARC_EIO, "pidfile %s: write: %s", path, strerror(sys));
    }
    struct pidfile *pf = xcalloc(1, sizeof *pf);
    pf->fd = fd;
    pf->pid = getpid();
    pf->path = xstrdup(path);
    *pfp = pf;
    return 0;
}

struct pidfile *
pidfile_close(struct pidfile *pf, int unlink_it, struct err *e)
{
    if (!pf)
        return NULL;
    if (unlink_it && read_pid(pf->fd) == pf->pid && unlink(pf->path) != 0) {
        /* (the directory is not ours after a privilege drop) at least leave no pid in it */
        err_set(e, ARC_EIO, "pidfile %s: unlink: %s (emptied instead)", pf->path, strerror(errno));
        if (ftruncate(pf->fd, 0) != 0)
            err_set(e, ARC_EIO, "pidfile %s: cannot remove or empty it", pf->path);
    }
    close(pf->fd);
    free(pf->path);
    free(pf);
    return NULL;
}
