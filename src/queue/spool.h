/* SPDX-License-Identifier: MIT */
/*
 * spool - the on-disk message spool: one self-checking file per message, published
 * only once it is durable, so that "250 after commit" never loses a message.
 *
 *   spool_open(dir, &sp, e)          create/check dir (0700) with tmp/ queue/ corrupt/; lock it
 *   spool_close(sp)                  NULL is fine; returns NULL
 *   spool_recover(sp, cb, ctx, e)    at start, before any writer: drop tmp/, verify queue/,
 *                                    report complete files, move the others to corrupt/
 *
 *   spool_create(sp, &w, e)          new message in tmp/ID (O_EXCL, 0600)
 *   spool_writer_id(w)               its queue id (for log lines from the start)
 *   spool_put_sender / _rcpt / _param / _attr   envelope records, before any data
 *   spool_write(w, p, n, e)          message bytes, buffered, any number of calls
 *   spool_put_prepend(w, p, n, e)    header fields to send before the data (ARC set)
 *   spool_put_data_skip(w, n, e)     readers leave out the first n data bytes (a header
 *                                    section rewritten into the prepend); once, after data
 *   spool_commit(w, id, e)           END + flush + fsync + close + rename + fsync(dir)
 *   spool_commit_flags(w, id, fl, e) the same; SPOOL_NOSYNC: END + close + rename only
 *                                    (published and readable, not durable: proxy mode)
 *   spool_abort(w)                   close + unlink; NULL is fine; returns NULL
 *
 *   spool_read_open(sp, id, &r, e)   verify the whole file, then open it for reading
 *   spool_read_env(r)                envelope (sender, recipients, params, attrs, prepend)
 *   spool_read_data(r, buf, cap, e)  message bytes: fills buf (short only at the end),
 *                                    0 at the end, < 0 error; never the skipped ones
 *   spool_read_skip(r, n, e)         before the first spool_read_data: leave out n more
 *                                    data bytes (env.size shrinks, env.data_skip grows)
 *   spool_read_close(r)              NULL is fine; returns NULL
 *   spool_remove(sp, id, e)          unlink queue/ID and fsync the directory
 *   spool_remove_flags(sp, id, fl, e) SPOOL_NOSYNC: unlink only
 *   spool_stats(sp, &st)             commits, fsyncs of files and of queue/ (counters)
 *
 * Durability: a message is durable exactly when spool_commit returned 0 (without
 * SPOOL_NOSYNC: that variant publishes a file a crash may lose or truncate, which
 * spool_recover then finds incomplete; for callers that never promised it). Files in tmp/
 * are writes in progress (after a crash: aborted writes, removed by spool_recover);
 * files in queue/ were renamed there only after their bytes were fsync'd, and the
 * directory is fsync'd before spool_commit returns. Every file ends with an END record
 * carrying a CRC-32 of all bytes before it, so a torn, truncated or altered file is
 * detected on reading and moved to corrupt/ by spool_recover, never deleted.
 *
 * Ownership: struct spool is the caller's until spool_close; writers and readers borrow
 * it and must be finished first. A writer is freed by spool_commit (whatever its result)
 * or spool_abort. Strings given to spool_put_* are copied. Everything spool_read_env
 * returns is owned by the reader and valid until spool_read_close.
 *
 * Threads: the calls are synchronous and block on disk I/O; run them off the event loop
 * (uv_queue_work). One struct spool may be shared by threads (id generation is atomic);
 * one writer or reader belongs to one thread at a time. The directory is locked (flock)
 * so a second process cannot recover the first one's writes in progress.
 *
 * Errors: 0 or -ARC_E* with detail in e: ARC_EIO (system call failed; e->sys is errno),
 * ARC_EINVAL (bad argument; on reading: the file is incomplete or corrupt), ARC_ERANGE
 * (a limit below), ARC_ESTATE (call out of order: envelope after data, commit without
 * sender or recipient, write after an error), ARC_ENOENT (no such queue id), ARC_ETEMP
 * (spool locked by another process). spool_recover goes on past a file it cannot read
 * or remove (left in place, logged) and returns the first such error at the end; an
 * unreadable file is not a corrupt one. Argument and limit errors leave a writer usable
 * (nothing was written: reply 452 to that RCPT and go on); after an I/O error it can only
 * be aborted (spool_commit on it fails and cleans up).
 *
 * Limits: SPOOL_MAX_* below; the reader enforces the same ones before allocating, so a
 * corrupt length field cannot cause a large allocation. Message size is not limited
 * here (the SMTP layer does that); the data is streamed, never held.
 *
 * Costs: a commit is one write, fsync(file), close, rename, fsync(dir); the directory
 * fsync is a group commit (gsync.h): concurrent commits on several threads fsync their
 * files at the same time and share one fsync(queue/) started after their renames. A
 * large message
 * has its writeback started every 4 MiB as it arrives (Linux), so the commit's fsync
 * finds little left. spool_read_open reads the whole file once before streaming it, and
 * spool_recover reads every queued file: both are linear in bytes (CRC-32, slicing-by-8).
 *
 * Not done: per-recipient delivery state (the caller rewrites a partly delivered
 * message as a new file with the recipients left); directory hashing for very
 * large queues; protection against a lying disk (fsync is trusted).
 */
