/* SPDX-License-Identifier: MIT */
/*
 * gsync - group commit: one fsync of a directory covers every rename made in it before
 * that fsync started, so concurrent committers share directory fsyncs instead of paying
 * one each (after the group commit of database logs; Postfix leaves the directory to the
 * filesystem, we may not because the 250 follows).
 *
 *   gsync_init(g) / gsync_destroy(g)
 *   gsync_ticket(g)              after a rename: the rename's sequence number
 *   gsync_wait(g, t, fn, arg, e) return once a directory fsync that STARTED after ticket
 *                                t was taken has completed; runs fn(arg) (the fsync) itself
 *                                when no fsync is under way, else waits for the one
 *                                running and checks again (it may have started too early)
 *   gsync_stats(g, &st)          how many fsyncs ran and how many waits they covered
 *
 * Correctness: the leader reads the highest ticket handed out (under the lock) before it
 * calls fn; when fn succeeds every ticket up to that value is covered. A waiter whose
 * ticket is above it waits for, or becomes, the next leader. A failed fn covers nobody:
 * its leader returns the error, and the others go on to run their own fsync.
 *
 * Threads: any number, the point of it. fn runs without the lock held.
 * Errors: gsync_wait returns fn's result (0 or -ARC_E*, detail in e) when this thread ran
 * the fsync that covered it, else 0.
 */
#ifndef ARCPROXY_GSYNC_H
#define ARCPROXY_GSYNC_H

#include <pthread.h>
#include <stdint.h>

#include "../util/err.h"

struct gsync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t issued; /* last ticket handed out */
    uint64_t synced; /* every ticket <= this one is durable */
    int busy;        /* a leader is inside fn */
    uint64_t nsync, ncovered;
};

struct gsync_stats {
    uint64_t fsyncs;  /* fn calls (successful or not) */
    uint64_t covered; /* waits satisfied by another thread's fsync */
};

typedef int (*gsync_fn)(void *arg, struct err *e);

void gsync_init(struct gsync *g);
void gsync_destroy(struct gsync *g);
uint64_t gsync_ticket(struct gsync *g);
int gsync_wait(struct gsync *g, uint64_t ticket, gsync_fn fn, void *arg, struct err *e);
void gsync_stats(struct gsync *g, struct gsync_stats *st);

#endif
