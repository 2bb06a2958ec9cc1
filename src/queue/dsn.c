/* SPDX-License-Identifier: MIT */
/*
 * dsn - delivery status notifications (RFC 3464, RFC 6522, RFC 6533); see dsn.h.
 *
 *   dsn_build            header fields, then three parts built apart so that the
 *                        boundary can be checked against every one of them
 *   dsn_needs_smtputf8   any byte >= 0x80
 *   dsn_xtext_decode     RFC 3461 §4 xtext
 *
 * How: every input string goes through clean() before it is written (control bytes
 * collapse to a space, 8-bit bytes to '?' unless the DSN is "global" and they are
 * well-formed UTF-8), and every field
 * value through put_field() (folded at spaces, hard-split past WORD_MAX), so neither
 * the size of a value nor its bytes can shape the message.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "../util/buf.h"
#include "../util/err.h"
#include "dsn.h"

#define WORD_MAX  900 /* longest run written on one line (<= 998 with the field name) */
#define FOLD_COLS 78
#define LINE_MAX  998

int
dsn_needs_smtputf8(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)p[i] >= 0x80)
            return 1;
    }
    return 0;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10; /* RFC 3461 says upper case; be lenient */
    return -1;
}

int
dsn_xtext_decode(const char *s, struct buf *out)
{
    for (; *s; s++) {
        int hi, lo;
        if (*s == '+' && (hi = hexval(s[1])) >= 0 && (lo = hexval(s[2])) >= 0) {
            if (buf_putc(out, hi * 16 + lo) < 0)
                return -ARC_ERANGE;
            s += 2;
        } else if (buf_putc(out, *s) < 0) { /* a stray '+' stays as it is */
            return -ARC_ERANGE;
        }
    }
    return 0;
}

/* utf8_valid - well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF). */
static int
utf8_valid(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        unsigned min;
        unsigned v;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, min = 0x80, v = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, min = 0x800, v = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, min = 0x10000, v = c & 0x07;
        } else {
            return 0;
        }
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            v = (v << 6) | (p[i + k] & 0x3f);
        }
        if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

/* clean - s as one line of data: each run of control bytes (CR, LF, TAB, DEL ...) is
 * one space, 8-bit bytes are '?' unless keep8 and well-formed UTF-8 (each byte of a bad
 * sequence is one '?'), at most max bytes (then "..."), no
 * leading or trailing space. Appends to out (NUL-terminated by buf). */
static void
clean(struct buf *out, const char *s, size_t n, int keep8, size_t max)
{
    size_t start = out->len;
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == ' ') {
            space = 1;
            continue;
        }
        if (out->len - start >= max) {
            buf_puts(out, "...");
            return;
        }
        if (space && out->len > start)
            buf_putc(out, ' ');
        space = 0;
        size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c >= 0x80 &&
            (!keep8 || i + len > n || !utf8_valid((const unsigned char *)s + i, len))) {
            buf_putc(out, '?'); /* 8-bit only as well-formed UTF-8, and only when allowed */
            continue;
        }
        buf_append(out, s + i, len);
        i += len - 1;
    }
}

/* put_field - "Name: value\r\n", value already clean; folded at spaces before column
 * FOLD_COLS where possible, runs longer than WORD_MAX split across lines. */
static void
put_field(struct buf *out, const char *name, const char *value)
{
    size_t col = strlen(name) + 1;
    int first = 1;
    buf_puts(out, name);
    buf_putc(out, ':');
    const char *p = value;
    for (;;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t w = strcspn(p, " ");
        while (w) {
            size_t k = w > WORD_MAX ? WORD_MAX : w;
            if (!first && col + 1 + k > FOLD_COLS) {
                buf_puts(out, "\r\n");
                col = 0;
            }
            buf_putc(out, ' ');
            buf_append(out, p, k);
            col += 1 + k;
            p += k;
            w -= k;
            first = 0;
        }
    }
    buf_puts(out, "\r\n");
}

/* put_fieldf - put_field of a cleaned concatenation: prefix (trusted) + s (data). */
static void
put_field_data(struct buf *out, const char *name, const char *prefix, const char *s, int keep8,
               size_t max)
{
    struct buf v;
    buf_init(&v, 0);
    buf_puts(&v, prefix);
    clean(&v, s, strlen(s), keep8, max);
    put_field(out, name, v.data);
    buf_free(&v);
}

