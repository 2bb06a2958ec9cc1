/* SPDX-License-Identifier: MIT */
/*
 * keygen - `arcproxy keygen`: make a signing key, store it, print its DNS record; or,
 * with --check, confirm that the published record matches a key.
 *
 *   arcproxy keygen -d DOMAIN -s SELECTOR [--bits 2048] [--type rsa|ed25519] [--out DIR]
 *   arcproxy keygen --check -d DOMAIN -s SELECTOR [-k KEYFILE | --out DIR]
 *                   [--dns-server ADDR[:PORT] | --dns-zone FILE]
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
 *
 * --check fetches SELECTOR._domainkey.DOMAIN TXT (from the DNS server, the zone file, or
 * the resolvers of /etc/resolv.conf), parses it as a DKIM key record, and proves that
 * it belongs to the private key (KEYFILE, default DIR/SELECTOR.private) by signing a
 * random digest with the private key and verifying it with the published one. Exit
 * codes: 0 the record matches; 1 a record is published but does not match (another
 * key, another algorithm, revoked with p=, or not a key record); 68 no record
 * (NXDOMAIN or no TXT); 75 the lookup failed for now (SERVFAIL, timeout); 66 the key
 * file cannot be read; 65 the zone file is bad; 64 usage.
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
#include <openssl/rand.h>

#include "../arc/arc.h"
#include "../arc/key.h"
#include "../util/buf.h"
#include "cli.h"
#include "common.h"

#define TXT_STRING_MAX 255
#define DNS_NAME_MAX   253

struct keygen_opts {
    char domain[DNS_NAME_MAX + 2]; /* without the trailing dot */
    const char *selector;
    const char *dir;
    enum arc_alg alg;
    unsigned bits;
    int bits_given, type_given;
    int check;              /* --check */
    const char *key;        /* --key (check only) */
    const char *dns_server; /* --dns-server (check only) */
    const char *dns_zone;   /* --dns-zone (check only) */
};

static void
keygen_usage(FILE *f)
{
    fprintf(f, "usage: arcproxy keygen -d DOMAIN -s SELECTOR [--bits N] [--type rsa|ed25519]\n"
               "                       [--out DIR]\n"
               "  writes DIR/SELECTOR.private (mode 0600, never overwritten) and prints\n"
               "  the TXT record for SELECTOR._domainkey.DOMAIN; --bits (rsa only)\n"
               "  1024..8192, default 2048; --type default rsa; --out default \".\"\n"
               "usage: arcproxy keygen --check -d DOMAIN -s SELECTOR [-k KEYFILE | --out DIR]\n"
               "                       [--dns-server ADDR[:PORT] | --dns-zone FILE]\n"
               "  fetches the published TXT record and checks it matches the key\n"
               "  (default DIR/SELECTOR.private); exit 0 match, 1 mismatch, 68 no record,\n"
               "  75 DNS temporary failure\n");
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
        {"check", no_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},
        {"dns-server", required_argument, NULL, 'S'},
        {"dns-zone", required_argument, NULL, 'z'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct keygen_opts){"", NULL, ".", ARC_ALG_RSA_SHA256, 2048, 0, 0, 0, NULL, NULL, NULL};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":d:s:k:h", longopts, NULL)) != -1) {
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
            o->type_given = 1;
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
        case 'c':
            o->check = 1;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'S':
            o->dns_server = optarg;
            break;
        case 'z':
            o->dns_zone = optarg;
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
    if (!o->check && (o->key || o->dns_server || o->dns_zone)) {
        fprintf(stderr, "arcproxy keygen: -k, --dns-server and --dns-zone need --check\n");
        return CLI_EX_USAGE;
    }
    if (o->check && (o->bits_given || o->type_given)) {
        fprintf(stderr, "arcproxy keygen: --bits and --type make keys; --check reads one\n");
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

/* key_matches - 1 if pk verifies a signature made with k over a random digest. */
static int
key_matches(const struct arc_privkey *k, const struct arc_pubkey *pk)
{
    if (arc_privkey_alg(k) != arc_pubkey_alg(pk))
        return 0;
    unsigned char digest[32];
    if (RAND_bytes(digest, sizeof digest) != 1)
        return 0;
    struct buf sig;
    buf_init(&sig, 0);
    int ok = arc_privkey_sign(k, digest, &sig, NULL) == 0 &&
             arc_pubkey_verify(pk, arc_privkey_alg(k), digest, (const unsigned char *)sig.data,
                               sig.len) == 1;
    buf_free(&sig);
    return ok;
}

/* keygen_check_published - `keygen --check`: the published record against the key. */
static int
keygen_check_published(const struct keygen_opts *o)
{
    struct err e;
    err_clear(&e);
    struct buf path, txt, name;
    buf_init(&path, 0);
    buf_init(&txt, 65536);
    buf_init(&name, 0);
    buf_printf(&name, "%s._domainkey.%s", o->selector, o->domain);
    if (o->key)
        buf_puts(&path, o->key);
    else
        buf_printf(&path, "%s/%s.private", o->dir, o->selector);
    struct arc_privkey *k = NULL;
    struct arc_pubkey *pk = NULL;
    struct cli_keys keys = {NULL};
    int rc;
    if (arc_privkey_load_file(path.data, &k, &e) < 0) {
        fprintf(stderr, "arcproxy keygen: %s\n", e.text);
        rc = CLI_EX_NOINPUT;
        goto out;
    }
    if ((rc = cli_keys_open(&keys, o->dns_zone, o->dns_server)) != 0)
        goto out;
    int found = cli_fetch_txt(&keys, name.data, &txt, &e);
    if (found == 0) {
        printf("missing: no TXT record at %s\n", name.data);
        rc = CLI_EX_NOHOST;
    } else if (found < 0) {
        fprintf(stderr, "arcproxy keygen: %s\n", e.text);
        rc = found == -ARC_ETEMP ? CLI_EX_TEMPFAIL : CLI_EX_USAGE;
    } else if (arc_pubkey_parse(txt.data, txt.len, 1024, &pk, &e) < 0) {
        printf("mismatch: %s: %s\n", name.data, e.text);
        rc = CLI_EX_FAIL;
    } else if (!key_matches(k, pk)) {
        printf("mismatch: %s publishes another key than %s\n", name.data, path.data);
        rc = CLI_EX_FAIL;
    } else {
        printf("match: %s publishes the key of %s\n", name.data, path.data);
        rc = CLI_EX_OK;
    }
out:
    cli_keys_close(&keys);
    arc_pubkey_free(pk);
    arc_privkey_free(k);
    buf_free(&path);
    buf_free(&txt);
    buf_free(&name);
    return rc;
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
    if (o.check)
        return keygen_check_published(&o);

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
