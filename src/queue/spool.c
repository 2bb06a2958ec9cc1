/* SPDX-License-Identifier: MIT */
/*
 * spool - self-checking queue files, written to tmp/, published to queue/; see spool.h.
 *
 * File format (version 1), after Postfix global/record.c: a file is a sequence of records
 *
 *     type (1 byte) | length (4 bytes, big-endian) | data (length bytes)
 *
 *   'M'  magic, data exactly "arcproxy spool 1"; always the first record
 *   'S'  sender, exactly one        \
 *   'R'  recipient                   | envelope: any order, all before the first D or H;
 *   'P'  MAIL parameter              | data = fields: u16 length (0xffff: absent) + bytes,
 *   'A'  attribute                  /  S: addr; R: addr, notify, orcpt; P/A: key, value
 *   'D'  message data, at most SPOOL_MAX_RECORD bytes each
 *   'H'  prepend bytes (header fields to send first), at most SPOOL_MAX_RECORD each
 *   'K'  data skip: u64, the first that many data bytes are not handed out by the reader
 *        (they were replaced by a rewritten header section in the prepend); at most one,
 *        after the envelope, not over the data size
 *   'E'  end: u64 data size, u32 CRC-32 (IEEE) of every byte of the file before the CRC
 *
 * and nothing after E. A file that is truncated anywhere, has a record out of order or
 * over its limit, a bad checksum or trailing bytes is incomplete: the reader verifies all
 * of it before handing out anything, and spool_recover moves it to corrupt/.
 *
 * Publishing (spool_commit), after OpenSMTPD queue_fs.c and Postfix mail_stream.c: END,
 * flush, fsync(file), close (checked: NFS and some filesystems report write errors only
 * here), rename(tmp/ID, queue/ID), fsync(queue/). The rename makes the file appear whole
 * or not at all; the first fsync makes sure that what appears has its bytes on disk; the
 * directory fsync makes the new name itself durable (Postfix leaves that to the
 * filesystem; we may not, because the 250 follows). Any failure unlinks whichever name
 * exists, so a message that was not acknowledged leaves nothing behind (should a crash
 * undo that unlink of queue/ID, the message goes out twice: a duplicate, never a loss).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "../util/log.h"
#include "../util/xalloc.h"
#include "gsync.h"
#include "spool.h"

#define REC_HDR     5
#define MAGIC       "arcproxy spool 1"
#define MAGIC_LEN   (sizeof(MAGIC) - 1)
#define END_LEN     12
#define FIELD_NULL  0xffffu
#define ENV_REC_MAX (3 * (2 + SPOOL_MAX_FIELD)) /* the largest envelope record (R) */
#define OUT_FLUSH   (32 * 1024)                 /* small records buffered up to this */
#define IBUF_SIZE   (64 * 1024)
#define KICK_BYTES  (4u << 20) /* start writeback every this many bytes */

enum rec_type {
    REC_MAGIC = 'M',
    REC_SENDER = 'S',
    REC_RCPT = 'R',
    REC_PARAM = 'P',
    REC_ATTR = 'A',
    REC_DATA = 'D',
    REC_PREPEND = 'H',
    REC_SKIP = 'K',
    REC_END = 'E',
};

#define FREE_MAX       1024               /* removed files kept in tmp/ for reuse */
#define FREE_MAX_SIZE  (256 * 1024)       /* larger ones are unlinked: blocks go back */
#define FREE_MAX_BYTES (32 * 1024 * 1024) /* the disk they may hold in all */
#define FREE_PREFIX    "free."
#define FREE_NAME_MAX  32 /* "free." and a 64-bit number, NUL included */

struct spool {
    char *dir;
    int rootfd, tmpfd, queuefd, corruptfd; /* rootfd also holds the flock */
    uint64_t seed;
    atomic_ulong counter;
    struct gsync dirsync; /* group commit of fsync(queue/) */
    atomic_ulong ncommit, ncommit_nosync, nfile_fsync, nrecycled;
    int dirsync_on;
    /* recycled files: tmp/free.N, each a removed message's inode waiting for the next
     * spool_create (see spool_remove_flags) */
    pthread_mutex_t free_mu;
    char free_names[FREE_MAX][FREE_NAME_MAX];
    off_t free_size[FREE_MAX];
    size_t nfree, nfree_held;
    off_t free_bytes; /* their sizes, and those held by renames under way */
    atomic_ulong free_seq;
};

struct spool_writer {
    struct spool *sp;
    int fd;
    char id[SPOOL_ID_MAX];
    char tmpname[SPOOL_ID_MAX]; /* its name in tmp/: the id, or a recycled free.N */
    int ioerr;                  /* an I/O error happened: only abort is left */
    int in_data;                /* a D or H record was started: the envelope is closed */
    int have_sender;
    int have_skip; /* a K record was written */
    size_t nrcpts, nparams, nattrs, env_bytes, prepend_bytes;
    uint64_t size;  /* message data bytes */
    uint32_t crc;   /* over every byte emitted so far, in file order */
    struct buf out; /* small records not yet written */
    char *data;     /* data record being filled (SPOOL_MAX_RECORD), allocated at first use */
    size_t dlen;
    uint64_t written, kicked; /* bytes written; bytes handed to early writeback */
};

struct spool_reader {
    struct spool *sp;
    int fd;
    char id[SPOOL_ID_MAX];
    unsigned char *ibuf, *rec; /* input buffer; one record's data */
    size_t ipos, ilen;
    uint64_t pos; /* file offset of the next unread byte */
    uint32_t crc; /* running CRC while verifying */
    int verifying;
    off_t data_off;    /* where the first D/H record starts */
    uint64_t rec_left; /* bytes left in the current D record while streaming */
    uint64_t skip;     /* data bytes spool_read_data leaves out (K record + spool_read_skip) */
    int have_skip;     /* a K record was seen */
    int started;       /* spool_read_data was called */
    int at_end;
    size_t env_bytes, rcap, pcap, acap;
    struct spool_rcpt *rcpts;
    struct spool_kv *params, *attrs;
    struct buf prepend;
    struct spool_env env;
};

/* ---- CRC-32 (IEEE 802.3, reflected), slicing by 8 ---- */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void
crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_tab[0][i] = c;
    }
    for (int i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
}