/* put_wrapped - text (clean) as lines of at most 72 columns, ending with CRLF. */
static void
put_wrapped(struct buf *out, const char *text)
{
    size_t col = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t w = strcspn(p, " ");
        while (w) {
            size_t k = w > WORD_MAX ? WORD_MAX : w;
            if (col && col + 1 + k > 72) {
                buf_puts(out, "\r\n");
                col = 0;
            }
            if (col) {
                buf_putc(out, ' ');
                col++;
            }
            buf_append(out, p, k);
            col += k;
            p += k;
            w -= k;
        }
    }
    buf_puts(out, "\r\n");
}

static void
put_date(struct buf *out, int64_t t)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        tt = 0;
        gmtime_r(&tt, &tm);
    }
    buf_printf(out, "%s, %d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday], tm.tm_mday,
               mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int
is_ascii(const char *s)
{
    return !dsn_needs_smtputf8(s, strlen(s));
}

/* status_ok - an enhanced status code: class "." subject "." detail, class 2/4/5. */
static int
status_ok(const char *s, size_t n)
{
    if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return 0;
    size_t i = 2, d = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && d < 4)
        i++, d++;
    if (d == 0 || d > 3 || i >= n || s[i] != '.')
        return 0;
    i++;
    d = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && d < 4)
        i++, d++;
    return d >= 1 && d <= 3 && i == n;
}

/* rcpt_status - r->status if it is a status code, else from the reply text. */
static void
rcpt_status(const struct dsn_rcpt *r, char out[16])
{
    if (r->status && status_ok(r->status, strlen(r->status))) {
        snprintf(out, 16, "%s", r->status);
        return;
    }
    snprintf(out, 16, "5.0.0");
    const char *d = r->diag;
    if (!d)
        return;
    while (*d == ' ')
        d++;
    if (!(d[0] == '4' || d[0] == '5') || d[1] < '0' || d[1] > '9' || d[2] < '0' || d[2] > '9')
        return;
    out[0] = d[0]; /* "550 ..." -> 5.0.0, "421 ..." -> 4.0.0 */
    const char *tok = d + 3;
    if (*tok != ' ' && *tok != '-')
        return;
    tok++;
    size_t n = strcspn(tok, " \r\n");
    if (status_ok(tok, n) && tok[0] == d[0])
        snprintf(out, 16, "%.*s", (int)n, tok);
}

/* addr_field - "Final-Recipient: rfc822; a@b" (utf-8; in a global DSN for non-ASCII). */
static void
addr_field(struct buf *out, const char *name, const char *addr, int global)
{
    put_field_data(out, name, is_ascii(addr) ? "rfc822; " : "utf-8; ", addr, global, LINE_MAX);
}

/* orcpt_field - Original-Recipient from ORCPT "type;xtext", decoded; nothing if the
 * value has no type. */
static void
orcpt_field(struct buf *out, const char *orcpt, int global)
{
    const char *semi = strchr(orcpt, ';');
    if (!semi || semi == orcpt)
        return;
    struct buf dec, v;
    buf_init(&dec, 0);
    buf_init(&v, 0);
    dsn_xtext_decode(semi + 1, &dec);
    clean(&v, orcpt, (size_t)(semi - orcpt), 0, 64);
    buf_putc(&v, ';');
    clean(&v, dec.data ? dec.data : "", dec.len, global, LINE_MAX);
    put_field(out, "Original-Recipient", v.data);
    buf_free(&dec);
    buf_free(&v);
}

static int
orcpt_is_ascii(const char *orcpt)
{
    struct buf dec;
    buf_init(&dec, 0);
    dsn_xtext_decode(orcpt, &dec);
    int ascii = !dsn_needs_smtputf8(dec.data ? dec.data : "", dec.len);
    buf_free(&dec);
    return ascii;
}

