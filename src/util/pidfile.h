/* SPDX-License-Identifier: MIT */
/*
 * pidfile - the daemon's process id in a file, held with a lock while it runs.
 *
 *   pidfile_open(path, &pf, e)   open or create path (0644), take an exclusive flock on
 *                                it and write our pid; refuses (-ARC_ESTATE) when another
 *                                process holds the lock, or when the file names another
 *                                live process called arcproxy (a daemon that does not
 *                                lock, or a copy in another mount namespace)
 *   pidfile_close(pf, unlink)    unlink the file (when asked and it still holds our pid;
 *                                if unlink is not permitted, empty it), close it, free;
 *                                NULL is fine; returns NULL
 *
 * The lock is what makes a stale file (a crash, kill -9) harmless: the kernel released
 * it. The descriptor is kept open (close-on-exec) for the life of the process, so the
 * lock survives a privilege drop; unlinking at exit needs write permission on the
 * directory for the user we run as then (a failure is returned, not fatal).
 */
#ifndef ARCPROXY_PIDFILE_H
#define ARCPROXY_PIDFILE_H

#include "err.h"

struct pidfile;

int pidfile_open(const char *path, struct pidfile **pfp, struct err *e);
struct pidfile *pidfile_close(struct pidfile *pf, int unlink_it, struct err *e);

#endif
