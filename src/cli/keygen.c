/* SPDX-License-Identifier: MIT */
/*
 * keygen - `arcproxy keygen`: make a signing key, store it, print its DNS record.
 *
 *   arcproxy keygen -d DOMAIN -s SELECTOR [--bits 2048] [--type rsa|ed25519] [--out DIR]
 *
 * Writes the private key (PKCS#8 PEM, see src/arc/key.c) to DIR/SELECTOR.private, mode
 * 0600, created with O_EXCL so an existing key is never overwritten; the file and its
 * directory are fsync'd before the record is printed, so a record that was published
 * always has its key on disk. stdout gets one zone-file line:
 *
 *   SELECTOR._domainkey.DOMAIN. IN TXT ( "v=DKIM1; k=rsa; " "p=..." ... )
 *
 * with the value split into character-strings of at most 255 bytes (RFC 1035 §3.3).
 * Exit codes (cli.h): 0 done; 64 usage (unknown option, missing -d/-s, bad --bits or
 * --type, a name that is not a DNS name); 73 the key file cannot be created or written
 * (nothing is left behind); 70 key generation or stdout failed.
 * Documented in docs/cli.md; the option set is a public interface.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../arc/arc.h"
#include "../arc/key.h"
#include "../util/buf.h"
#include "cli.h"

#define TXT_STRING_MAX 255
#define DNS_NAME_MAX   253

struct keygen_opts {
    char domain[DNS_NAME_MAX + 2]; /* without the trailing dot */
    const char *selector;
    const char *dir;
    enum arc_alg alg;
    unsigned bits;
    int bits_given;
};

static void
keygen_usage(FILE *f)
{
    fprintf(f, "usage: arcproxy keygen -d DOMAIN -s SELECTOR [--bits N] [--type rsa|ed25519]\n"
               "                       [--out DIR]\n"
               "  writes DIR/SELECTOR.private (mode 0600, never overwritten) and prints\n"
               "  the TXT record for SELECTOR._domainkey.DOMAIN; --bits (rsa only)\n"
               "  1024..8192, default 2048; --type default rsa; --out default \".\"\n");
}

/* parse_bits - decimal 1024..8192 into *bits; 0 if not. */
static int
parse_bits(const char *s, unsigned *bits)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < 1024 || v > 8192)
        return 0;
    *bits = (unsigned)v;
    return 1;
}

/* keygen_args - argv into o; returns CLI_EX_OK, or the exit code after a message
 * (-1 for --help, already printed). */
static int
keygen_args(int argc, char **argv, struct keygen_opts *o)
{
    static const struct option longopts[] = {
        {"domain", required_argument, NULL, 'd'},
        {"selector", required_argument, NULL, 's'},
        {"bits", required_argument, NULL, 'b'},
        {"type", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct keygen_opts){"", NULL, ".", ARC_ALG_RSA_SHA256, 2048, 0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":d:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': {
            size_t dn = strlen(optarg);
            if (dn >= sizeof o->domain) {
                fprintf(stderr, "arcproxy keygen: -d: domain name too long\n");
                return CLI_EX_USAGE;
            }
            /* one trailing dot is how zone files spell an absolute name: drop it */
            memcpy(o->domain, optarg, dn + 1);
            if (dn > 1 && o->domain[dn - 1] == '.')
                o->domain[dn - 1] = '\0';
            break;
        }
        case 's':
            o->selector = optarg;
            break;
        case 'b':
            if (!parse_bits(optarg, &o->bits)) {
                fprintf(stderr, "arcproxy keygen: --bits %s: want 1024..8192\n", optarg);
                return CLI_EX_USAGE;
            }
            o->bits_given = 1;
            break;
        case 't':
            if (strcmp(optarg, "rsa") == 0) {
                o->alg = ARC_ALG_RSA_SHA256;
            } else if (strcmp(optarg, "ed25519") == 0) {
                o->alg = ARC_ALG_ED25519_SHA256;
            } else {
                fprintf(stderr, "arcproxy keygen: --type %s: want rsa or ed25519\n", optarg);
                return CLI_EX_USAGE;
            }
            break;
        case 'o':
            o->dir = optarg;
            break;
        case 'h':
            keygen_usage(stdout);
            return -1;
        case ':':
            fprintf(stderr, "arcproxy keygen: %s needs an argument\n", argv[optind - 1]);
            keygen_usage(stderr);
            return CLI_EX_USAGE;
        default:
            if (optopt)
                fprintf(stderr, "arcproxy keygen: unknown option -%c\n", optopt);
            else
                fprintf(stderr, "arcproxy keygen: unknown option %s\n", argv[optind - 1]);
            keygen_usage(stderr);
            return CLI_EX_USAGE;
        }
    }
    return CLI_EX_OK;
}