/* status_part - the message/(global-)delivery-status content. */
static void
status_part(const struct dsn_info *in, const struct dsn_rcpt *r, size_t nr, int global,
            struct buf *out)
{
    put_field_data(out, "Reporting-MTA", "dns; ", in->reporting_mta, 0, 255);
    if (in->qid && *in->qid)
        put_field_data(out, "X-Arcproxy-Queue-ID", "", in->qid, 0, 64);
    if (in->envid && *in->envid) {
        struct buf dec;
        buf_init(&dec, 0);
        dsn_xtext_decode(in->envid, &dec);
        put_field_data(out, "Original-Envelope-Id", "", dec.data ? dec.data : "", 0, 200);
        buf_free(&dec);
    }
    struct buf d;
    buf_init(&d, 0);
    put_date(&d, in->arrival);
    put_field(out, "Arrival-Date", d.data);
    buf_free(&d);
    for (size_t i = 0; i < nr; i++) {
        char st[16];
        buf_puts(out, "\r\n");
        if (r[i].orcpt && *r[i].orcpt)
            orcpt_field(out, r[i].orcpt, global);
        addr_field(out, "Final-Recipient", r[i].addr, global);
        put_field(out, "Action", "failed");
        rcpt_status(&r[i], st);
        put_field(out, "Status", st);
        if (r[i].remote_mta && *r[i].remote_mta)
            put_field_data(out, "Remote-MTA", "dns; ", r[i].remote_mta, 0, 255);
        if (r[i].diag && *r[i].diag)
            put_field_data(out, "Diagnostic-Code", "smtp; ", r[i].diag, 0, DSN_MAX_TEXT);
    }
}

/* text_part - the human-readable explanation. */
static void
text_part(const struct dsn_info *in, const struct dsn_rcpt *r, size_t nr, int global, int truncated,
          struct buf *out)
{
    struct buf t;
    buf_init(&t, 0);
    buf_puts(&t, "This is the mail system at host ");
    clean(&t, in->reporting_mta, strlen(in->reporting_mta), 0, 255);
    buf_puts(&t, ".");
    put_wrapped(out, t.data);
    buf_puts(out, "\r\n");
    buf_reset(&t);
    buf_puts(&t, "Your message could not be delivered to one or more recipients");
    if (in->reason && *in->reason) {
        buf_puts(&t, " (");
        clean(&t, in->reason, strlen(in->reason), 0, DSN_MAX_TEXT);
        buf_puts(&t, ")");
    }
    buf_puts(&t, ". The recipients and the replies are listed below. The header section of "
                 "your message is attached");
    buf_puts(&t, in->ret_hdrs ? "."
                              : " (this system returns only the header section, also "
                                "when the whole message was asked for).");
    if (truncated)
        buf_printf(&t,
                   " The header section was longer than %d bytes; only its beginning is "
                   "attached.",
                   DSN_MAX_HDR);
    put_wrapped(out, t.data);
    for (size_t i = 0; i < nr; i++) {
        buf_reset(&t);
        buf_puts(out, "\r\n");
        buf_putc(&t, '<');
        clean(&t, r[i].addr, strlen(r[i].addr), global, LINE_MAX);
        buf_puts(&t, ">: ");
        if (r[i].remote_mta && *r[i].remote_mta) {
            buf_puts(&t, "host ");
            clean(&t, r[i].remote_mta, strlen(r[i].remote_mta), 0, 255);
            buf_puts(&t, " said: ");
        }
        if (r[i].diag && *r[i].diag) {
            clean(&t, r[i].diag, strlen(r[i].diag), 0, DSN_MAX_TEXT);
        } else {
            char st[16];
            rcpt_status(&r[i], st);
            buf_printf(&t, "delivery failed (status %s)", st);
        }
        put_wrapped(out, t.data);
    }
    buf_free(&t);
}

/* hdr_copy - the original header section up to its empty line, CRLF line ends, cut at
 * a field boundary to DSN_MAX_HDR bytes; *long_line when a line passes LINE_MAX, *ctl
 * when a NUL or bare CR is inside. Returns 1 when cut. */