/* crc32_update - continue crc (0 to start) over n bytes. */
static uint32_t
crc32_update(uint32_t crc, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    crc = ~crc;
    while (n >= 8) {
        uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                            (uint32_t)p[3] << 24);
        uint32_t b =
            (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^ crc_tab[5][(a >> 16) & 0xff] ^
              crc_tab[4][a >> 24] ^ crc_tab[3][b & 0xff] ^ crc_tab[2][(b >> 8) & 0xff] ^
              crc_tab[1][(b >> 16) & 0xff] ^ crc_tab[0][b >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- small helpers ---- */

static void
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t
get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get_be64(const unsigned char *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* sys_err - err_set for a failed system call on a spool file; errno is kept. */
static int
sys_err(struct err *e, const char *what, const char *id)
{
    int saved = errno;
    int rc = err_set(e, ARC_EIO, "spool %s %s: %s", what, id, strerror(saved));
    errno = saved;
    return rc;
}

static void
close_fd(int *fdp)
{
    if (*fdp >= 0)
        close(*fdp);
    *fdp = -1;
}

int
spool_id_valid(const char *s)
{
    size_t n = 0;
    if (!s || s[0] == '\0' || s[0] == '.')
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 c == '.' || c == '-' || c == '_';
        if (!ok || n + 1 >= SPOOL_ID_MAX)
            return 0;
    }
    return 1;
}

const char *
spool_env_attr(const struct spool_env *env, const char *key)
{
    for (size_t i = 0; i < env->nattrs; i++)
        if (strcmp(env->attrs[i].key, key) == 0)
            return env->attrs[i].value;
    return NULL;
}

/* ---- opening the spool ---- */

/* open_subdir - create dir/name (0700) if missing and open it; *created tells. */
static int
open_subdir(struct spool *sp, const char *name, int *fdp, int *created, struct err *e)
{
    if (mkdirat(sp->rootfd, name, 0700) == 0)
        *created = 1;
    else if (errno != EEXIST)
        return sys_err(e, "mkdir", name);
    *fdp = openat(sp->rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (*fdp < 0)
        return sys_err(e, "open directory", name);
    return 0;
}

/* fsync_parent - make a newly created spool directory's own name durable. */
static int
fsync_parent(const char *dir, struct err *e)
{
    char *copy = xstrdup(dir);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || fsync(fd) < 0)
        rc = sys_err(e, "fsync parent of", dir);
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

/* probe_write - prove that tmp/ takes a file now rather than at the first message.
 * It writes no byte: a full disk must not stop a start that would deliver (and so
 * free) what is queued. */
static int
probe_write(struct spool *sp, struct err *e)
{
    int fd = openat(sp->tmpfd, ".probe", O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        return sys_err(e, "create", "tmp/.probe");
    close(fd);
    if (unlinkat(sp->tmpfd, ".probe", 0) < 0)
        return sys_err(e, "unlink", "tmp/.probe");
    return 0;
}

static uint64_t
random_seed(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid() << 32;
    }
    return s;
}

/* lock_root - one process per spool: another one's tmp/ files are not aborted writes. */
static int
lock_root(struct spool *sp, struct err *e)
{
    if (flock(sp->rootfd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    if (errno == EWOULDBLOCK)
        return err_set(e, ARC_ETEMP, "spool %s is in use by another process", sp->dir);
    return sys_err(e, "lock", sp->dir);
}

int
spool_open(const char *dir, struct spool **spp, struct err *e)
{
    *spp = NULL;
    struct spool *sp = xcalloc(1, sizeof *sp);
    sp->dir = xstrdup(dir);
    sp->tmpfd = sp->queuefd = sp->corruptfd = -1;
    int made_root = 0, made_sub = 0, rc;
    if (mkdir(dir, 0700) == 0)
        made_root = 1;
    else if (errno != EEXIST) {
        rc = sys_err(e, "mkdir", dir);
        goto fail;
    }
    sp->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->rootfd < 0) {
        rc = sys_err(e, "open directory", dir);
        goto fail;
    }
    if ((rc = lock_root(sp, e)) < 0)
        goto fail;
    struct stat st;
    if (fstat(sp->rootfd, &st) == 0 && (st.st_mode & 077))
        log_warn("spool %s: mode %03o lets others in (want 0700)", dir, st.st_mode & 0777);
    if ((rc = open_subdir(sp, "tmp", &sp->tmpfd, &made_sub, e)) < 0 ||
        (rc = open_subdir(sp, "queue", &sp->queuefd, &made_sub, e)) < 0 ||
        (rc = open_subdir(sp, "corrupt", &sp->corruptfd, &made_sub, e)) < 0)
        goto fail;
    if (made_sub && fsync(sp->rootfd) < 0) {
        rc = sys_err(e, "fsync", dir);
        goto fail;
    }
    if ((made_root && (rc = fsync_parent(dir, e)) < 0) || (rc = probe_write(sp, e)) < 0)
        goto fail;
    sp->seed = random_seed();
    pthread_mutex_init(&sp->free_mu, NULL);
    gsync_init(&sp->dirsync);
    sp->dirsync_on = 1;
    pthread_once(&crc_once, crc_init);
    *spp = sp;
    return 0;
fail:
    spool_close(sp);
    return rc;
}

struct spool *
spool_close(struct spool *sp)
{
    if (!sp)
        return NULL;
    if (sp->dirsync_on) { /* the recycled files go: a clean stop leaves tmp/ empty */
        for (size_t i = 0; i < sp->nfree; i++)
            unlinkat(sp->tmpfd, sp->free_names[i], 0);
        pthread_mutex_destroy(&sp->free_mu);
    }
    close_fd(&sp->tmpfd);
    close_fd(&sp->queuefd);
    close_fd(&sp->corruptfd);
    close_fd(&sp->rootfd); /* releases the lock */
    if (sp->dirsync_on)
        gsync_destroy(&sp->dirsync);
    free(sp->dir);
    free(sp);
    return NULL;
}

/* ---- writing ---- */

/* make_id - time (sorts by arrival), pid, counter (unique in this process), random (pid
 * reuse after a restart in the same microsecond). Filename-safe: [0-9A-F.]. */
static void
make_id(struct spool *sp, char id[SPOOL_ID_MAX])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long c = atomic_fetch_add(&sp->counter, 1);
    uint64_t x = sp->seed + c * 0x9e3779b97f4a7c15u; /* splitmix64 */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    x ^= x >> 31;
    snprintf(id, SPOOL_ID_MAX, "%08llX%05lX.%lX.%lX.%08X", (unsigned long long)ts.tv_sec,
             (unsigned long)(ts.tv_nsec / 1000), (unsigned long)getpid(), c, (unsigned)x);
}

/* take_free - open a recycled file (truncated) as w's; 0 when there is none. */
static int
take_free(struct spool *sp, struct spool_writer *w)
{
    for (;;) {
        pthread_mutex_lock(&sp->free_mu);
        int have = sp->nfree > 0;
        if (have) {
            sp->nfree--;
            memcpy(w->tmpname, sp->free_names[sp->nfree], sizeof sp->free_names[0]);
            sp->free_bytes -= sp->free_size[sp->nfree];
        }
        pthread_mutex_unlock(&sp->free_mu);
        if (!have)
            return 0;
        w->fd = openat(sp->tmpfd, w->tmpname, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
        if (w->fd >= 0) {
            atomic_fetch_add(&sp->nrecycled, 1);
            return 1;
        }
        unlinkat(sp->tmpfd, w->tmpname, 0); /* gone or unusable: try the next one */
    }
}

int
spool_create(struct spool *sp, struct spool_writer **wp, struct err *e)
{
    *wp = NULL;
    struct spool_writer *w = xcalloc(1, sizeof *w);
    w->sp = sp;
    w->fd = -1;
    buf_init(&w->out, 0);
    if (take_free(sp, w)) {
        make_id(sp, w->id);
        goto ready;
    }
    /* O_EXCL: an id that exists (clock stepped back onto a live one) is skipped */
    for (int tries = 0; tries < 8; tries++) {
        make_id(sp, w->id);
        w->fd =
            openat(sp->tmpfd, w->id, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (w->fd >= 0 || errno != EEXIST)
            break;
    }
    if (w->fd < 0) {
        int rc = sys_err(e, "create", w->id);
        buf_free(&w->out);
        free(w);
        return rc;
    }
    memcpy(w->tmpname, w->id, sizeof w->tmpname);
ready:;
    unsigned char h[REC_HDR] = {REC_MAGIC};
    put_be32(h + 1, MAGIC_LEN);
    buf_append(&w->out, h, REC_HDR);
    buf_append(&w->out, MAGIC, MAGIC_LEN);
    w->crc = crc32_update(0, w->out.data, w->out.len);
    *wp = w;
    return 0;
}

const char *
spool_writer_id(const struct spool_writer *w)
{
    return w->id;
}

/* kick_writeback - start writing a large message out while it still arrives, so that
 * the fsync in spool_commit (the latency before the 250) finds little left to do.
 * Advisory: fsync reports the errors. */
static void
kick_writeback(struct spool_writer *w)
{
#ifdef SYNC_FILE_RANGE_WRITE
    if (w->written - w->kicked >= KICK_BYTES) {
        sync_file_range(w->fd, (off_t)w->kicked, (off_t)(w->written - w->kicked),
                        SYNC_FILE_RANGE_WRITE);
        w->kicked = w->written;
    }
#else
    (void)w;
#endif
}

/* write_iov - write all of iov, through short writes and EINTR. */
static int
write_iov(struct spool_writer *w, struct iovec *v, int cnt, struct err *e)
{
    while (cnt > 0) {
        if (v->iov_len == 0) {
            v++, cnt--;
            continue;
        }
        ssize_t n = writev(w->fd, v, cnt);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            w->ioerr = 1;
            return sys_err(e, "write", w->id);
        }
        w->written += (uint64_t)n;
        for (; cnt > 0 && (size_t)n >= v->iov_len; v++, cnt--)
            n -= (ssize_t)v->iov_len;
        if (cnt > 0) {
            v->iov_base = (char *)v->iov_base + n;
            v->iov_len -= (size_t)n;
        }
    }
    kick_writeback(w);
    return 0;
}

/* close_data - end the pending data record: its header goes to out, it joins the CRC. */
static void
close_data(struct spool_writer *w)
{
    if (w->dlen > 0) {
        unsigned char h[REC_HDR] = {REC_DATA};
        put_be32(h + 1, (uint32_t)w->dlen);
        buf_append(&w->out, h, REC_HDR);
        w->crc = crc32_update(w->crc, h, REC_HDR);
        w->crc = crc32_update(w->crc, w->data, w->dlen);
    }
}

/* write_out - out, the (closed) data record and tail, in one system call. */
static int
write_out(struct spool_writer *w, const void *tail, size_t tn, struct err *e)
{
    struct iovec v[3] = {{w->out.data, w->out.len}, {w->data, w->dlen}, {(void *)tail, tn}};
    int rc = write_iov(w, v, 3, e);
    buf_reset(&w->out);
    w->dlen = 0;
    return rc;
}

/* flush_data - write the buffered small records, then the pending data record. */
static int
flush_data(struct spool_writer *w, struct err *e)
{
    close_data(w);
    return write_out(w, NULL, 0, e);
}

/* rec_begin - start a small record of length n in out (after any pending data). */
static int
rec_begin(struct spool_writer *w, int type, size_t n, size_t *start, struct err *e)
{
    if (w->dlen > 0) {
        int rc = flush_data(w, e);
        if (rc < 0)
            return rc;
    }
    unsigned char h[REC_HDR] = {(unsigned char)type};
    put_be32(h + 1, (uint32_t)n);
    *start = w->out.len;
    buf_append(&w->out, h, REC_HDR);
    return 0;
}

/* rec_end - fold the record into the CRC; write out when enough has gathered. */
static int
rec_end(struct spool_writer *w, size_t start, struct err *e)
{
    w->crc = crc32_update(w->crc, w->out.data + start, w->out.len - start);
    if (w->out.len >= OUT_FLUSH)
        return flush_data(w, e);
    return 0;
}

static size_t
field_size(const char *s)
{
    return 2 + (s ? strlen(s) : 0);
}

static void
put_field(struct spool_writer *w, const char *s)
{
    size_t n = s ? strlen(s) : FIELD_NULL;
    unsigned char l[2] = {(unsigned char)(n >> 8), (unsigned char)n};
    buf_append(&w->out, l, 2);
    if (s)
        buf_append(&w->out, s, n);
}

/* env_open - envelope records are taken until the first data or the first I/O error. */
static int
env_open(struct spool_writer *w, struct err *e)
{
    if (w->ioerr || w->in_data)
        return err_set(e, ARC_ESTATE, "spool %s: envelope after data or an error", w->id);
    return 0;
}

/* put_env - one envelope record of up to three fields. */
static int
put_env(struct spool_writer *w, int type, const char *f[3], int nf, struct err *e)
{
    size_t n = 0;
    for (int i = 0; i < nf; i++) {
        if (f[i] && strlen(f[i]) > SPOOL_MAX_FIELD)
            return err_set(e, ARC_ERANGE, "spool %s: field over %d bytes", w->id, SPOOL_MAX_FIELD);
        n += field_size(f[i]);
    }
    if (w->env_bytes + REC_HDR + n > SPOOL_MAX_ENV)
        return err_set(e, ARC_ERANGE, "spool %s: envelope over %d bytes", w->id, SPOOL_MAX_ENV);
    size_t start;
    int rc = rec_begin(w, type, n, &start, e);
    if (rc < 0)
        return rc;
    for (int i = 0; i < nf; i++)
        put_field(w, f[i]);
    w->env_bytes += REC_HDR + n;
    return rec_end(w, start, e);
}

int
spool_put_sender(struct spool_writer *w, const char *sender, struct err *e)
{
    int rc = env_open(w, e);
    if (rc < 0)
        return rc;
    if (!sender)
        return err_set(e, ARC_EINVAL, "spool %s: no sender", w->id);
    if (w->have_sender)
        return err_set(e, ARC_ESTATE, "spool %s: second sender", w->id);
    const char *f[3] = {sender};
    rc = put_env(w, REC_SENDER, f, 1, e);
    if (rc == 0)
        w->have_sender = 1;
    return rc;
}

int
spool_put_rcpt(struct spool_writer *w, const char *addr, const char *notify, const char *orcpt,
               struct err *e)
{
    int rc = env_open(w, e);
    if (rc < 0)
        return rc;
    if (!addr)
        return err_set(e, ARC_EINVAL, "spool %s: no recipient address", w->id);
    if (w->nrcpts >= SPOOL_MAX_RCPTS)
        return err_set(e, ARC_ERANGE, "spool %s: over %d recipients", w->id, SPOOL_MAX_RCPTS);
    const char *f[3] = {addr, notify, orcpt};
    rc = put_env(w, REC_RCPT, f, 3, e);
    if (rc == 0)
        w->nrcpts++;
    return rc;
}

int
spool_put_param(struct spool_writer *w, const char *key, const char *value, struct err *e)
{
    int rc = env_open(w, e);
    if (rc < 0)
        return rc;
    if (!key || !*key)
        return err_set(e, ARC_EINVAL, "spool %s: empty parameter name", w->id);
    if (w->nparams >= SPOOL_MAX_PARAMS)
        return err_set(e, ARC_ERANGE, "spool %s: over %d parameters", w->id, SPOOL_MAX_PARAMS);
    const char *f[3] = {key, value};
    rc = put_env(w, REC_PARAM, f, 2, e);
    if (rc == 0)
        w->nparams++;
    return rc;
}

int
spool_put_attr(struct spool_writer *w, const char *key, const char *value, struct err *e)
{
    int rc = env_open(w, e);
    if (rc < 0)
        return rc;
    if (!key || !*key)
        return err_set(e, ARC_EINVAL, "spool %s: empty attribute name", w->id);
    if (w->nattrs >= SPOOL_MAX_ATTRS)
        return err_set(e, ARC_ERANGE, "spool %s: over %d attributes", w->id, SPOOL_MAX_ATTRS);
    const char *f[3] = {key, value};
    rc = put_env(w, REC_ATTR, f, 2, e);
    if (rc == 0)
        w->nattrs++;
    return rc;
}

int
spool_write(struct spool_writer *w, const void *p, size_t n, struct err *e)
{
    if (w->ioerr)
        return err_set(e, ARC_ESTATE, "spool %s: write after an error", w->id);
    if (!w->data)
        w->data = xmalloc(SPOOL_MAX_RECORD);
    w->in_data = 1;
    const char *s = p;
    while (n > 0) {
        size_t k = SPOOL_MAX_RECORD - w->dlen;
        if (k > n)
            k = n;
        memcpy(w->data + w->dlen, s, k);
        w->dlen += k;
        w->size += k;
        s += k;
        n -= k;
        if (w->dlen == SPOOL_MAX_RECORD) {
            int rc = flush_data(w, e);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int
spool_put_prepend(struct spool_writer *w, const void *p, size_t n, struct err *e)
{
    if (w->ioerr)
        return err_set(e, ARC_ESTATE, "spool %s: write after an error", w->id);
    if (w->prepend_bytes + n > SPOOL_MAX_PREPEND)
        return err_set(e, ARC_ERANGE, "spool %s: prepended text over %d bytes", w->id,
                       SPOOL_MAX_PREPEND);
    w->in_data = 1;
    const char *s = p;
    while (n > 0) {
        size_t k = n < SPOOL_MAX_RECORD ? n : SPOOL_MAX_RECORD, start;
        int rc = rec_begin(w, REC_PREPEND, k, &start, e);
        if (rc < 0)
            return rc;
        buf_append(&w->out, s, k);
        if ((rc = rec_end(w, start, e)) < 0)
            return rc;
        w->prepend_bytes += k;
        s += k;
        n -= k;
    }
    return 0;
}

int
spool_put_data_skip(struct spool_writer *w, uint64_t n, struct err *e)
{
    if (w->ioerr)
        return err_set(e, ARC_ESTATE, "spool %s: write after an error", w->id);
    if (w->have_skip)
        return err_set(e, ARC_ESTATE, "spool %s: data skip given twice", w->id);
    if (n > w->size)
        return err_set(e, ARC_ERANGE, "spool %s: data skip %llu over the data size %llu", w->id,
                       (unsigned long long)n, (unsigned long long)w->size);
    w->in_data = 1;
    size_t start;
    int rc = rec_begin(w, REC_SKIP, 8, &start, e);
    if (rc < 0)
        return rc;
    unsigned char v[8];
    put_be32(v, (uint32_t)(n >> 32));
    put_be32(v + 4, (uint32_t)n);
    buf_append(&w->out, v, 8);
    if ((rc = rec_end(w, start, e)) < 0)
        return rc;
    w->have_skip = 1;
    return 0;
}

/* write_end - everything still buffered and the END record, in one write. */
static int
write_end(struct spool_writer *w, struct err *e)
{
    unsigned char t[REC_HDR + END_LEN] = {REC_END};
    put_be32(t + 1, END_LEN);
    put_be32(t + REC_HDR, (uint32_t)(w->size >> 32));
    put_be32(t + REC_HDR + 4, (uint32_t)w->size);
    close_data(w); /* the CRC must see the data before END */
    uint32_t crc = crc32_update(w->crc, t, REC_HDR + 8);
    put_be32(t + REC_HDR + 8, crc);
    return write_out(w, t, sizeof t, e);
}

static void
writer_free(struct spool_writer *w)
{
    close_fd(&w->fd);
    buf_free(&w->out);
    free(w->data);
    free(w);
}

/* discard - unlink the message's only name (tmp/ID, or queue/ID once renamed). */
static void
discard(struct spool_writer *w, int published)
{
    close_fd(&w->fd);
    int dirfd = published ? w->sp->queuefd : w->sp->tmpfd;
    const char *name = published ? w->id : w->tmpname;
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
        log_warn_errno("%s: cannot remove %s/%s", w->id, published ? "queue" : "tmp", name);
}

/* publish - rename tmp/ID to queue/ID, refusing to replace a file already there. */
static int
publish(struct spool_writer *w, struct err *e)
{
    struct spool *sp = w->sp;
#ifdef RENAME_NOREPLACE
    if (renameat2(sp->tmpfd, w->tmpname, sp->queuefd, w->id, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return sys_err(e, "rename", w->id);
#endif
    /* filesystem without RENAME_NOREPLACE: ids are unique by construction */
    if (renameat(sp->tmpfd, w->tmpname, sp->queuefd, w->id) < 0)
        return sys_err(e, "rename", w->id);
    return 0;
}

/* fsync_queue_dir - the group-commit leader's fsync (gsync_fn). */
static int
fsync_queue_dir(void *arg, struct err *e)
{
    struct spool *sp = arg;
    if (fsync(sp->queuefd) < 0)
        return sys_err(e, "fsync queue directory", sp->dir);
    return 0;
}

/* sync_queue_dir - make a rename or unlink in queue/ durable; shares the fsync with
 * every other thread whose change came before it started (gsync.h). */
static int
sync_queue_dir(struct spool *sp, struct err *e)
{
    uint64_t t = gsync_ticket(&sp->dirsync);
    return gsync_wait(&sp->dirsync, t, fsync_queue_dir, sp, e);
}

int
spool_commit_flags(struct spool_writer *w, char *id_out, unsigned flags, struct err *e)
{
    int published = 0, rc;
    int sync = !(flags & SPOOL_NOSYNC);
    if (w->ioerr) {
        rc = err_set(e, ARC_ESTATE, "spool %s: commit after an error", w->id);
        goto fail;
    }
    if (!w->have_sender || w->nrcpts == 0) {
        rc = err_set(e, ARC_ESTATE, "spool %s: commit without sender or recipient", w->id);
        goto fail;
    }
    if ((rc = write_end(w, e)) < 0)
        goto fail;
    if (sync) {
        if (fsync(w->fd) < 0) {
            rc = sys_err(e, "fsync", w->id);
            goto fail;
        }
        atomic_fetch_add(&w->sp->nfile_fsync, 1);
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) < 0) { /* after fsync too: some filesystems report write errors here */
        rc = sys_err(e, "close", w->id);
        goto fail;
    }
    if ((rc = publish(w, e)) < 0)
        goto fail;
    published = 1;
    if (sync && (rc = sync_queue_dir(w->sp, e)) < 0)
        goto fail;
    atomic_fetch_add(sync ? &w->sp->ncommit : &w->sp->ncommit_nosync, 1);
    if (id_out)
        memcpy(id_out, w->id, SPOOL_ID_MAX);
    writer_free(w);
    return 0;
fail:
    /* not acknowledged: the client keeps the message, so no copy of ours may survive */
    discard(w, published);
    writer_free(w);
    return rc;
}

int
spool_commit(struct spool_writer *w, char *id_out, struct err *e)
{
    return spool_commit_flags(w, id_out, 0, e);
}

void
spool_stats(struct spool *sp, struct spool_stats *st)
{
    struct gsync_stats g;
    gsync_stats(&sp->dirsync, &g);
    st->commits = atomic_load(&sp->ncommit);
    st->commits_nosync = atomic_load(&sp->ncommit_nosync);
    st->file_fsyncs = atomic_load(&sp->nfile_fsync);
    st->dir_fsyncs = g.fsyncs;
    st->dir_fsyncs_shared = g.covered;
    st->recycled = atomic_load(&sp->nrecycled);
}

struct spool_writer *
spool_abort(struct spool_writer *w)
{
    if (w) {
        discard(w, 0);
        writer_free(w);
    }
    return NULL;
}

/* ---- reading ---- */

/* rd_get - the next n bytes into dst (NULL: skip), into the CRC while verifying. */
static int
rd_get(struct spool_reader *r, void *dst, size_t n, struct err *e)
{
    unsigned char *d = dst;
    while (n > 0) {
        if (r->ipos == r->ilen) {
            ssize_t k = read(r->fd, r->ibuf, IBUF_SIZE);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                return sys_err(e, "read", r->id);
            if (k == 0)
                return err_set(e, ARC_EINVAL, "spool %s: truncated at byte %llu", r->id,
                               (unsigned long long)r->pos);
            r->ipos = 0;
            r->ilen = (size_t)k;
        }
        size_t k = r->ilen - r->ipos;
        if (k > n)
            k = n;
        if (r->verifying)
            r->crc = crc32_update(r->crc, r->ibuf + r->ipos, k);
        if (d) {
            memcpy(d, r->ibuf + r->ipos, k);
            d += k;
        }
        r->ipos += k;
        r->pos += k;
        n -= k;
    }
    return 0;
}

/* rd_at_eof - 1 if nothing follows, 0 if something does, < 0 on a read error. */
static int
rd_at_eof(struct spool_reader *r, struct err *e)
{
    if (r->ipos < r->ilen)
        return 0;
    ssize_t k;
    do
        k = read(r->fd, r->ibuf, IBUF_SIZE);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return sys_err(e, "read", r->id);
    r->ipos = 0;
    r->ilen = (size_t)k;
    return k == 0;
}

static int
corrupt(struct spool_reader *r, struct err *e, const char *why)
{
    return err_set(e, ARC_EINVAL, "spool %s: %s at byte %llu", r->id, why,
                   (unsigned long long)r->pos);
}

/* parse_fields - nf strings out of one envelope record; all or nothing. */
static int
parse_fields(struct spool_reader *r, size_t len, char **out, int nf, struct err *e)
{
    const unsigned char *p = r->rec, *end = r->rec + len;
    int i;
    for (i = 0; i < nf; i++) {
        out[i] = NULL;
        if (end - p < 2)
            break;
        size_t n = (size_t)p[0] << 8 | p[1];
        p += 2;
        if (n == FIELD_NULL)
            continue;
        if (n > SPOOL_MAX_FIELD || (size_t)(end - p) < n || memchr(p, '\0', n))
            break;
        out[i] = xstrndup((const char *)p, n);
        p += n;
    }
    if (i == nf && p == end)
        return 0;
    for (int j = 0; j < i && j < nf; j++)
        free(out[j]);
    return corrupt(r, e, "malformed envelope record");
}

/* grow - room for one more element in an array bounded by max. */
static void *
grow(void *a, size_t *cap, size_t n, size_t max, size_t size)
{
    if (n < *cap)
        return a;
    *cap = *cap ? *cap * 2 : 8;
    if (*cap > max)
        *cap = max;
    return xrealloc(a, *cap * size);
}

/* env_record - take one S/R/P/A record (data in r->rec) into the envelope. */
static int
env_record(struct spool_reader *r, int type, size_t len, struct err *e)
{
    struct spool_env *env = &r->env;
    char *f[3];
    int nf = type == REC_SENDER ? 1 : type == REC_RCPT ? 3 : 2;
    int rc = parse_fields(r, len, f, nf, e);
    if (rc < 0)
        return rc;
    if (!f[0] || (type != REC_SENDER && type != REC_RCPT && !*f[0]) ||
        (type == REC_SENDER && env->sender)) {
        for (int i = 0; i < nf; i++)
            free(f[i]);
        return corrupt(r, e, "bad envelope record");
    }
    if (type == REC_SENDER) {
        env->sender = f[0];
    } else if (type == REC_RCPT) {
        r->rcpts = grow(r->rcpts, &r->rcap, env->nrcpts, SPOOL_MAX_RCPTS, sizeof *r->rcpts);
        r->rcpts[env->nrcpts++] = (struct spool_rcpt){f[0], f[1], f[2]};
        env->rcpts = r->rcpts;
    } else if (type == REC_PARAM) {
        r->params = grow(r->params, &r->pcap, env->nparams, SPOOL_MAX_PARAMS, sizeof *r->params);
        r->params[env->nparams++] = (struct spool_kv){f[0], f[1]};
        env->params = r->params;
    } else {
        r->attrs = grow(r->attrs, &r->acap, env->nattrs, SPOOL_MAX_ATTRS, sizeof *r->attrs);
        r->attrs[env->nattrs++] = (struct spool_kv){f[0], f[1]};
        env->attrs = r->attrs;
    }
    return 0;
}

/* check_env_room - the limits, before the record's data is read at all. */
static int
check_env_room(struct spool_reader *r, int type, size_t len, struct err *e)
{
    const struct spool_env *env = &r->env;
    if (len > ENV_REC_MAX || r->env_bytes + REC_HDR + len > SPOOL_MAX_ENV)
        return corrupt(r, e, "envelope record too long");
    if ((type == REC_RCPT && env->nrcpts >= SPOOL_MAX_RCPTS) ||
        (type == REC_PARAM && env->nparams >= SPOOL_MAX_PARAMS) ||
        (type == REC_ATTR && env->nattrs >= SPOOL_MAX_ATTRS))
        return corrupt(r, e, "too many envelope records");
    r->env_bytes += REC_HDR + len;
    return 0;
}

/* check_end - the END record: size and CRC, and nothing after it. */
static int
check_end(struct spool_reader *r, uint64_t size, struct err *e)
{
    const struct spool_env *env = &r->env;
    unsigned char t[END_LEN];
    int rc = rd_get(r, t, 8, e);
    uint32_t want = r->crc;
    r->verifying = 0; /* the CRC covers everything before itself */
    if (rc < 0 || (rc = rd_get(r, t + 8, 4, e)) < 0)
        return rc;
    if (get_be32(t + 8) != want)
        return corrupt(r, e, "checksum mismatch");
    if (get_be64(t) != size)
        return corrupt(r, e, "data size mismatch");
    if (!env->sender || env->nrcpts == 0)
        return corrupt(r, e, "no sender or no recipient");
    if ((rc = rd_at_eof(r, e)) <= 0)
        return rc < 0 ? rc : corrupt(r, e, "bytes after the end record");
    return 0;
}

/* verify - read the whole file once: records, limits, order, END, checksum. */
static int
verify(struct spool_reader *r, struct err *e)
{
    uint64_t size = 0;
    int rc;
    r->verifying = 1;
    for (int first = 1;; first = 0) {
        unsigned char h[REC_HDR];
        uint64_t at = r->pos;
        if ((rc = rd_get(r, h, REC_HDR, e)) < 0)
            return rc;
        int type = h[0];
        size_t len = get_be32(h + 1);
        if (first != (type == REC_MAGIC))
            return corrupt(r, e, first ? "not a spool file" : "magic record out of place");
        switch (type) {
        case REC_MAGIC:
            if (len != MAGIC_LEN || (rc = rd_get(r, r->rec, len, e)) < 0 ||
                memcmp(r->rec, MAGIC, MAGIC_LEN) != 0)
                return rc < 0 ? rc : corrupt(r, e, "unknown magic or version");
            break;
        case REC_SENDER:
        case REC_RCPT:
        case REC_PARAM:
        case REC_ATTR:
            if (r->data_off)
                return corrupt(r, e, "envelope record after data");
            if ((rc = check_env_room(r, type, len, e)) < 0 ||
                (rc = rd_get(r, r->rec, len, e)) < 0 || (rc = env_record(r, type, len, e)) < 0)
                return rc;
            break;
        case REC_DATA:
        case REC_PREPEND:
            if (!r->data_off)
                r->data_off = (off_t)at;
            if (len > SPOOL_MAX_RECORD)
                return corrupt(r, e, "data record too long");
            if (type == REC_PREPEND && r->prepend.len + len > SPOOL_MAX_PREPEND)
                return corrupt(r, e, "prepended text too long");
            if ((rc = rd_get(r, r->rec, len, e)) < 0)
                return rc;
            if (type == REC_PREPEND)
                buf_append(&r->prepend, r->rec, len);
            else
                size += len;
            break;
        case REC_SKIP:
            if (!r->data_off)
                r->data_off = (off_t)at;
            if (len != 8 || r->have_skip)
                return corrupt(r, e, "bad or repeated data skip record");
            if ((rc = rd_get(r, r->rec, len, e)) < 0)
                return rc;
            r->have_skip = 1;
            r->skip = get_be64(r->rec);
            if (r->skip > size)
                return corrupt(r, e, "data skip over the data size");
            break;
        case REC_END:
            if (len != END_LEN)
                return corrupt(r, e, "bad end record");
            if (!r->data_off)
                r->data_off = (off_t)at;
            r->env.size = size - r->skip;
            r->env.data_skip = r->skip;
            return check_end(r, size, e);
        default:
            return corrupt(r, e, "unknown record type");
        }
    }
}

static void
reader_free(struct spool_reader *r)
{
    close_fd(&r->fd);
    free((char *)r->env.sender);
    for (size_t i = 0; i < r->env.nrcpts; i++) {
        free((char *)r->rcpts[i].addr);
        free((char *)r->rcpts[i].notify);
        free((char *)r->rcpts[i].orcpt);
    }
    for (size_t i = 0; i < r->env.nparams; i++) {
        free((char *)r->params[i].key);
        free((char *)r->params[i].value);
    }
    for (size_t i = 0; i < r->env.nattrs; i++) {
        free((char *)r->attrs[i].key);
        free((char *)r->attrs[i].value);
    }
    free(r->rcpts);
    free(r->params);
    free(r->attrs);
    buf_free(&r->prepend);
    free(r->ibuf);
    free(r);
}

int
spool_read_open(struct spool *sp, const char *id, struct spool_reader **rp, struct err *e)
{
    *rp = NULL;
    if (!spool_id_valid(id))
        return err_set(e, ARC_EINVAL, "spool: bad queue id");
    struct spool_reader *r = xcalloc(1, sizeof *r);
    r->sp = sp;
    snprintf(r->id, sizeof r->id, "%s", id);
    buf_init(&r->prepend, SPOOL_MAX_PREPEND);
    r->ibuf = xmalloc(IBUF_SIZE + SPOOL_MAX_RECORD);
    r->rec = r->ibuf + IBUF_SIZE;
    int rc;
    struct stat st;
    r->fd = openat(sp->queuefd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (r->fd < 0) {
        if (errno == ENOENT)
            rc = err_set(e, ARC_ENOENT, "spool %s: no such message", id);
        else if (errno == ELOOP) /* a symbolic link: not something we wrote */
            rc = err_set(e, ARC_EINVAL, "spool %s: not a regular file", id);
        else
            rc = sys_err(e, "open", id);
        goto fail;
    }
    if (fstat(r->fd, &st) < 0) {
        rc = sys_err(e, "stat", id);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = err_set(e, ARC_EINVAL, "spool %s: not a regular file", id);
        goto fail;
    }
    if ((rc = verify(r, e)) < 0)
        goto fail;
    r->env.prepend = buf_span(&r->prepend);
    if (lseek(r->fd, r->data_off, SEEK_SET) < 0) {
        rc = sys_err(e, "seek", id);
        goto fail;
    }
    r->pos = (uint64_t)r->data_off;
    r->ipos = r->ilen = 0;
    *rp = r;
    return 0;
fail:
    reader_free(r);
    return rc;
}

const struct spool_env *
spool_read_env(const struct spool_reader *r)
{
    return &r->env;
}

/* rd_stream - rd_get for the second pass: the file was verified, so a short or odd
 * file now means it changed under us, which is an I/O error, not corruption. */
static int
rd_stream(struct spool_reader *r, void *dst, size_t n, struct err *e)
{
    int rc = rd_get(r, dst, n, e);
    if (rc == -ARC_EINVAL)
        rc = err_set(e, ARC_EIO, "spool %s: changed while being read", r->id);
    return rc;
}

/* next_data_record - skip to the next D record, or set at_end at END. */
static int
next_data_record(struct spool_reader *r, struct err *e)
{
    while (r->rec_left == 0 && !r->at_end) {
        unsigned char h[REC_HDR];
        int rc = rd_stream(r, h, REC_HDR, e);
        if (rc < 0)
            return rc;
        uint32_t len = get_be32(h + 1);
        if (h[0] == REC_END)
            r->at_end = 1;
        else if (h[0] == REC_DATA && len <= SPOOL_MAX_RECORD)
            r->rec_left = len;
        else if ((h[0] == REC_PREPEND && len <= SPOOL_MAX_RECORD) || (h[0] == REC_SKIP && len == 8))
            rc = rd_stream(r, NULL, len, e);
        else
            rc = err_set(e, ARC_EIO, "spool %s: changed while being read", r->id);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* spool_read_data - fills buf across record boundaries: short only at the end. */
ssize_t
spool_read_data(struct spool_reader *r, void *buf, size_t cap, struct err *e)
{
    size_t got = 0;
    r->started = 1;
    if (cap > SSIZE_MAX)
        cap = SSIZE_MAX;
    while (r->skip > 0) {
        int rc = next_data_record(r, e);
        if (rc < 0)
            return rc;
        if (r->at_end)
            break;
        uint64_t n = r->skip < r->rec_left ? r->skip : r->rec_left;
        if ((rc = rd_stream(r, NULL, (size_t)n, e)) < 0)
            return rc;
        r->rec_left -= n;
        r->skip -= n;
    }
    while (got < cap) {
        int rc = next_data_record(r, e);
        if (rc < 0)
            return rc;
        if (r->at_end)
            break;
        size_t n = cap - got;
        if (n > r->rec_left)
            n = (size_t)r->rec_left;
        if ((rc = rd_stream(r, (char *)buf + got, n, e)) < 0)
            return rc;
        r->rec_left -= n;
        got += n;
    }
    return (ssize_t)got;
}

int
spool_read_skip(struct spool_reader *r, uint64_t n, struct err *e)
{
    if (r->started)
        return err_set(e, ARC_ESTATE, "spool %s: skip after reading began", r->id);
    if (n > r->env.size)
        return err_set(e, ARC_ERANGE, "spool %s: skip %llu over the data size %llu", r->id,
                       (unsigned long long)n, (unsigned long long)r->env.size);
    r->skip += n;
    r->env.size -= n;
    r->env.data_skip += n;
    return 0;
}

struct spool_reader *
spool_read_close(struct spool_reader *r)
{
    if (r)
        reader_free(r);
    return NULL;
}

/* recycle - move queue/ID to tmp/free.N for a later spool_create instead of unlinking
 * it: a new file costs an inode allocation, which on ext4 without a journal scans past
 * every recently deleted inode, and a queue churns through thousands a minute. Only
 * small files, at most FREE_MAX holding FREE_MAX_BYTES. Leaving queue/ is what makes the removal, as with
 * unlink; a crash leaves the file in tmp/, where recovery removes it. 1 when moved. */
static int
recycle(struct spool *sp, const char *id)
{
    struct stat st;
    if (fstatat(sp->queuefd, id, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size > FREE_MAX_SIZE)
        return 0;
    char name[FREE_NAME_MAX];
    snprintf(name, sizeof name, FREE_PREFIX "%lu", atomic_fetch_add(&sp->free_seq, 1));
    pthread_mutex_lock(&sp->free_mu);
    int room =
        sp->nfree + sp->nfree_held < FREE_MAX && sp->free_bytes + st.st_size <= FREE_MAX_BYTES;
    if (room) { /* a place is held while the rename runs */
        sp->nfree_held++;
        sp->free_bytes += st.st_size;
    }
    pthread_mutex_unlock(&sp->free_mu);
    if (!room)
        return 0;
    int moved = renameat(sp->queuefd, id, sp->tmpfd, name) == 0;
    pthread_mutex_lock(&sp->free_mu);
    sp->nfree_held--;
    if (moved) {
        memcpy(sp->free_names[sp->nfree], name, sizeof name);
        sp->free_size[sp->nfree++] = st.st_size;
    } else {
        sp->free_bytes -= st.st_size;
    }
    pthread_mutex_unlock(&sp->free_mu);
    return moved;
}

int
spool_remove_flags(struct spool *sp, const char *id, unsigned flags, struct err *e)
{
    if (!spool_id_valid(id))
        return err_set(e, ARC_EINVAL, "spool: bad queue id");
    if (!recycle(sp, id) && unlinkat(sp->queuefd, id, 0) < 0)
        return errno == ENOENT ? err_set(e, ARC_ENOENT, "spool %s: no such message", id)
                               : sys_err(e, "unlink", id);
    if (flags & SPOOL_NOSYNC)
        return 0;
    return sync_queue_dir(sp, e);
}

int
spool_remove(struct spool *sp, const char *id, struct err *e)
{
    return spool_remove_flags(sp, id, 0, e);
}

/* ---- recovery ---- */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_dir - the names in a directory, sorted (ids sort by arrival time). */
static int
list_dir(int dirfd, const char *what, char ***namesp, size_t *np, struct err *e)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        int rc = sys_err(e, "list", what);
        if (fd >= 0)
            close(fd);
        return rc;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap)
            names = xrealloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
        names[n++] = xstrdup(de->d_name);
        errno = 0;
    }
    int rc = errno ? sys_err(e, "list", what) : 0;
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_str);
    *namesp = names;
    *np = n;
    return rc;
}

static void
free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* quarantine - move queue/name to corrupt/ under a name not yet taken there. */
static int
quarantine(struct spool *sp, const char *name, const char *why, struct err *e)
{
    char esc[SPOOL_ID_MAX * 4 + 8], to[NAME_MAX + 1];
    log_escape(esc, sizeof esc, name, strlen(name));
    snprintf(to, sizeof to, "%s", name);
    struct stat st;
    for (int i = 1; i < 1000 && fstatat(sp->corruptfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0; i++)
        snprintf(to, sizeof to, "%.200s.%d", name, i);
    if (renameat(sp->queuefd, name, sp->corruptfd, to) < 0) {
        log_warn_errno("%s: incomplete or corrupt queue file (%s), cannot move it", esc, why);
        return sys_err(e, "quarantine", esc);
    }
    log_warn("%s: incomplete or corrupt queue file (%s), moved to corrupt/", esc, why);
    return 0;
}

/* recover_tmp - every file in tmp/ is a write that never committed. */
static int
recover_tmp(struct spool *sp, struct err *e)
{
    char **names;
    size_t n;
    int rc = list_dir(sp->tmpfd, "tmp", &names, &n, e);
    for (size_t i = 0; i < n; i++) {
        char esc[SPOOL_ID_MAX * 4 + 8];
        log_escape(esc, sizeof esc, names[i], strlen(names[i]));
        if (unlinkat(sp->tmpfd, names[i], 0) == 0) {
            if (strncmp(names[i], FREE_PREFIX, strlen(FREE_PREFIX)) != 0)
                log_warn("%s: removed incomplete spool file tmp/%s (aborted write)", esc, esc);
        } else {
            log_warn_errno("%s: cannot remove tmp/%s", esc, esc);
            if (rc == 0)
                rc = sys_err(e, "unlink tmp", esc);
        }
    }
    free_names(names, n);
    return rc;
}

/* recover_queue - report complete files, quarantine the others; a file that cannot be
 * read (I/O error) is left where it is: unreadable is not the same as corrupt. */
static int
recover_queue(struct spool *sp, spool_recover_fn cb, void *ctx, size_t *counts, struct err *e)
{
    char **names;
    size_t n;
    int rc = list_dir(sp->queuefd, "queue", &names, &n, e);
    for (size_t i = 0; i < n; i++) {
        struct spool_reader *r = NULL;
        struct err e2;
        err_clear(&e2);
        int vr = spool_id_valid(names[i]) ? spool_read_open(sp, names[i], &r, &e2)
                                          : err_set(&e2, ARC_EINVAL, "not a queue id");
        spool_read_close(r);
        int mr = 0;
        if (vr == 0) {
            counts[0]++;
            cb(ctx, names[i]);
        } else if (vr == -ARC_EINVAL) {
            counts[1]++;
            mr = quarantine(sp, names[i], e2.text, rc == 0 ? e : NULL);
        } else {
            log_warn("%s: cannot verify, left in queue/: %s", names[i], e2.text);
            if (rc == 0 && e)
                *e = e2;
            mr = vr;
        }
        if (mr < 0 && rc == 0)
            rc = mr;
    }
    free_names(names, n);
    return rc;
}

int
spool_recover(struct spool *sp, spool_recover_fn cb, void *ctx, struct err *e)
{
    size_t counts[2] = {0, 0}; /* complete, quarantined */
    int rc = recover_tmp(sp, e);
    int rq = recover_queue(sp, cb, ctx, counts, rc == 0 ? e : NULL);
    if (rc == 0)
        rc = rq;
    /* make the removals and moves durable before anything new is queued */
    if ((fsync(sp->tmpfd) < 0 || fsync(sp->corruptfd) < 0 || fsync(sp->queuefd) < 0) && rc == 0)
        rc = sys_err(e, "fsync", sp->dir);
    log_info("spool %s: recovered %zu message(s), %zu moved to corrupt/", sp->dir, counts[0],
             counts[1]);
    return rc;
}
