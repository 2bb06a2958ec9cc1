/* SPDX-License-Identifier: MIT */
/*
 * policy - which mail arcproxy seals and verifies, and with which domain, selector, key,
 * header list and canonicalization. Pure: no sockets, no loop; files (keys, maps) are
 * read only by policy_load. docs/policy.md describes every switch.
 *
 *   policy_load(cfg, &p, e)            build from a loaded config: read maps and keys
 *   policy_free(p)                     NULL is fine; returns NULL
 *   policy_decide(p, msg, &d)          per message: verify? seal? d=, s=, key, h= ...
 *   policy_after_verdict(d, chain_failed)   the seal_on_broken_chain action
 *   policy_is_exempt(p, domain)        a sealer whose chain is not judged
 *   policy_is_trusted(p, domain)       a trusted sealer (noted in A-R and the log)
 *   policy_parse_addrs(value, out, max)     mailboxes of a From field (RFC 5322)
 *   policy_org_domain(p, domain, out, outsz)  organizational domain (libpsl)
 *   policy_key_count(p)                keys loaded (for the start-up log)
 *   policy_body_canon(p)               the AMS body canonicalization (known before the
 *                                      message: the body is hashed as it arrives)
 *   policy_client_parse(text, &ss)     XFORWARD ADDR text ("192.0.2.1", "IPv6:2001:db8::1",
 *                                      "[::1]") into a sockaddr for policy_msg.client
 *
 * Ownership: struct policy owns its keys and strings; a decision points into it (selector,
 * key, header names) and into nothing of the message, so it stays valid as long as the
 * policy. A reload builds a new policy and frees the old one when no job uses it.
 *
 * Threads: policy_decide may run on several threads at once on one policy. The only
 * mutable state is the set of domains already logged as "no key" (a mutex guards it).
 *
 * Errors: policy_load returns 0, or -ARC_EIO (a map or key file unreadable, or group/
 * world-readable), -ARC_ERANGE (RSA key below keys.min_rsa_bits), -ARC_EINVAL (a bad map
 * line or key file, a missing key for a configured domain); e names the file (and line).
 * policy_decide never fails: "do not seal" is a decision with a reason.
 *
 * Limits: POLICY_MAX_HDRS names in an h= list (more are dropped, and the reason says so);
 * POLICY_NOKEY_LOG_MAX domains remembered for "logged once".
 *
 * Known gaps: internationalized domains (U-labels) are not converted to A-labels: mail
 * whose signing domain is not ASCII is not sealed. Keys are matched by domain exactly
 * (after the optional organizational reduction), not by parent domain.
 */
#ifndef ARCPROXY_POLICY_H
#define ARCPROXY_POLICY_H

#include <stddef.h>
#include <sys/socket.h>

#include "../arc/arc.h"
#include "../arc/key.h"
#include "../config/config.h"
#include "../util/buf.h"
#include "../util/err.h"

#define POLICY_MAX_HDRS      256
#define POLICY_NOKEY_LOG_MAX 1024
#define POLICY_ADDR_MAX      320 /* local@domain, bytes */

struct policy;

enum policy_source {
    POLICY_SOURCE_UNKNOWN, /* no XFORWARD SOURCE */
    POLICY_SOURCE_LOCAL,
    POLICY_SOURCE_REMOTE,
};

/* policy_count_fn - how many fields named name (case-insensitive) the message has;
 * the proxy passes arc_msg_field_count, tests a fake. */
typedef size_t (*policy_count_fn)(void *ctx, const char *name);

/* policy_msg - what the proxy knows of one transaction. All borrowed for the call. */
struct policy_msg {
    const struct sockaddr *client; /* XFORWARD ADDR, else the peer; NULL: unknown */
    enum policy_source source;     /* XFORWARD SOURCE */
    const char *env_from;          /* MAIL FROM address without <>; "" = null sender */
    const char *const *rcpts;      /* RCPT TO addresses without <> */
    size_t nrcpts;
    const struct span *from; /* the value of each From field, in message order */
    size_t nfrom;
    policy_count_fn count; /* NULL: every field counts as absent except From (nfrom) */
    void *count_ctx;
};

enum policy_broken {
    POLICY_BROKEN_SEAL_FAIL = CFG_BROKEN_SEAL_FAIL,
    POLICY_BROKEN_SKIP = CFG_BROKEN_SKIP,
    POLICY_BROKEN_RESTART = CFG_BROKEN_RESTART,
};

/* policy_decision - filled by policy_decide. Pointers point into the policy. */
struct policy_decision {
    int pass;   /* peer_list or mode pass: neither verify nor seal, relay untouched */
    int verify; /* judge the chain and (if add_authres) add Authentication-Results */
    int seal;
    char why[200];    /* "sealed" or why not: for the summary log line */
    char domain[256]; /* d= (lowercase); "" when not sealing */
    const char *selector;
    const struct arc_privkey *key;
    const char *headers[POLICY_MAX_HDRS]; /* h= candidates, for struct arc_signer */
    size_t nheaders;
    enum arc_canon hdr_canon, body_canon;
    enum policy_broken on_broken;
    int add_authres;        /* add_authentication_results and verify */
    int include_remote_ip;  /* smtp.remote-ip in A-R and AAR */
    int reuse_auth_results; /* cv from our upstream A-R (arc_signer.cv_from_authres) */
    int internal;           /* client in internal_hosts: its A-R are trusted for cv */
};

/* policy_after_verdict results */
enum {
    POLICY_SEAL_AS_IS = 0,   /* seal (cv from the verdict) */
    POLICY_SEAL_SKIP = 1,    /* do not seal */
    POLICY_SEAL_RESTART = 2, /* drop the existing ARC sets, seal as i=1 with cv=none */
};

int policy_load(const struct arcp_config *cfg, struct policy **pp, struct err *e);
struct policy *policy_free(struct policy *p);
void policy_decide(const struct policy *p, const struct policy_msg *m, struct policy_decision *d);
int policy_after_verdict(const struct policy_decision *d, int chain_failed);
int policy_is_exempt(const struct policy *p, const char *sealer_domain);
int policy_is_trusted(const struct policy *p, const char *sealer_domain);
size_t policy_key_count(const struct policy *p);
enum arc_canon policy_body_canon(const struct policy *p);

/* policy_addr - one mailbox of an address list: addr-spec, domain lowercased. */
struct policy_addr {
    char addr[POLICY_ADDR_MAX];
    char domain[256];
};

/* policy_parse_addrs - the mailboxes in an RFC 5322 address-list value (display names,
 * comments, quoted strings, angle addresses, groups; UTF-8 passes through). Returns how
 * many were found (may exceed max: only max are stored), or -1 when the value is not an
 * address list. */
int policy_parse_addrs(struct span value, struct policy_addr *out, size_t max);

/* policy_client_parse - an IP address as XFORWARD ADDR gives it (Postfix prefixes IPv6
 * with "IPv6:"; brackets are accepted too) into ss (port 0). 0, or -1 when not an IP
 * address ("[UNAVAILABLE]", names): the caller then has no client address. */
int policy_client_parse(const char *text, struct sockaddr_storage *ss);

/* policy_org_domain - the registrable (organizational) domain of domain per the public
 * suffix list, lowercased, in out; domain itself when the list has no answer. */
void policy_org_domain(const struct policy *p, const char *domain, char *out, size_t outsz);

#endif