static int
hdr_copy(const char *p, size_t n, struct buf *out, int *long_line, int *ctl)
{
    size_t i = 0, field_end = 0;
    int cut = 0;
    while (i < n) {
        const char *lf = memchr(p + i, '\n', n - i);
        size_t e = lf ? (size_t)(lf - p) : n, next = lf ? e + 1 : n;
        if (e > i && p[e - 1] == '\r')
            e--;
        if (e == i)
            break; /* the empty line: end of the header section */
        if (p[i] != ' ' && p[i] != '\t')
            field_end = out->len;
        if (out->len + (e - i) + 2 > DSN_MAX_HDR) {
            out->len = field_end;
            cut = 1;
            break;
        }
        if (e - i > LINE_MAX)
            *long_line = 1;
        if (memchr(p + i, '\0', e - i) || memchr(p + i, '\r', e - i))
            *ctl = 1;
        buf_append(out, p + i, e - i);
        buf_puts(out, "\r\n");
        i = next;
    }
    if (out->data)
        out->data[out->len] = 0;
    return cut;
}

static void
put_base64(struct buf *out, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        buf_append(out, q, 4);
        if ((col += 4) == 76) {
            buf_puts(out, "\r\n");
            col = 0;
        }
    }
    if (col)
        buf_puts(out, "\r\n");
}

/* headers_part - the part's own header fields and content. */
static void
headers_part(const struct buf *h, int global, int long_line, int ctl, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)(h->data ? h->data : "");
    int eight = dsn_needs_smtputf8(h->data ? h->data : "", h->len);
    int utf8 = utf8_valid(p, h->len);
    buf_puts(out, "Content-Description: Undelivered Message Headers\r\n");
    if (!eight && !long_line && !ctl) {
        buf_puts(out, "Content-Type: text/rfc822-headers\r\n\r\n");
        buf_append(out, h->data, h->len);
        return;
    }
    if (global && utf8 && !long_line && !ctl) {
        buf_puts(out, "Content-Type: message/global-headers\r\n"
                      "Content-Transfer-Encoding: 8bit\r\n\r\n");
        buf_append(out, h->data, h->len);
        return;
    }
    buf_printf(out,
               "Content-Type: text/rfc822-headers; charset=%s\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\n",
               !eight ? "us-ascii"
               : utf8 ? "utf-8"
                      : "unknown-8bit");
    put_base64(out, p, h->len);
}

static int
random_hex(char *out, size_t nbytes, struct err *e)
{
    unsigned char r[32];
    if (nbytes > sizeof r)
        nbytes = sizeof r;
    if (getrandom(r, nbytes, 0) != (ssize_t)nbytes)
        return err_set(e, ARC_EIO, "getrandom failed");
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    return 0;
}

static int
check_args(const struct dsn_info *in, const struct dsn_rcpt *r, size_t nr, struct err *e)
{
    if (!in || !in->sender || !*in->sender || strcmp(in->sender, "<>") == 0)
        return err_set(e, ARC_EINVAL, "no DSN for the null sender");
    if (!in->reporting_mta || !*in->reporting_mta)
        return err_set(e, ARC_EINVAL, "no reporting MTA name");
    if (!r || nr == 0)
        return err_set(e, ARC_EINVAL, "no recipients to report");
    for (size_t i = 0; i < nr; i++) {
        if (!r[i].addr || !*r[i].addr)
            return err_set(e, ARC_EINVAL, "recipient %zu has no address", i);
    }
    return 0;
}

/* top_fields - the DSN's own header section up to (not including) Content-Type. */
static int
top_fields(const struct dsn_info *in, int global, struct buf *out, struct err *e)
{
    char rnd[33];
    struct buf v;
    buf_init(&v, 0);
    put_date(&v, in->now);
    put_field(out, "Date", v.data);
    buf_reset(&v);
    buf_puts(&v, "Mail Delivery System <MAILER-DAEMON@");
    clean(&v, in->reporting_mta, strlen(in->reporting_mta), 0, 255);
    buf_putc(&v, '>');
    put_field(out, "From", v.data);
    buf_reset(&v);
    buf_putc(&v, '<');
    clean(&v, in->sender, strlen(in->sender), global, LINE_MAX);
    buf_putc(&v, '>');
    put_field(out, "To", v.data);
    put_field(out, "Subject", "Undelivered Mail Returned to Sender");
    int rc = random_hex(rnd, 8, e);
    if (rc == 0) {
        buf_reset(&v);
        time_t tt = (time_t)in->now;
        struct tm tm;
        char stamp[32] = "0";
        if (gmtime_r(&tt, &tm))
            strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
        buf_printf(&v, "<%s.%s@", stamp, rnd);
        clean(&v, in->reporting_mta, strlen(in->reporting_mta), 0, 255);
        buf_putc(&v, '>');
        put_field(out, "Message-ID", v.data);
        put_field(out, "MIME-Version", "1.0");
        put_field(out, "Auto-Submitted", "auto-replied");
    }
    buf_free(&v);
    return rc;
}