#ifndef ARCPROXY_SPOOL_H
#define ARCPROXY_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../util/buf.h"
#include "../util/err.h"

#define SPOOL_ID_MAX      64        /* queue id bytes including the NUL */
#define SPOOL_MAX_RCPTS   1000      /* recipients per message */
#define SPOOL_MAX_PARAMS  64        /* MAIL parameters */
#define SPOOL_MAX_ATTRS   64        /* attributes (XFORWARD, client, arrival ...) */
#define SPOOL_MAX_FIELD   4096      /* one address, key or value */
#define SPOOL_MAX_ENV     (1 << 20) /* all envelope records together */
#define SPOOL_MAX_PREPEND (1 << 18) /* all prepended header bytes together */
#define SPOOL_MAX_RECORD  (1 << 16) /* one record's data (data records are this big) */

#define SPOOL_NOSYNC 1u /* flag: publish or remove without fsync (not durable) */

struct spool;
struct spool_writer;
struct spool_reader;

/* spool_kv - a MAIL parameter or an attribute; value NULL for a bare keyword
 * (SMTPUTF8) or an unavailable attribute. */
struct spool_kv {
    const char *key;
    const char *value;
};

/* spool_rcpt - one recipient; notify and orcpt are the DSN parameters as received
 * (NOTIFY= value, ORCPT= xtext), NULL when absent. */
struct spool_rcpt {
    const char *addr;
    const char *notify;
    const char *orcpt;
};

/* spool_env - the envelope of a spooled message, as the reader returns it. */
struct spool_env {
    const char *sender; /* "" for the null sender <> */
    const struct spool_rcpt *rcpts;
    size_t nrcpts;
    const struct spool_kv *params; /* MAIL parameters, order kept */
    size_t nparams;
    const struct spool_kv *attrs; /* order kept */
    size_t nattrs;
    struct span prepend; /* bytes to send before the data; may be empty */
    uint64_t size;       /* message data bytes (without prepend and skipped bytes) */
    uint64_t data_skip;  /* stored data bytes spool_read_data leaves out (K record) */
};

/* spool_recover_fn - called by spool_recover once for each complete message. */
typedef void (*spool_recover_fn)(void *ctx, const char *id);

int spool_open(const char *dir, struct spool **spp, struct err *e);
struct spool *spool_close(struct spool *sp);
int spool_recover(struct spool *sp, spool_recover_fn cb, void *ctx, struct err *e);

int spool_create(struct spool *sp, struct spool_writer **wp, struct err *e);
const char *spool_writer_id(const struct spool_writer *w);
int spool_put_sender(struct spool_writer *w, const char *sender, struct err *e);
int spool_put_rcpt(struct spool_writer *w, const char *addr, const char *notify, const char *orcpt,
                   struct err *e);
int spool_put_param(struct spool_writer *w, const char *key, const char *value, struct err *e);
int spool_put_attr(struct spool_writer *w, const char *key, const char *value, struct err *e);
int spool_write(struct spool_writer *w, const void *p, size_t n, struct err *e);
int spool_put_prepend(struct spool_writer *w, const void *p, size_t n, struct err *e);
/* spool_put_data_skip - -ARC_ESTATE when given twice, -ARC_ERANGE over the data written */
int spool_put_data_skip(struct spool_writer *w, uint64_t n, struct err *e);
/* spool_commit - make the message durable; id_out (SPOOL_ID_MAX bytes) may be NULL.
 * w is freed in every case; on failure nothing of the message is left in the spool. */
int spool_commit(struct spool_writer *w, char *id_out, struct err *e);
int spool_commit_flags(struct spool_writer *w, char *id_out, unsigned flags, struct err *e);
struct spool_writer *spool_abort(struct spool_writer *w);

int spool_read_open(struct spool *sp, const char *id, struct spool_reader **rp, struct err *e);
const struct spool_env *spool_read_env(const struct spool_reader *r);
ssize_t spool_read_data(struct spool_reader *r, void *buf, size_t cap, struct err *e);
/* spool_read_skip - -ARC_ESTATE after spool_read_data, -ARC_ERANGE over env.size */
int spool_read_skip(struct spool_reader *r, uint64_t n, struct err *e);
struct spool_reader *spool_read_close(struct spool_reader *r);
int spool_remove(struct spool *sp, const char *id, struct err *e);
int spool_remove_flags(struct spool *sp, const char *id, unsigned flags, struct err *e);

/* spool_stats - counters since spool_open (any thread). */
struct spool_stats {
    uint64_t commits;           /* durable commits that succeeded */
    uint64_t commits_nosync;    /* SPOOL_NOSYNC commits that succeeded */
    uint64_t file_fsyncs;       /* fsync of a message file */
    uint64_t dir_fsyncs;        /* fsync of queue/ (commits and removes) */
    uint64_t dir_fsyncs_shared; /* durable renames/unlinks covered by another's fsync */
    uint64_t recycled;          /* spool_create calls that reused a removed file */
};
void spool_stats(struct spool *sp, struct spool_stats *st);

/* spool_env_attr - value of the first attribute named key (case-sensitive), or NULL. */
const char *spool_env_attr(const struct spool_env *env, const char *key);
/* spool_id_valid - 1 if s has the shape of a queue id (what may name a file here). */
int spool_id_valid(const char *s);

#endif
