/* SPDX-License-Identifier: MIT */
/*
 * test_policy - src/policy: every key source (default key, keys.domains, templates,
 * selector_map / path_map, try_fallback), key file checks (missing, group-readable, small
 * RSA), the signing domain sources and the organizational reduction (libpsl), every
 * policy switch, From parsing, and the (o)/(x) header lists.
 *
 * Each case builds its config from YAML text (config_load_mem, as the daemon does) and
 * its keys in a private temporary directory. Not covered: what the proxy does with a
 * decision (tests/proxy).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "arc/key.h"
#include "config/config.h"
#include "policy/policy.h"
#include "util/err.h"

static char dir[64];

/* tmpdir - a private directory for this case; cleanup() removes it at the end. */
static const char *
tmpdir(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_policy_XXXXXX");
    ASSERT(mkdtemp(dir) != NULL);
    return dir;
}

static void
cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT(system(cmd) == 0);
}

/* write_file - dir/name with text and mode; returns the path (static buffer rotates). */
static const char *
write_file(const char *name, const char *text, mode_t mode)
{
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    ASSERT(f);
    ASSERT(fputs(text, f) >= 0);
    ASSERT(fclose(f) == 0);
    ASSERT(chmod(p, mode) == 0);
    return p;
}

/* make_key - a new key file dir/name (ed25519, or RSA of bits). */
static const char *
make_key(const char *name, enum arc_alg alg, unsigned bits, mode_t mode)
{
    char *pem, *rec;
    struct err e;
    ASSERT_EQ_INT(arc_keygen(alg, bits, &pem, &rec, &e), 0);
    const char *p = write_file(name, pem, mode);
    free(pem);
    free(rec);
    return p;
}

static struct arcp_config *
cfg_from(const char *fmt, ...)
{
    char yaml[8192];
    va_list ap;
    struct config_errors errs;
    struct arcp_config *cfg;
    va_start(ap, fmt);
    vsnprintf(yaml, sizeof yaml, fmt, ap);
    va_end(ap);
    config_errors_init(&errs);
    if (config_load_mem("t.yaml", yaml, strlen(yaml), &cfg, &errs) != 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msg[i]);
        TEST_FAIL("config errors in:\n%s", yaml);
    }
    return cfg;
}

/* load - policy from yaml; fails the test if policy_load fails. */
static struct policy *
load(const char *fmt, ...)
{
    char yaml[8192];
    va_list ap;
    struct policy *p;
    struct err e;
    va_start(ap, fmt);
    vsnprintf(yaml, sizeof yaml, fmt, ap);
    va_end(ap);
    struct arcp_config *cfg = cfg_from("%s", yaml);
    err_clear(&e);
    if (policy_load(cfg, &p, &e) != 0)
        TEST_FAIL("policy_load: %s", e.text);
    config_free(cfg); /* the policy must not need it */
    return p;
}

/* load_fails - policy_load returns rc and e.text contains want. */
static void
load_fails(int rc, const char *want, const char *fmt, ...)
{
    char yaml[8192];
    va_list ap;
    struct policy *p = (struct policy *)1;
    struct err e;
    va_start(ap, fmt);
    vsnprintf(yaml, sizeof yaml, fmt, ap);
    va_end(ap);
    struct arcp_config *cfg = cfg_from("%s", yaml);
    err_clear(&e);
    ASSERT_EQ_INT(policy_load(cfg, &p, &e), rc);
    ASSERT(p == NULL);
    if (!strstr(e.text, want))
        TEST_FAIL("error \"%s\" lacks \"%s\"", e.text, want);
    config_free(cfg);
}

/* a message: From values, envelope, recipients, client */
struct tmsg {
    struct policy_msg m;
    struct span from[4];
    const char *rcpts[4];
    struct sockaddr_storage ss;
};

static void
tmsg_init(struct tmsg *t, const char *from, const char *env, const char *rcpt, const char *ip)
{
    memset(t, 0, sizeof *t);
    if (from) {
        t->from[0] = span_of(from);
        t->m.nfrom = 1;
    }
    t->m.from = t->from;
    t->m.env_from = env;
    t->rcpts[0] = rcpt;
    t->m.rcpts = t->rcpts;
    t->m.nrcpts = rcpt ? 1 : 0;
    t->m.source = POLICY_SOURCE_REMOTE;
    if (ip) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&t->ss;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->ss;
        if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
            s4->sin_family = AF_INET;
        else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
            s6->sin6_family = AF_INET6;
        else
            TEST_FAIL("bad ip %s", ip);
        t->m.client = (struct sockaddr *)&t->ss;
    }
}

static struct policy_decision d;

static const struct policy_decision *
decide(const struct policy *p, const char *from, const char *env, const char *rcpt, const char *ip)
{
    struct tmsg t;
    tmsg_init(&t, from, env, rcpt, ip);
    policy_decide(p, &t.m, &d);
    return &d;
}

