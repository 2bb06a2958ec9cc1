/* SPDX-License-Identifier: MIT */
/*
 * config - arcproxy's configuration: one key table (config.c, cfg_keys[]) drives the
 * YAML loader, the effective-config dump of `arcproxy --check-config` and the key
 * reference in docs/configuration.md.
 *
 *   config_default(&cfg)                      a new config holding every default
 *   config_load(path, &cfg, errs)             read and check a YAML file
 *   config_load_mem(name, data, len, &cfg, errs)   the same from memory (tests, fuzzer);
 *                                             name is used in error messages only
 *   config_free(cfg)                          NULL is fine; returns NULL
 *   config_dump(cfg, f)                       every key with its effective value, as YAML
 *   config_doc(f)                             the key reference as a markdown table
 *   config_cidr_match(list, family, addr)     is addr inside one of the blocks?
 *   config_syslog_facility(cfg)               logging.facility as a LOG_* value
 *   config_check_main(argc, argv)             `arcproxy --check-config` (check.c)
 *
 * Ownership: a struct arcp_config is one heap object owning every string and list in it;
 * the daemon reads it and never writes it. A reload loads a new one and swaps pointers;
 * the old one is freed with config_free once nothing uses it.
 *
 * Values: strings are never NULL ("" when empty); durations are in milliseconds, sizes
 * and rates in bytes; enums hold the CFG_* constants below, in the order of the allowed
 * values in the table. An empty authserv_id or hostname is replaced by this host's name
 * (gethostname) when loaded, so the config always holds the effective value.
 *
 * Errors: config_load returns 0 when the file is valid (*cfgp set), otherwise *cfgp is
 * NULL and the return is -ARC_EIO (file unreadable) or -ARC_EINVAL (YAML syntax, unknown
 * key, bad value). Each problem becomes one line in errs (which may be NULL) of the form
 * "FILE:LINE:COLUMN: KEY: what is wrong" (1-based, from libyaml's marks); the loader goes
 * on after a bad value so that one run reports up to CONFIG_ERRORS_MAX problems.
 *
 * Limits: lists hold at most CFG_LIST_MAX entries, strings CFG_STRING_MAX bytes. Loading
 * only parses and checks syntax and ranges: whether key files, the zone file, the spool
 * directory, the user and the group exist is for the daemon to check when it starts.
 *
 * Known gaps: host names in addresses are not accepted (IP literals and unix sockets
 * only; nothing resolves names while loading). No includes, no environment variables.
 */
#ifndef ARCPROXY_CONFIG_H
#define ARCPROXY_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../util/log.h"

#define CONFIG_DEFAULT_PATH "config/arcproxy.yaml"
#define CONFIG_ERRORS_MAX   20
#define CFG_LIST_MAX        256
#define CFG_STRING_MAX      4096

/* Exit code of `arcproxy --check-config` on a bad config (sysexits.h EX_CONFIG). */
#define CONFIG_EX_CONFIG 78

struct config_errors {
    size_t n;       /* messages in msg[] */
    size_t dropped; /* problems found after msg[] was full */
    char msg[CONFIG_ERRORS_MAX][512];
};

enum cfg_addr_kind {
    CFG_ADDR_IP4,
    CFG_ADDR_IP6,
    CFG_ADDR_UNIX,
};

/* cfg_addr - "127.0.0.1:10025", "[::1]:10025" or "unix:/run/arcproxy.sock". */
struct cfg_addr {
    enum cfg_addr_kind kind;
    char *host;    /* IP literal without brackets, or the socket path */
    unsigned port; /* 1..65535; 0 for unix */
    char *text;    /* canonical form, as config_dump prints it */
};

struct cfg_addrs {
    struct cfg_addr *v;
    size_t n;
};

/* cfg_cidr - "127.0.0.0/8", "::1" (= ::1/128). Bits past the prefix are zero. */
struct cfg_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
    char *text; /* canonical form */
};

struct cfg_cidrs {
    struct cfg_cidr *v;
    size_t n;
};

struct cfg_strs {
    char **v;
    size_t n;
};

enum cfg_delivery { CFG_DELIVERY_PROXY, CFG_DELIVERY_QUEUE };
enum cfg_mode { CFG_MODE_S, CFG_MODE_V, CFG_MODE_SV, CFG_MODE_PASS };
enum cfg_bare_lf { CFG_BARE_LF_REJECT, CFG_BARE_LF_ACCEPT };
enum cfg_on_temperror { CFG_ON_TEMPERROR_TEMPFAIL, CFG_ON_TEMPERROR_PASS };
enum cfg_on_unparseable { CFG_ON_UNPARSEABLE_PASS, CFG_ON_UNPARSEABLE_REJECT };
enum cfg_log_dest { CFG_LOG_STDERR, CFG_LOG_SYSLOG };
enum cfg_use_domain {
    CFG_USE_DOMAIN_LITERAL,
    CFG_USE_DOMAIN_HEADER,
    CFG_USE_DOMAIN_ENVELOPE,
    CFG_USE_DOMAIN_RECIPIENT,
};
enum cfg_canon {
    CFG_CANON_RELAXED_RELAXED,
    CFG_CANON_RELAXED_SIMPLE,
    CFG_CANON_SIMPLE_RELAXED,
    CFG_CANON_SIMPLE_SIMPLE,
};
enum cfg_broken { CFG_BROKEN_SEAL_FAIL, CFG_BROKEN_SKIP, CFG_BROKEN_RESTART };
enum cfg_facility {
    CFG_FACILITY_MAIL,
    CFG_FACILITY_DAEMON,
    CFG_FACILITY_USER,
    CFG_FACILITY_LOCAL0,
    CFG_FACILITY_LOCAL1,
    CFG_FACILITY_LOCAL2,
    CFG_FACILITY_LOCAL3,
    CFG_FACILITY_LOCAL4,
    CFG_FACILITY_LOCAL5,
    CFG_FACILITY_LOCAL6,
    CFG_FACILITY_LOCAL7,
};