/* keygen_check - what getopt cannot check: required options, names, combinations. */
static int
keygen_check(int argc, char **argv, struct keygen_opts *o)
{
    if (optind < argc) {
        fprintf(stderr, "arcproxy keygen: unexpected argument %s\n", argv[optind]);
        return CLI_EX_USAGE;
    }
    if (!o->domain[0] || !o->selector) {
        fprintf(stderr, "arcproxy keygen: -d DOMAIN and -s SELECTOR are required\n");
        keygen_usage(stderr);
        return CLI_EX_USAGE;
    }
    if (!arc_is_domain(span_of(o->domain))) {
        fprintf(stderr, "arcproxy keygen: -d %s: not a domain name\n", o->domain);
        return CLI_EX_USAGE;
    }
    if (!arc_is_domain(span_of(o->selector))) {
        fprintf(stderr,
                "arcproxy keygen: -s %s: not a selector (letters, digits, '-', '_', "
                "dot-separated)\n",
                o->selector);
        return CLI_EX_USAGE;
    }
    if (o->bits_given && o->alg != ARC_ALG_RSA_SHA256) {
        fprintf(stderr, "arcproxy keygen: --bits applies to rsa keys only\n");
        return CLI_EX_USAGE;
    }
    return CLI_EX_OK;
}

/* write_all - the whole of p to fd, across short writes and EINTR; 0 or -1 (errno). */
static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync_dir - make the new directory entry durable. */
static int
fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* store_key - create path exclusively (0600), write pem, fsync, close, fsync dir. On any
 * failure after the create, the partial file is removed so a retry can succeed. */
static int
store_key(const char *dir, const char *path, const char *pem)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "arcproxy keygen: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (an existing key is never overwritten)" : "");
        return CLI_EX_CANTCREAT;
    }
    const char *step = "write";
    int rc = write_all(fd, pem, strlen(pem));
    if (rc == 0) {
        step = "fsync";
        rc = fsync(fd);
    }
    /* close can report a write-back error even after fsync succeeded (Postfix
     * mail_stream.c); treat it as a failed write */
    if (close(fd) < 0 && rc == 0) {
        step = "close";
        rc = -1;
    }
    if (rc == 0 && fsync_dir(dir) < 0) {
        step = "fsync directory";
        rc = -1;
    }
    if (rc < 0) {
        fprintf(stderr, "arcproxy keygen: %s: %s: %s\n", path, step, strerror(errno));
        unlink(path);
        return CLI_EX_CANTCREAT;
    }
    return CLI_EX_OK;
}

/* zone_line - "NAME. IN TXT ( "..." "..." )" for record, split into character-strings
 * of at most 255 bytes: the tags before p= in the first, p= in the rest. record holds
 * only base64 and tag text, so nothing needs escaping inside the quotes. */
static void
zone_line(struct buf *b, const struct keygen_opts *o, const char *record)
{
    buf_printf(b, "%s._domainkey.%s. IN TXT (", o->selector, o->domain);
    const char *p = strstr(record, "p=");
    size_t head = p ? (size_t)(p - record) : 0;
    if (head > 0)
        buf_printf(b, " \"%.*s\"", (int)head, record);
    const char *rest = record + head;
    size_t n = strlen(rest);
    while (n > 0) {
        size_t chunk = n < TXT_STRING_MAX ? n : TXT_STRING_MAX;
        buf_printf(b, " \"%.*s\"", (int)chunk, rest);
        rest += chunk;
        n -= chunk;
    }
    buf_puts(b, " )\n");
}

int
cli_keygen(int argc, char **argv)
{
    struct keygen_opts o;
    int rc = keygen_args(argc, argv, &o);
    if (rc == -1)
        return CLI_EX_OK;
    if (rc == CLI_EX_OK)
        rc = keygen_check(argc, argv, &o);
    if (rc != CLI_EX_OK)
        return rc;

    char *pem = NULL, *record = NULL;
    struct err e;
    err_clear(&e);
    if (arc_keygen(o.alg, o.alg == ARC_ALG_RSA_SHA256 ? o.bits : 0, &pem, &record, &e) < 0) {
        fprintf(stderr, "arcproxy keygen: %s\n", e.text);
        return CLI_EX_SOFTWARE;
    }
    struct buf path;
    buf_init(&path, 0);
    buf_printf(&path, "%s/%s.private", o.dir, o.selector);
    rc = store_key(o.dir, path.data, pem);
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);
    if (rc == CLI_EX_OK) {
        struct buf line;
        buf_init(&line, 0);
        zone_line(&line, &o, record);
        fputs(line.data, stdout);
        buf_free(&line);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr,
                    "arcproxy keygen: cannot write the record to stdout; the key is "
                    "in %s\n",
                    path.data);
            rc = CLI_EX_SOFTWARE;
        } else {
            fprintf(stderr, "arcproxy keygen: private key written to %s\n", path.data);
        }
    }
    buf_free(&path);
    free(record);
    return rc;
}