#define ASSERT_SEALS(dd, dom, sel)                                                                 \
    do {                                                                                           \
        if (!(dd)->seal)                                                                           \
            TEST_FAIL("not sealed: %s", (dd)->why);                                                \
        ASSERT_EQ_STR((dd)->domain, dom);                                                          \
        ASSERT_EQ_STR((dd)->selector, sel);                                                        \
        ASSERT((dd)->key != NULL);                                                                 \
    } while (0)

#define ASSERT_NO_SEAL(dd, reason)                                                                 \
    do {                                                                                           \
        if ((dd)->seal)                                                                            \
            TEST_FAIL("sealed (%s), want not: %s", (dd)->why, reason);                             \
        if (!strstr((dd)->why, reason))                                                            \
            TEST_FAIL("why \"%s\" lacks \"%s\"", (dd)->why, reason);                               \
    } while (0)

/* ---- keys ---- */

static void
default_key_seals_with_literal_domain(void)
{
    tmpdir();
    const char *k = make_key("k.pem", ARC_ALG_ED25519_SHA256, 0, 0600);
    struct policy *p = load("keys: {domain: example.org, selector: arc1, key_file: \"%s\"}\n", k);
    ASSERT_EQ_INT(policy_key_count(p), 1);
    ASSERT_SEALS(decide(p, "a@other.net", "b@other.net", "c@list.example", "192.0.2.1"),
                 "example.org", "arc1");
    ASSERT(d.verify && d.add_authres && d.include_remote_ip && !d.pass);
    ASSERT_EQ_INT(d.hdr_canon, ARC_CANON_RELAXED);
    ASSERT_EQ_INT(d.body_canon, ARC_CANON_RELAXED);
    policy_free(p);
    cleanup();
}

static void
no_key_configured_does_not_seal(void)
{
    struct policy *p = load("mode: sv\n");
    ASSERT_NO_SEAL(decide(p, "a@example.org", "a@example.org", "b@example.net", "192.0.2.1"),
                   "keys.domain is empty");
    ASSERT(d.verify);
    ASSERT_EQ_INT(policy_key_count(p), 0);
    policy_free(p);
}

static void
group_readable_key_is_refused(void)
{
    tmpdir();
    const char *k = make_key("k.pem", ARC_ALG_ED25519_SHA256, 0, 0640);
    load_fails(-ARC_EIO, "mode 0640", "keys: {domain: example.org, selector: s, key_file: %s}\n",
               k);
    load_fails(-ARC_EIO, k, "keys: {domain: example.org, selector: s, key_file: %s}\n", k);
    ASSERT(chmod(k, 0604) == 0);
    load_fails(-ARC_EIO, "mode 0604", "keys: {domain: example.org, selector: s, key_file: %s}\n",
               k);
    ASSERT(chmod(k, 0400) == 0);
    policy_free(load("keys: {domain: example.org, selector: s, key_file: %s}\n", k));
    cleanup();
}

static void
missing_or_bad_key_file_is_an_error(void)
{
    tmpdir();
    load_fails(-ARC_EIO, "/nonexistent/k.pem",
               "keys: {domain: example.org, selector: s, key_file: /nonexistent/k.pem}\n");
    const char *bad = write_file("bad.pem", "not a key\n", 0600);
    load_fails(-ARC_EINVAL, bad, "keys: {domain: example.org, selector: s, key_file: %s}\n", bad);
    cleanup();
}

static void
small_rsa_key_is_refused(void)
{
    tmpdir();
    const char *k = make_key("rsa1024.pem", ARC_ALG_RSA_SHA256, 1024, 0600);
    load_fails(-ARC_ERANGE, "RSA key of 1024 bits, below keys.min_rsa_bits 2048",
               "keys: {domain: example.org, selector: s, key_file: %s}\n", k);
    struct policy *p =
        load("keys: {domain: example.org, selector: s, key_file: %s, min_rsa_bits: 1024}\n", k);
    ASSERT_SEALS(decide(p, "a@b.example", "", "c@d.example", NULL), "example.org", "s");
    policy_free(p);
    cleanup();
}

static void
per_domain_entries_pick_selector_and_key(void)
{
    tmpdir();
    const char *k1 = make_key("org.pem", ARC_ALG_ED25519_SHA256, 0, 0600);
    make_key("example.net.s2.pem", ARC_ALG_ED25519_SHA256, 0, 0600);
    struct policy *p = load("keys:\n  use_domain: header\n  domains:\n"
                            "    - \"example.org s1 %s\"\n"
                            "    - \"example.net s2 %s/$domain.$selector.pem\"\n",
                            k1, dir);
    ASSERT_EQ_INT(policy_key_count(p), 2);
    ASSERT_SEALS(decide(p, "a@example.org", "a@example.org", "x@y.example", NULL), "example.org",
                 "s1");
    const struct arc_privkey *korg = d.key;
    ASSERT_SEALS(decide(p, "a@Example.NET", "a@example.net", "x@y.example", NULL), "example.net",
                 "s2");
    ASSERT(d.key != korg);
    ASSERT_NO_SEAL(decide(p, "a@example.com", "a@example.com", "x@y.example", NULL),
                   "no key for domain example.com");
    ASSERT_EQ_STR(d.domain, "");
    policy_free(p);
    cleanup();
}