/* pick_boundary - a random boundary that occurs in none of the parts. */
static int
pick_boundary(char *b, size_t bsz, const struct buf *parts, size_t nparts, struct err *e)
{
    for (int tries = 0; tries < 16; tries++) {
        char rnd[33];
        int rc = random_hex(rnd, 16, e);
        if (rc < 0)
            return rc;
        snprintf(b, bsz, "=_dsn_%s", rnd);
        int clash = 0;
        for (size_t i = 0; i < nparts && !clash; i++)
            clash = parts[i].len && memmem(parts[i].data, parts[i].len, b, strlen(b)) != NULL;
        if (!clash)
            return 0;
    }
    return err_set(e, ARC_EIO, "no usable MIME boundary");
}

int
dsn_build(const struct dsn_info *in, const struct dsn_rcpt *r, size_t nr, const char *orig_hdr,
          size_t orig_hdr_len, struct buf *out, struct err *e)
{
    int rc = check_args(in, r, nr, e);
    if (rc < 0)
        return rc;
    int global = !is_ascii(in->sender);
    for (size_t i = 0; i < nr; i++)
        global |= !is_ascii(r[i].addr) || (r[i].orcpt && !orcpt_is_ascii(r[i].orcpt));

    struct buf parts[3], hdr;
    for (size_t i = 0; i < 3; i++)
        buf_init(&parts[i], 0);
    buf_init(&hdr, 0);
    int long_line = 0, ctl = 0, truncated = 0;
    if (orig_hdr && orig_hdr_len)
        truncated = hdr_copy(orig_hdr, orig_hdr_len, &hdr, &long_line, &ctl);
    size_t nparts = hdr.len ? 3 : 2;

    buf_printf(&parts[0],
               "Content-Description: Notification\r\nContent-Type: text/plain; "
               "charset=%s\r\n",
               global ? "utf-8" : "us-ascii");
    buf_puts(&parts[0], global ? "Content-Transfer-Encoding: 8bit\r\n\r\n" : "\r\n");
    text_part(in, r, nr, global, truncated, &parts[0]);
    buf_printf(&parts[1], "Content-Description: Delivery report\r\nContent-Type: %s\r\n",
               global ? "message/global-delivery-status" : "message/delivery-status");
    buf_puts(&parts[1], global ? "Content-Transfer-Encoding: 8bit\r\n\r\n" : "\r\n");
    status_part(in, r, nr, global, &parts[1]);
    if (nparts == 3)
        headers_part(&hdr, global, long_line, ctl, &parts[2]);

    /* assembled apart so that out's cap is checked once, on the whole message */
    char b[64];
    struct buf msg;
    buf_init(&msg, 0);
    rc = top_fields(in, global, &msg, e);
    if (rc == 0)
        rc = pick_boundary(b, sizeof b, parts, nparts, e);
    if (rc == 0) {
        buf_printf(&msg,
                   "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                   " boundary=\"%s\"\r\n",
                   b);
        buf_puts(&msg, global ? "Content-Transfer-Encoding: 8bit\r\n" : "");
        buf_puts(&msg, "\r\nThis is a MIME-encapsulated message.\r\n");
        for (size_t i = 0; i < nparts; i++) {
            buf_printf(&msg, "\r\n--%s\r\n", b);
            buf_append(&msg, parts[i].data, parts[i].len);
        }
        buf_printf(&msg, "\r\n--%s--\r\n", b);
        if (buf_append(out, msg.data, msg.len) < 0)
            rc = err_set(e, ARC_ERANGE, "DSN of %zu bytes does not fit the buffer", msg.len);
    }
    buf_free(&msg);
    for (size_t i = 0; i < 3; i++)
        buf_free(&parts[i]);
    buf_free(&hdr);
    return rc;
}
