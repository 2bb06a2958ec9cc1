/* SPDX-License-Identifier: MIT */
/* privs - switching to the run user; see privs.h. */
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "privs.h"

/* numeric - s is all digits: *v set. */
static int
numeric(const char *s, unsigned long *v)
{
    char *end;
    if (!*s || strspn(s, "0123456789") != strlen(s))
        return 0;
    errno = 0;
    *v = strtoul(s, &end, 10);
    return errno == 0 && *v < 0xffffffffUL;
}

int
privs_lookup(const char *user, const char *group, struct privs_ids *ids, struct err *e)
{
    unsigned long v;
    memset(ids, 0, sizeof *ids);
    struct passwd *pw = getpwnam(user);
    if (pw) {
        ids->uid = pw->pw_uid;
        ids->gid = pw->pw_gid;
    } else if (numeric(user, &v)) {
        ids->uid = (uid_t)v;
        ids->gid = (gid_t)v;
        if ((pw = getpwuid(ids->uid)))
            ids->gid = pw->pw_gid;
    } else {
        return err_set(e, ARC_ENOENT, "user %s: no such user", user);
    }
    snprintf(ids->user, sizeof ids->user, "%s", user);
    if (group && *group) {
        struct group *gr = getgrnam(group);
        if (gr)
            ids->gid = gr->gr_gid;
        else if (numeric(group, &v))
            ids->gid = (gid_t)v;
        else
            return err_set(e, ARC_ENOENT, "group %s: no such group", group);
    }
    return 0;
}

/* nftw has no context argument: the walk's state, used only at start-up (one thread) */
static const struct privs_ids *walk_ids;
static int walk_errno;
static char walk_path[256];

static int
walk_cb(const char *path, const struct stat *st, int type, struct FTW *f)
{
    if (st->st_uid == walk_ids->uid && st->st_gid == walk_ids->gid)
        return 0;
    if (lchown(path, walk_ids->uid, walk_ids->gid) != 0) {
        walk_errno = errno;
        snprintf(walk_path, sizeof walk_path, "%s", path);
        return 1;
    }
    return 0;
}

int
privs_chown_tree(const char *dir, const struct privs_ids *ids, struct err *e)
{
    walk_ids = ids;
    walk_errno = 0;
    int rc = nftw(dir, walk_cb, 16, FTW_PHYS | FTW_MOUNT);
    if (rc == 0)
        return 0;
    if (rc == 1) {
        int r =
            err_set(e, ARC_EIO, "chown %s to %s: %s", walk_path, ids->user, strerror(walk_errno));
        if (e)
            e->sys = walk_errno;
        return r;
    }
    return err_set(e, ARC_EIO, "walk %s: %s", dir, strerror(errno));
}

int
privs_drop(const struct privs_ids *ids, struct err *e)
{
    gid_t g = ids->gid;
    if (setgroups(0, NULL) != 0)
        return err_set(e, ARC_EIO, "setgroups: %s", strerror(errno));
    if (setresgid(g, g, g) != 0)
        return err_set(e, ARC_EIO, "setgid %u: %s", (unsigned)g, strerror(errno));
    if (setresuid(ids->uid, ids->uid, ids->uid) != 0)
        return err_set(e, ARC_EIO, "setuid %u: %s", (unsigned)ids->uid, strerror(errno));
    uid_t ru, eu, su;
    gid_t rg, eg, sg, list[2];
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
        return err_set(e, ARC_EIO, "getresuid: %s", strerror(errno));
    int ng = getgroups(2, list);
    if (ru != ids->uid || eu != ids->uid || su != ids->uid || rg != g || eg != g || sg != g ||
        ng != 0)
        return err_set(e, ARC_ESTATE, "switching to user %s did not stick", ids->user);
    if (ids->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return err_set(e, ARC_ESTATE, "user %s can become root again: refusing to run", ids->user);
    return 0;
}

int
privs_root_check(int is_root, const char *user, int allow_root, struct err *e)
{
    if (!is_root || (user && *user) || allow_root)
        return 0;
    return err_set(e, ARC_ESTATE,
                   "refusing to run as root: set user (e.g. user: nobody) to switch to after "
                   "binding, or allow_root: true");
}