/* Field names follow the keys: limits.max_rcpts is cfg->limits.max_rcpts. */
struct arcp_config {
    char *path; /* where it was loaded from; "" for config_default */

    struct cfg_addrs listen;
    struct {
        struct cfg_addr address;
        char *helo_name; /* "" = hostname */
        uint64_t connect_timeout, command_timeout, data_timeout;
    } downstream;
    enum cfg_delivery delivery;
    int workers; /* thread pool size; 0: by delivery (4 proxy, 16 queue) */
    enum cfg_mode mode;
    char *authserv_id;
    char *hostname;
    struct cfg_cidrs xforward_hosts;
    struct {
        int max_sessions, max_rcpts, max_header_fields, max_errors;
        size_t max_message_size, max_header_size, max_line, min_data_rate;
        uint64_t command_timeout, data_timeout;
    } limits;
    struct {
        enum cfg_bare_lf bare_lf;
        int offer_dsn, offer_smtputf8, offer_8bitmime;
    } smtp;
    enum cfg_on_temperror on_temperror;
    enum cfg_on_unparseable on_unparseable;
    int remove_own_authres; /* drop upstream A-R fields with our authserv-id */
    struct {
        char *domain, *selector, *key_file; /* all "" = no default key */
        int min_rsa_bits;
        enum cfg_use_domain use_domain;
        int use_org_domain;
        struct cfg_strs domains; /* "domain selector key_file" each */
        char *path;              /* template with $domain and $selector; "" = none */
        char *selector_map, *path_map;
        int try_fallback;
    } keys;
    struct {
        struct cfg_cidrs sign_networks, internal_hosts, peer_list;
        int sign_local, sign_inbound;
        int allow_hdrfrom_mismatch, allow_envfrom_empty, allow_hdrfrom_multiple;
        struct cfg_strs sign_headers; /* "(o)from", "(x)subject", "list-id" ... */
        enum cfg_broken seal_on_broken_chain;
        int add_authentication_results, include_remote_ip;
        enum cfg_canon canonicalization;
        int reuse_auth_results;
        struct cfg_strs exempt_domains, trusted_sealers;
    } policy;
    struct {
        char *zone_file;                             /* "" = use DNS */
        struct cfg_addrs servers;                    /* empty = /etc/resolv.conf */
        uint64_t timeout;                            /* one try, ms */
        int attempts;                                /* tries per server */
        uint64_t lookup_timeout;                     /* whole lookup, ms */
        int edns_size;                               /* 0 = no EDNS0 */
        int cache_size;                              /* entries; 0 = no cache */
        uint64_t cache_min_ttl, cache_max_ttl;       /* ms */
        uint64_t negative_min_ttl, negative_max_ttl; /* ms */
    } dns;
    char *spool_dir;
    struct {
        uint64_t retry_min, retry_max, max_age;
        int max_deliveries;
        int connection_reuse;             /* keep downstream connections between deliveries */
        uint64_t connection_idle_timeout; /* ms */
        int connection_max_messages;
    } queue;
    struct {
        enum cfg_log_dest destination;
        enum cfg_facility facility;
        enum log_level level;
    } logging;
    struct {
        struct cfg_addrs listen; /* empty = no metrics port */
    } metrics;
    char *pidfile; /* "" = none */
    char *user;    /* "" = keep the user we were started as */
    char *group;
    int allow_root; /* run as root when user is "" */
};

int config_default(struct arcp_config **cfgp);
int config_load(const char *path, struct arcp_config **cfgp, struct config_errors *errs);
int config_load_mem(const char *name, const void *data, size_t len, struct arcp_config **cfgp,
                    struct config_errors *errs);
struct arcp_config *config_free(struct arcp_config *cfg);

/* config_dump - the effective config, every key in table order, as YAML that
 * config_load reads back into an equal config. */
void config_dump(const struct arcp_config *cfg, FILE *f);
/* config_doc - the key table of docs/configuration.md (a test keeps them identical). */
void config_doc(FILE *f);

/* config_cidr_match - 1 if addr (4 or 16 bytes, by family AF_INET/AF_INET6) lies in
 * one of the blocks; an IPv4-mapped IPv6 address also matches IPv4 blocks. */
int config_cidr_match(const struct cfg_cidrs *list, int family, const void *addr);
int config_syslog_facility(const struct arcp_config *cfg);

/* config_errors_init - empty errs (config_load does not clear it: errors accumulate). */
void config_errors_init(struct config_errors *errs);

/* config_check_main - `arcproxy [-c FILE] --check-config` and `arcproxy --config-doc`.
 * Give it main's argc/argv: argv[0] is skipped, the options may come in any order.
 * Exit status: 0 valid (the effective config on stdout), 64 usage, 78 (EX_CONFIG)
 * invalid or unreadable (each problem on stderr). */
int config_check_main(int argc, char **argv);

#endif
