/* SPDX-License-Identifier: MIT */
/*
 * gsync - group commit of directory fsyncs; see gsync.h.
 */
#include "gsync.h"

void
gsync_init(struct gsync *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->issued = g->synced = 0;
    g->busy = 0;
    g->nsync = g->ncovered = 0;
}

void
gsync_destroy(struct gsync *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

uint64_t
gsync_ticket(struct gsync *g)
{
    pthread_mutex_lock(&g->mu);
    uint64_t t = ++g->issued;
    pthread_mutex_unlock(&g->mu);
    return t;
}

int
gsync_wait(struct gsync *g, uint64_t ticket, gsync_fn fn, void *arg, struct err *e)
{
    int rc = 0, led = 0;
    pthread_mutex_lock(&g->mu);
    while (g->synced < ticket) {
        if (g->busy) {
            pthread_cond_wait(&g->cv, &g->mu);
            continue;
        }
        /* lead: everything issued so far is covered if fn succeeds */
        uint64_t upto = g->issued;
        led = 1;
        g->busy = 1;
        g->nsync++;
        pthread_mutex_unlock(&g->mu);
        rc = fn(arg, e);
        pthread_mutex_lock(&g->mu);
        g->busy = 0;
        if (rc == 0 && upto > g->synced)
            g->synced = upto;
        pthread_cond_broadcast(&g->cv);
        if (rc < 0)
            break; /* our own fsync failed: so does our commit; the others retry */
    }
    /* covered by another's fsync: after waiting for it, or already before we came (it
     * started after our rename and ended before this call) */
    if (!led)
        g->ncovered++;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

void
gsync_stats(struct gsync *g, struct gsync_stats *st)
{
    pthread_mutex_lock(&g->mu);
    st->fsyncs = g->nsync;
    st->covered = g->ncovered;
    pthread_mutex_unlock(&g->mu);
}
