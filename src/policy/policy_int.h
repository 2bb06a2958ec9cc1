/* SPDX-License-Identifier: MIT */
/*
 * policy_int - struct policy and the key ring shared by policy.c and keyring.c.
 */
#ifndef ARCPROXY_POLICY_INT_H
#define ARCPROXY_POLICY_INT_H

#include <pthread.h>

#include <libpsl.h>

#include "policy.h"

/* a key file, loaded once however many domains use it */
struct pol_keyfile {
    char *path;
    struct arc_privkey *key;
};

/* one signing domain: its selector and key. domain "*" = any domain (a key_file
 * template without $domain under keys.try_fallback). */
struct pol_entry {
    char *domain;
    char *selector;
    const struct arc_privkey *key;
};

struct pol_ring {
    struct pol_keyfile *files;
    size_t nfiles;
    struct pol_entry *v; /* sorted by domain after loading */
    size_t n;
    const struct pol_entry *any; /* the "*" entry, if any */
};

enum pol_hflag { POL_H_PLAIN, POL_H_OVERSIGN, POL_H_OVERSIGN_EXISTING };

struct pol_hdr {
    char *name; /* lowercase */
    enum pol_hflag flag;
};

/* the mutable part: domains already logged as having no key */
struct pol_nokey {
    pthread_mutex_t mu;
    char **v;
    size_t n;
    int full_logged;
};

struct policy {
    /* copies of the config values decide needs (the config may be freed first) */
    enum cfg_mode mode;
    enum cfg_use_domain use_domain;
    int use_org_domain;
    char *domain;                                              /* keys.domain */
    struct cfg_cidrs sign_networks, internal_hosts, peer_list; /* text NULL */
    int sign_local, sign_inbound;
    int allow_hdrfrom_mismatch, allow_envfrom_empty, allow_hdrfrom_multiple;
    enum cfg_broken on_broken;
    int add_authres, include_remote_ip, reuse_auth_results;
    enum cfg_canon canon;
    struct cfg_strs exempt, trusted;
    struct pol_ring ring;
    struct pol_hdr *hdrs;
    size_t nhdrs;
    psl_ctx_t *psl; /* NULL when no list could be loaded: no reduction */
    int psl_owned;
    struct pol_nokey *nokey;
};

/* keyring.c */
int pol_ring_load(struct pol_ring *r, const struct arcp_config *cfg, struct err *e);
void pol_ring_free(struct pol_ring *r);
const struct pol_entry *pol_ring_find(const struct pol_ring *r, const char *domain);
/* pol_key_check_load - stat (regular file, mode & 077 == 0), load, RSA >= min_bits. */
int pol_key_check_load(const char *path, int min_bits, struct arc_privkey **k, struct err *e);

#endif
