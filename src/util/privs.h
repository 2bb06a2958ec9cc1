/* SPDX-License-Identifier: MIT */
/*
 * privs - running as root only as long as needed: look the run user up, hand it the
 * directories it must write, and drop to it for good.
 *
 *   privs_lookup(user, group, &ids, e)   user name (or numeric uid) and group name (or
 *                                        gid; NULL/"" = the user's primary group)
 *   privs_chown_tree(dir, &ids, e)       dir and everything below it (no symlinks
 *                                        followed) owned by ids, where it is not yet
 *   privs_drop(&ids, e)                  setgroups(0), setresgid, setresuid; then checks
 *                                        that real/effective/saved ids are the new ones,
 *                                        that there are no other groups, and that
 *                                        setuid(0) fails (root cannot be regained)
 *   privs_root_check(is_root, user, allow_root, e)   the "refuse to run as root" rule:
 *                                        root without a user to switch to is an error
 *                                        unless allow_root
 *
 * Errors: -ARC_ENOENT (no such user or group), -ARC_EIO (a system call failed; e->sys),
 * -ARC_ESTATE (the drop did not stick, or root without user and allow_root unset).
 * Only called at start-up, before the loop runs: a failure stops the daemon.
 */
#ifndef ARCPROXY_PRIVS_H
#define ARCPROXY_PRIVS_H

#include <sys/types.h>

#include "err.h"

struct privs_ids {
    uid_t uid;
    gid_t gid;
    char user[64];
};

int privs_lookup(const char *user, const char *group, struct privs_ids *ids, struct err *e);
int privs_chown_tree(const char *dir, const struct privs_ids *ids, struct err *e);
int privs_drop(const struct privs_ids *ids, struct err *e);
int privs_root_check(int is_root, const char *user, int allow_root, struct err *e);

#endif