static void
duplicate_domain_entry_is_an_error(void)
{
    tmpdir();
    const char *k = make_key("k.pem", ARC_ALG_ED25519_SHA256, 0, 0600);
    load_fails(-ARC_EINVAL, "example.org already has a key",
               "keys:\n  domain: example.org\n  selector: a\n  key_file: %s\n"
               "  domains: [\"example.org b %s\"]\n",
               k, k);
    cleanup();
}

static void
selector_map_and_path_map(void)
{
    tmpdir();
    make_key("a.example.sel-a.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    const char *kb = make_key("b-special.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    make_key("c.example.$selector.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    make_key("c.example.arc.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    const char *sm = write_file("selectors",
                                "# domain selector\n\na.example sel-a  # comment\n"
                                "b.example sel-b\n",
                                0644);
    char pmtext[512];
    snprintf(pmtext, sizeof pmtext, "b.example %s\nc.example %s/$domain.$selector.key\n", kb, dir);
    const char *pm = write_file("paths", pmtext, 0644);
    struct policy *p = load("keys:\n  use_domain: recipient\n  selector: arc\n"
                            "  path: %s/$domain.$selector.key\n  selector_map: %s\n"
                            "  path_map: %s\n  try_fallback: false\n",
                            dir, sm, pm);
    ASSERT_EQ_INT(policy_key_count(p), 3);
    /* a: selector from the map, file from the keys.path template */
    ASSERT_SEALS(decide(p, NULL, "", "list@a.example", NULL), "a.example", "sel-a");
    /* b: both maps */
    ASSERT_SEALS(decide(p, NULL, "", "list@b.example", NULL), "b.example", "sel-b");
    /* c: file from path_map (a template), selector keys.selector */
    ASSERT_SEALS(decide(p, NULL, "", "list@c.example", NULL), "c.example", "arc");
    ASSERT_NO_SEAL(decide(p, NULL, "", "list@d.example", NULL), "no key for domain d.example");
    policy_free(p);
    cleanup();
}

static void
bad_map_line_names_file_and_line(void)
{
    tmpdir();
    const char *sm = write_file("selectors", "a.example s1\nb.example\n", 0644);
    load_fails(-ARC_EINVAL, ":2: want \"domain value\"",
               "keys: {selector: arc, selector_map: %s}\n", sm);
    const char *sm2 = write_file("selectors2", "a.example s1\nA.example s2\n", 0644);
    load_fails(-ARC_EINVAL, "listed twice", "keys: {selector: arc, selector_map: %s}\n", sm2);
    load_fails(-ARC_EIO, "/nonexistent/map", "keys: {path_map: /nonexistent/map}\n");
    /* a map domain whose key file does not exist */
    const char *sm3 = write_file("selectors3", "a.example s1\n", 0644);
    load_fails(-ARC_EIO, "a.example.s1.key",
               "keys: {selector_map: %s, path: \"%s/$domain.$selector.key\"}\n", sm3, dir);
    cleanup();
}

static void
try_fallback_uses_template_files_that_exist(void)
{
    tmpdir();
    make_key("example.com.arc.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    make_key("example.org.arc.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    make_key("example.org.old.key", ARC_ALG_ED25519_SHA256, 0, 0644); /* other selector */
    const char *y = "keys:\n  use_domain: header\n  selector: arc\n"
                    "  path: %s/$domain.$selector.key\n  try_fallback: %s\n";
    struct policy *p = load(y, dir, "true");
    ASSERT_EQ_INT(policy_key_count(p), 2);
    ASSERT_SEALS(decide(p, "a@example.com", "a@example.com", "b@x.example", NULL), "example.com",
                 "arc");
    ASSERT_SEALS(decide(p, "a@example.org", "a@example.org", "b@x.example", NULL), "example.org",
                 "arc");
    ASSERT_NO_SEAL(decide(p, "a@example.net", "a@example.net", "b@x.example", NULL),
                   "no key for domain example.net");
    policy_free(p);
    p = load(y, dir, "false");
    ASSERT_EQ_INT(policy_key_count(p), 0);
    ASSERT_NO_SEAL(decide(p, "a@example.com", "a@example.com", "b@x.example", NULL),
                   "no key for domain example.com");
    policy_free(p);
    /* a bad file the template matches is an error too: it would be used */
    make_key("example.net.arc.key", ARC_ALG_ED25519_SHA256, 0, 0660);
    load_fails(-ARC_EIO, "example.net.arc.key", y, dir, "true");
    cleanup();
}

static void
fallback_template_without_domain_is_one_key_for_all(void)
{
    tmpdir();
    make_key("shared.arc.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    struct policy *p = load("keys: {use_domain: recipient, selector: arc, "
                            "path: \"%s/shared.$selector.key\"}\n",
                            dir);
    ASSERT_SEALS(decide(p, NULL, "", "list@lists.example.org", NULL), "example.org", "arc");
    ASSERT_SEALS(decide(p, NULL, "", "x@example.net", NULL), "example.net", "arc");
    policy_free(p);
    cleanup();
}

/* ---- signing domain ---- */

static void
org_domain_reduction_with_the_public_suffix_list(void)
{
    tmpdir();
    make_key("example.co.uk.arc.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    make_key("mail.example.co.uk.arc.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    const char *y = "keys: {use_domain: header, use_org_domain: %s, selector: arc, "
                    "path: \"%s/$domain.$selector.key\"}\n";
    struct policy *p = load(y, "true", dir);
    char out[256];
    policy_org_domain(p, "mail.example.co.uk", out, sizeof out);
    ASSERT_EQ_STR(out, "example.co.uk");
    policy_org_domain(p, "a.b.example.com", out, sizeof out);
    ASSERT_EQ_STR(out, "example.com");
    policy_org_domain(p, "foo.github.io", out, sizeof out); /* a private suffix */
    ASSERT_EQ_STR(out, "foo.github.io");
    ASSERT_SEALS(decide(p, "x@mail.example.co.uk", "", "r@y.example", NULL), "example.co.uk",
                 "arc");
    policy_free(p);
    p = load(y, "false", dir);
    ASSERT_SEALS(decide(p, "x@mail.example.co.uk", "", "r@y.example", NULL), "mail.example.co.uk",
                 "arc");
    policy_free(p);
    cleanup();
}

static void
domain_from_envelope_and_recipient(void)
{
    tmpdir();
    make_key("env.example.arc.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    make_key("rcpt.example.arc.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    make_key("hdr.example.arc.key", ARC_ALG_ED25519_SHA256, 0, 0600);
    const char *y = "keys: {use_domain: %s, selector: arc, path: \"%s/$domain.$selector.key\"}\n";
    struct policy *p = load(y, "envelope", dir);
    ASSERT_SEALS(decide(p, "a@hdr.example", "b@ENV.example", "c@rcpt.example", NULL), "env.example",
                 "arc");
    ASSERT_NO_SEAL(decide(p, "a@hdr.example", "", "c@rcpt.example", NULL), "null sender");
    policy_free(p);
    p = load(y, "recipient", dir);
    ASSERT_SEALS(decide(p, "a@hdr.example", "b@env.example", "c@rcpt.example", NULL),
                 "rcpt.example", "arc");
    policy_free(p);
    p = load(y, "header", dir);
    ASSERT_SEALS(decide(p, "A <a@hdr.example>", "b@env.example", "c@rcpt.example", NULL),
                 "hdr.example", "arc");
    ASSERT_NO_SEAL(decide(p, NULL, "b@env.example", "c@rcpt.example", NULL), "no From address");
    ASSERT_NO_SEAL(decide(p, "a@b\xc3\xa4r.example", "b@env.example", "c@rcpt.example", NULL),
                   "not an ASCII domain");
    policy_free(p);
    cleanup();
}

/* ---- which mail ---- */

static struct policy *
sealing_policy(const char *extra)
{
    const char *k = make_key("k.pem", ARC_ALG_ED25519_SHA256, 0, 0600);
    return load("keys: {domain: fwd.example, selector: s, key_file: %s}\n%s", k, extra);
}

static void
peer_list_is_neither_sealed_nor_verified(void)
{
    tmpdir();
    struct policy *p = sealing_policy("policy: {peer_list: [192.0.2.0/24, \"2001:db8::/32\"]}\n");
    decide(p, "a@b.example", "a@b.example", "c@d.example", "192.0.2.77");
    ASSERT(d.pass && !d.verify && !d.seal && !d.add_authres);
    ASSERT_NO_SEAL(&d, "peer_list");
    decide(p, "a@b.example", "a@b.example", "c@d.example", "2001:db8::5");
    ASSERT(d.pass);
    decide(p, "a@b.example", "a@b.example", "c@d.example", "::ffff:192.0.2.9"); /* mapped */
    ASSERT(d.pass);
    ASSERT_SEALS(decide(p, "a@b.example", "a@b.example", "c@d.example", "198.51.100.1"),
                 "fwd.example", "s");
    ASSERT(d.verify && !d.pass);
    policy_free(p);
    cleanup();
}

static void
sign_inbound_off_seals_only_sign_networks_internal_and_local(void)
{
    tmpdir();
    struct policy *p = sealing_policy("policy:\n  sign_inbound: false\n"
                                      "  sign_networks: [10.0.0.0/8]\n"
                                      "  internal_hosts: [172.16.0.0/12]\n");
    ASSERT_NO_SEAL(decide(p, "a@b.example", "a@b.example", "c@d.example", "198.51.100.1"),
                   "inbound mail, sign_inbound is off");
    ASSERT(d.verify);
    ASSERT_NO_SEAL(decide(p, "a@b.example", "a@b.example", "c@d.example", NULL), "sign_inbound");
    ASSERT_SEALS(decide(p, "a@b.example", "a@b.example", "c@d.example", "10.1.2.3"), "fwd.example",
                 "s");
    ASSERT(d.verify && !d.internal && !d.reuse_auth_results);
    /* internal: sealed, not judged, its A-R give cv= */
    ASSERT_SEALS(decide(p, "a@b.example", "a@b.example", "c@d.example", "172.16.9.9"),
                 "fwd.example", "s");
    ASSERT(!d.verify && !d.add_authres && d.internal && d.reuse_auth_results);
    /* local */
    struct tmsg t;
    tmsg_init(&t, "a@b.example", "a@b.example", "c@d.example", "127.0.0.1");
    t.m.source = POLICY_SOURCE_LOCAL;
    policy_decide(p, &t.m, &d);
    ASSERT_SEALS(&d, "fwd.example", "s");
    policy_free(p);
    cleanup();
}

static void
sign_local_off_does_not_seal_local_mail(void)
{
    tmpdir();
    struct policy *p = sealing_policy("policy: {sign_local: false, sign_networks: [10.0.0.0/8]}\n");
    struct tmsg t;
    tmsg_init(&t, "a@b.example", "a@b.example", "c@d.example", "127.0.0.1");
    t.m.source = POLICY_SOURCE_LOCAL;
    policy_decide(p, &t.m, &d);
    ASSERT_NO_SEAL(&d, "sign_local is off");
    t.m.source = POLICY_SOURCE_REMOTE; /* inbound: sealed (sign_inbound default on) */
    policy_decide(p, &t.m, &d);
    ASSERT_SEALS(&d, "fwd.example", "s");
    /* sign_networks wins over SOURCE=LOCAL */
    tmsg_init(&t, "a@b.example", "a@b.example", "c@d.example", "10.0.0.1");
    t.m.source = POLICY_SOURCE_LOCAL;
    policy_decide(p, &t.m, &d);
    ASSERT_SEALS(&d, "fwd.example", "s");
    policy_free(p);
    cleanup();
}

static void
mode_v_and_pass(void)
{
    tmpdir();
    struct policy *p = sealing_policy("mode: v\n");
    ASSERT_NO_SEAL(decide(p, "a@b.example", "", "c@d.example", NULL), "mode v");
    ASSERT(d.verify && d.add_authres && !d.pass);
    policy_free(p);
    p = sealing_policy("mode: pass\n");
    ASSERT_NO_SEAL(decide(p, "a@b.example", "", "c@d.example", NULL), "mode pass");
    ASSERT(d.pass && !d.verify);
    policy_free(p);
    p = sealing_policy("mode: s\n");
    ASSERT_SEALS(decide(p, "a@b.example", "", "c@d.example", NULL), "fwd.example", "s");
    ASSERT(!d.verify && !d.add_authres);
    policy_free(p);
    cleanup();
}

static void
from_rules(void)
{
    tmpdir();
    struct policy *p = sealing_policy("");
    /* defaults: mismatch and empty envelope allowed, multiple From refused */
    ASSERT_SEALS(decide(p, "a@one.example", "b@two.example", "c@d.example", NULL), "fwd.example",
                 "s");
    ASSERT_SEALS(decide(p, "a@one.example", "", "c@d.example", NULL), "fwd.example", "s");
    ASSERT_NO_SEAL(decide(p, "a@one.example, b@two.example", "", "c@d.example", NULL),
                   "allow_hdrfrom_multiple is off");
    struct tmsg t;
    tmsg_init(&t, "a@one.example", "", "c@d.example", NULL);
    t.from[1] = span_of("b@one.example");
    t.m.nfrom = 2;
    policy_decide(p, &t.m, &d);
    ASSERT_NO_SEAL(&d, "2 From fields");
    ASSERT_NO_SEAL(decide(p, "not an address", "", "c@d.example", NULL), "not an address list");
    policy_free(p);

    p = sealing_policy("policy: {allow_hdrfrom_mismatch: false, allow_envfrom_empty: false, "
                       "allow_hdrfrom_multiple: true}\n");
    ASSERT_NO_SEAL(decide(p, "a@one.example", "b@two.example", "c@d.example", NULL),
                   "allow_hdrfrom_mismatch is off");
    /* same organizational domain is no mismatch */
    ASSERT_SEALS(decide(p, "a@lists.one.example", "bounce@mail.one.example", "c@d.example", NULL),
                 "fwd.example", "s");
    ASSERT_NO_SEAL(decide(p, "a@one.example", "", "c@d.example", NULL),
                   "allow_envfrom_empty is off");
    ASSERT_SEALS(decide(p, "a@one.example, b@two.example", "x@one.example", "c@d.example", NULL),
                 "fwd.example", "s");
    policy_free(p);
    cleanup();
}

/* ---- header lists ---- */

struct fake_hdrs {
    const char *name[8];
    size_t count[8];
};

static size_t
fake_count(void *ctx, const char *name)
{
    const struct fake_hdrs *f = ctx;
    for (size_t i = 0; i < 8 && f->name[i]; i++) {
        if (strcasecmp(f->name[i], name) == 0)
            return f->count[i];
    }
    return 0;
}

static void
hlist(const struct policy *p, const struct fake_hdrs *f, char *out, size_t outsz)
{
    struct tmsg t;
    tmsg_init(&t, "a@b.example", "", "c@d.example", NULL);
    t.m.count = fake_count;
    t.m.count_ctx = (void *)f;
    policy_decide(p, &t.m, &d);
    ASSERT_SEALS(&d, "fwd.example", "s");
    out[0] = '\0';
    for (size_t i = 0; i < d.nheaders; i++) {
        strncat(out, d.headers[i], outsz - strlen(out) - 2);
        strcat(out, ":");
    }
}

static void
oversign_syntax_o_x_and_plain(void)
{
    tmpdir();
    char got[1024];
    struct policy *p =
        sealing_policy("policy: {sign_headers: [\"(o)From:(x)Subject:(x)Reply-To\", \"(o)sender\", "
                       "\"to list-id:date\"]}\n");
    struct fake_hdrs f = {{"from", "subject", "to", "list-id"}, {1, 2, 3, 1}};
    hlist(p, &f, got, sizeof got);
    /* from: 1+1; subject: 2+1; reply-to absent (x): none; sender absent (o): once;
     * to: present, plain: once; list-id: once; date absent: none */
    ASSERT_EQ_STR(got, "from:from:subject:subject:subject:sender:to:list-id:");
    policy_free(p);
    cleanup();
}

static void
default_header_list(void)
{
    tmpdir();
    char got[2048];
    struct policy *p = sealing_policy("");
    struct fake_hdrs f = {{"from", "to", "subject", "date", "message-id", "list-id", "received"},
                          {1, 1, 1, 1, 1, 1, 5}};
    hlist(p, &f, got, sizeof got);
    ASSERT_EQ_STR(got, "from:from:subject:subject:date:date:message-id:message-id:to:to:"
                       "list-id:");
    /* without a counter, only From is known (nfrom) */
    decide(p, "a@b.example", "", "c@d.example", NULL);
    ASSERT_EQ_INT(d.nheaders, 2);
    ASSERT_EQ_STR(d.headers[0], "from");
    policy_free(p);
    cleanup();
}

static void
arc_fields_in_sign_headers_are_refused(void)
{
    load_fails(-ARC_EINVAL, "ARC header fields are never covered",
               "policy: {sign_headers: [from, ARC-Seal]}\n");
}

static void
header_list_is_capped(void)
{
    tmpdir();
    struct policy *p = sealing_policy("policy: {sign_headers: [\"(o)received\"]}\n");
    struct fake_hdrs f = {{"received"}, {1000}};
    char got[1];
    (void)got;
    struct tmsg t;
    tmsg_init(&t, "a@b.example", "", "c@d.example", NULL);
    t.m.count = fake_count;
    t.m.count_ctx = &f;
    policy_decide(p, &t.m, &d);
    ASSERT_EQ_INT(d.nheaders, POLICY_MAX_HDRS);
    policy_free(p);
    cleanup();
}

/* ---- other switches ---- */

static void
canonicalization_broken_chain_and_privacy_switches(void)
{
    tmpdir();
    struct policy *p = sealing_policy(
        "policy: {canonicalization: simple/relaxed, seal_on_broken_chain: skip, "
        "add_authentication_results: false, include_remote_ip: false, reuse_auth_results: true}\n");
    decide(p, "a@b.example", "", "c@d.example", NULL);
    ASSERT_EQ_INT(d.hdr_canon, ARC_CANON_SIMPLE);
    ASSERT_EQ_INT(d.body_canon, ARC_CANON_RELAXED);
    ASSERT(d.verify && !d.add_authres && !d.include_remote_ip && d.reuse_auth_results);
    ASSERT_EQ_INT(policy_after_verdict(&d, 0), POLICY_SEAL_AS_IS);
    ASSERT_EQ_INT(policy_after_verdict(&d, 1), POLICY_SEAL_SKIP);
    policy_free(p);
    p = sealing_policy("policy: {canonicalization: relaxed/simple, "
                       "seal_on_broken_chain: restart}\n");
    decide(p, "a@b.example", "", "c@d.example", NULL);
    ASSERT_EQ_INT(d.hdr_canon, ARC_CANON_RELAXED);
    ASSERT_EQ_INT(d.body_canon, ARC_CANON_SIMPLE);
    ASSERT_EQ_INT(policy_after_verdict(&d, 1), POLICY_SEAL_RESTART);
    policy_free(p);
    p = sealing_policy("");
    decide(p, "a@b.example", "", "c@d.example", NULL);
    ASSERT_EQ_INT(policy_after_verdict(&d, 1), POLICY_SEAL_AS_IS); /* seal_fail */
    ASSERT(d.add_authres && d.include_remote_ip && !d.reuse_auth_results);
    decide(p, "a@b.example, c@d.example", "", "c@d.example", NULL); /* not sealed */
    ASSERT_EQ_INT(policy_after_verdict(&d, 0), POLICY_SEAL_SKIP);
    policy_free(p);
    cleanup();
}

static void
exempt_and_trusted_sealers(void)
{
    struct policy *p = load("policy: {exempt_domains: [broken.example], "
                            "trusted_sealers: [lists.example.org, Google.com]}\n");
    ASSERT(policy_is_exempt(p, "broken.example"));
    ASSERT(policy_is_exempt(p, "BROKEN.example"));
    ASSERT(!policy_is_exempt(p, "sub.broken.example"));
    ASSERT(!policy_is_exempt(p, "lists.example.org"));
    ASSERT(policy_is_trusted(p, "google.com"));
    ASSERT(policy_is_trusted(p, "lists.example.org"));
    ASSERT(!policy_is_trusted(p, "example.org"));
    ASSERT(!policy_is_trusted(p, NULL));
    policy_free(p);
}

static void
missing_key_is_logged_once_per_domain(void)
{
    tmpdir();
    struct policy *p = load("keys: {use_domain: recipient, selector: arc, "
                            "path: \"%s/$domain.$selector.key\"}\n",
                            dir);
    char path[128];
    snprintf(path, sizeof path, "%s/log", dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(path, "w+");
    ASSERT(f);
    dup2(fileno(f), 2);
    for (int i = 0; i < 3; i++) {
        decide(p, NULL, "", "a@nokey.example", NULL);
        decide(p, NULL, "", "b@other.example", NULL);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[4096];
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    int count = 0;
    for (char *s = buf; (s = strstr(s, "no sealing key for domain")); s++)
        count++;
    ASSERT_EQ_INT(count, 2);
    ASSERT(strstr(buf, "nokey.example") && strstr(buf, "other.example"));
    policy_free(p);
    cleanup();
}

static void
config_checks_entries_and_header_lists(void)
{
    struct config_errors errs;
    struct arcp_config *cfg;
    const char *y = "keys:\n  domains: [\"example.org only-two\"]\npolicy:\n"
                    "  sign_headers: [\"from:(y)subject\"]\n";
    config_errors_init(&errs);
    ASSERT_EQ_INT(config_load_mem("t.yaml", y, strlen(y), &cfg, &errs), -ARC_EINVAL);
    ASSERT_EQ_INT(errs.n, 2);
    ASSERT_EQ_STR(errs.msg[0], "t.yaml:2:13: keys.domains: \"example.org only-two\" is not "
                               "\"domain selector key_file\"");
    ASSERT_EQ_STR(errs.msg[1], "t.yaml:4:18: policy.sign_headers: \"from:(y)subject\" is not a "
                               "header field list (want name, (o)name or (x)name)");
    /* selector alone is fine now; domain without key_file is not */
    config_errors_init(&errs);
    y = "keys: {selector: arc}\n";
    ASSERT_EQ_INT(config_load_mem("t.yaml", y, strlen(y), &cfg, &errs), 0);
    config_free(cfg);
    y = "keys: {domain: example.org, selector: arc}\n";
    ASSERT_EQ_INT(config_load_mem("t.yaml", y, strlen(y), &cfg, &errs), -ARC_EINVAL);
}

/* ---- From parsing ---- */

static void
from_parsing_edge_cases(void)
{
    static const struct {
        const char *in;
        int n;
        const char *addr, *domain;
    } cases[] = {
        {"a@example.org", 1, "a@example.org", "example.org"},
        {"Alice <alice@Example.ORG>", 1, "alice@Example.ORG", "example.org"},
        {"\"Bob, the <builder>\" <bob@b.example>", 1, "bob@b.example", "b.example"},
        {"bob@b.example (Bob <x@evil.example>)", 1, "bob@b.example", "b.example"},
        {"(comment (nested) here) c@c.example", 1, "c@c.example", "c.example"},
        {"\"quoted local\"@q.example", 1, "\"quoted local\"@q.example", "q.example"},
        {"\"a@b\"@real.example", 1, "\"a@b\"@real.example", "real.example"},
        {"=?utf-8?q?J=C3=B6rg?= <j@j.example>", 1, "j@j.example", "j.example"},
        {"J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xbc\x63her.example>", 1,
         "j\xc3\xb6rg@b\xc3\xbc\x63her.example", "b\xc3\xbc\x63her.example"},
        {"a@one.example, B <b@two.example>", 2, "a@one.example", "one.example"},
        {"Friends: a@one.example, b@two.example;", 2, "a@one.example", "one.example"},
        {"undisclosed-recipients:;", 0, NULL, NULL},
        {"<@relay.example:user@route.example>", 1, "user@route.example", "route.example"},
        {"a @ spaced.example", 1, "a@spaced.example", "spaced.example"},
        {"folded\r\n <f@fold.example>", 1, "f@fold.example", "fold.example"},
        {"x@[192.0.2.1]", 1, "x@[192.0.2.1]", "[192.0.2.1]"},
        {"no-at-sign", -1, NULL, NULL},
        {"@nolocal.example", -1, NULL, NULL},
        {"a@", -1, NULL, NULL},
        {"a@dot..example", -1, NULL, NULL},
        {"unclosed (comment a@b.example", -1, NULL, NULL},
        {"\"unclosed a@b.example", -1, NULL, NULL},
        {"A <a@b.example", -1, NULL, NULL},
        {"", 0, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct policy_addr a[4];
        int n = policy_parse_addrs(span_of(cases[i].in), a, 4);
        if (n != cases[i].n)
            TEST_FAIL("\"%s\": got %d addresses, want %d", cases[i].in, n, cases[i].n);
        if (cases[i].addr) {
            ASSERT_EQ_STR(a[0].addr, cases[i].addr);
            ASSERT_EQ_STR(a[0].domain, cases[i].domain);
        }
    }
}

static void
client_address_from_xforward_text(void)
{
    tmpdir();
    struct policy *p = sealing_policy("policy: {peer_list: [\"2001:db8::/32\", 192.0.2.0/24]}\n");
    static const char *const in_list[] = {"IPv6:2001:db8::1", "ipv6:2001:DB8::2",
                                          "[2001:db8::3]",    "192.0.2.4",
                                          "[192.0.2.5]",      "::ffff:192.0.2.6"};
    static const char *const bad[] = {"[UNAVAILABLE]", "mx.example.org", "",
                                      "IPv6:", "192.0.2.300"};
    struct sockaddr_storage ss;
    struct tmsg t;
    for (size_t i = 0; i < sizeof in_list / sizeof in_list[0]; i++) {
        ASSERT_EQ_INT(policy_client_parse(in_list[i], &ss), 0);
        tmsg_init(&t, "a@b.example", "", "c@d.example", NULL);
        t.m.client = (struct sockaddr *)&ss;
        policy_decide(p, &t.m, &d);
        if (!d.pass)
            TEST_FAIL("%s: not matched by peer_list", in_list[i]);
    }
    ASSERT_EQ_INT(policy_client_parse("198.51.100.1", &ss), 0);
    ASSERT_EQ_INT(ss.ss_family, AF_INET);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (policy_client_parse(bad[i], &ss) != -1)
            TEST_FAIL("\"%s\" parsed as an address", bad[i]);
    }
    policy_free(p);
    cleanup();
}

static const struct test_case cases[] = {
    {"client_address_from_xforward_text", client_address_from_xforward_text},
    {"default_key_seals_with_literal_domain", default_key_seals_with_literal_domain},
    {"no_key_configured_does_not_seal", no_key_configured_does_not_seal},
    {"group_readable_key_is_refused", group_readable_key_is_refused},
    {"missing_or_bad_key_file_is_an_error", missing_or_bad_key_file_is_an_error},
    {"small_rsa_key_is_refused", small_rsa_key_is_refused},
    {"per_domain_entries_pick_selector_and_key", per_domain_entries_pick_selector_and_key},
    {"duplicate_domain_entry_is_an_error", duplicate_domain_entry_is_an_error},
    {"selector_map_and_path_map", selector_map_and_path_map},
    {"bad_map_line_names_file_and_line", bad_map_line_names_file_and_line},
    {"try_fallback_uses_template_files_that_exist", try_fallback_uses_template_files_that_exist},
    {"fallback_template_without_domain_is_one_key_for_all",
     fallback_template_without_domain_is_one_key_for_all},
    {"org_domain_reduction_with_the_public_suffix_list",
     org_domain_reduction_with_the_public_suffix_list},
    {"domain_from_envelope_and_recipient", domain_from_envelope_and_recipient},
    {"peer_list_is_neither_sealed_nor_verified", peer_list_is_neither_sealed_nor_verified},
    {"sign_inbound_off_seals_only_sign_networks_internal_and_local",
     sign_inbound_off_seals_only_sign_networks_internal_and_local},
    {"sign_local_off_does_not_seal_local_mail", sign_local_off_does_not_seal_local_mail},
    {"mode_v_and_pass", mode_v_and_pass},
    {"from_rules", from_rules},
    {"oversign_syntax_o_x_and_plain", oversign_syntax_o_x_and_plain},
    {"default_header_list", default_header_list},
    {"arc_fields_in_sign_headers_are_refused", arc_fields_in_sign_headers_are_refused},
    {"header_list_is_capped", header_list_is_capped},
    {"canonicalization_broken_chain_and_privacy_switches",
     canonicalization_broken_chain_and_privacy_switches},
    {"exempt_and_trusted_sealers", exempt_and_trusted_sealers},
    {"missing_key_is_logged_once_per_domain", missing_key_is_logged_once_per_domain},
    {"config_checks_entries_and_header_lists", config_checks_entries_and_header_lists},
    {"from_parsing_edge_cases", from_parsing_edge_cases},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
