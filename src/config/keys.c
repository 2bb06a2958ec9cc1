/* SPDX-License-Identifier: MIT */
/*
 * keys - THE key table: every configuration key, once. The loader, config_dump and
 * config_doc (docs/configuration.md) all read it; to add a key, add a field to struct
 * arcp_config, a row here, the key to config/arcproxy.yaml, and regenerate the docs table
 * (arcproxy --config-doc). Key names are public: never rename one.
 *
 * Rows of one section must stay together (config_dump prints each section once; a unit
 * test checks). Defaults are written as in the file and parsed by the same code.
 */
#include <stddef.h>

#include "config_int.h"

#define OFF(field) offsetof(struct arcp_config, field)

static const char *const delivery_values[] = {"proxy", "queue", NULL};
static const char *const mode_values[] = {"s", "v", "sv", "pass", NULL};
static const char *const bare_lf_values[] = {"reject", "accept", NULL};
static const char *const temperror_values[] = {"tempfail", "pass", NULL};
static const char *const unparseable_values[] = {"pass", "reject", NULL};
static const char *const log_dest_values[] = {"stderr", "syslog", NULL};
static const char *const facility_values[] = {
    "mail",   "daemon", "user",   "local0", "local1", "local2",
    "local3", "local4", "local5", "local6", "local7", NULL,
};
static const char *const use_domain_values[] = {"literal", "header", "envelope", "recipient", NULL};
static const char *const canon_values[] = {"relaxed/relaxed", "relaxed/simple", "simple/relaxed",
                                           "simple/simple", NULL};
static const char *const broken_values[] = {"seal_fail", "skip", "restart", NULL};
static const char *const level_values[] = {"error", "warn", "info", "debug", NULL};

#define MS(s) ((long long)(s)*1000)
#define KB    1024LL
#define MB    (1024LL * 1024)
#define GB    (1024LL * 1024 * 1024)

/* clang-format off */
const struct cfg_key cfg_keys[] = {
    {"listen", CFG_T_ADDRLIST, CFG_F_NONEMPTY, OFF(listen), "127.0.0.1:10025", 0, 0, NULL, 0,
     "Addresses to accept mail from the MTA on (its content filter): IPv4:port, [IPv6]:port or unix:/path (0660; its clients may send XFORWARD)."},

    {"downstream.address", CFG_T_ADDRESS, 0, OFF(downstream.address), "127.0.0.1:10026", 0, 0, NULL, 0,
     "Where filtered mail goes: the MTA's return listener."},
    {"downstream.helo_name", CFG_T_STRING, CFG_F_DOMAIN, OFF(downstream.helo_name), "", 0, 0, NULL, 0,
     "Name sent in EHLO to downstream; empty: the value of hostname."},
    {"downstream.connect_timeout", CFG_T_DURATION, 0, OFF(downstream.connect_timeout), "30s", MS(1), MS(600), NULL, 0,
     "Time to connect to downstream and receive its greeting."},
    {"downstream.command_timeout", CFG_T_DURATION, 0, OFF(downstream.command_timeout), "5m", MS(1), MS(3600), NULL, 0,
     "Time downstream may take to answer a command."},
    {"downstream.data_timeout", CFG_T_DURATION, 0, OFF(downstream.data_timeout), "10m", MS(1), MS(3600), NULL, 0,
     "Time downstream may take to answer the end of the message data."},

    {"delivery", CFG_T_ENUM, 0, OFF(delivery), "proxy", 0, 0, delivery_values, 0,
     "proxy: relay each transaction to downstream as it happens and answer with downstream's reply; queue: answer 250 once the message is on disk and deliver it later."},
    {"workers", CFG_T_INT, 0, OFF(workers), "0", 0, 1024, NULL, 0,
     "Threads for disk and ARC work (libuv's thread pool), set at start (a reload does not change it): each commit in queue mode holds one through its fsyncs, so more threads overlap more of them. 0: 4 with delivery proxy, 16 with delivery queue (UV_THREADPOOL_SIZE in the environment, when set, instead)."},
    {"mode", CFG_T_ENUM, 0, OFF(mode), "sv", 0, 0, mode_values, 0,
     "s: seal; v: verify the chain (Authentication-Results); sv: both; pass: relay without ARC work."},
    {"authserv_id", CFG_T_STRING, CFG_F_DOMAIN | CFG_F_HOSTDEF, OFF(authserv_id), "", 0, 0, NULL, 0,
     "authserv-id written in Authentication-Results and ARC-Authentication-Results; empty: this host's name."},
    {"hostname", CFG_T_STRING, CFG_F_DOMAIN | CFG_F_HOSTDEF, OFF(hostname), "", 0, 0, NULL, 0,
     "Name in the SMTP greeting and EHLO reply; empty: this host's name."},
    {"xforward_hosts", CFG_T_CIDRLIST, 0, OFF(xforward_hosts), "127.0.0.0/8 ::1/128", 0, 0, NULL, 0,
     "Clients allowed to send XFORWARD (the MTA), as address/prefix blocks; empty: nobody (unix-socket clients always may)."},

    {"limits.max_sessions", CFG_T_INT, 0, OFF(limits.max_sessions), "100", 1, 100000, NULL, 0,
     "Concurrent sessions from the MTA; more get 421 4.3.2."},
    {"limits.max_rcpts", CFG_T_INT, 0, OFF(limits.max_rcpts), "1000", 1, 100000, NULL, 0,
     "Recipients per transaction; more get 452 4.5.3."},
    {"limits.max_message_size", CFG_T_SIZE, 0, OFF(limits.max_message_size), "50M", KB, 2 * GB, NULL, 0,
     "Largest message, advertised in SIZE; larger ones get 552 5.3.4."},
    {"limits.max_header_size", CFG_T_SIZE, 0, OFF(limits.max_header_size), "256K", KB, 64 * MB, NULL, 0,
     "Largest header section; larger ones get 552 5.3.4."},
    {"limits.max_header_fields", CFG_T_INT, 0, OFF(limits.max_header_fields), "1000", 10, 100000, NULL, 0,
     "Most header fields in a message; more get 552 5.3.4."},
    {"limits.max_line", CFG_T_SIZE, 0, OFF(limits.max_line), "2K", 512, MB, NULL, 0,
     "Longest command line, CRLF included; longer ones get 500 5.5.2."},
    {"limits.max_errors", CFG_T_INT, 0, OFF(limits.max_errors), "20", 1, 1000, NULL, 0,
     "Protocol errors in a session before it is closed with 421 4.7.0."},
    {"limits.command_timeout", CFG_T_DURATION, 0, OFF(limits.command_timeout), "5m", MS(1), MS(3600), NULL, 0,
     "Time the MTA may take to send a command; then 421 4.4.2 and the session is closed."},
    {"limits.data_timeout", CFG_T_DURATION, 0, OFF(limits.data_timeout), "5m", MS(1), MS(3600), NULL, 0,
     "Time the MTA may stay silent while sending message data; then 421 4.4.2 and the session is closed."},
    {"limits.min_data_rate", CFG_T_SIZE, 0, OFF(limits.min_data_rate), "500", 0, GB, NULL, 0,
     "Slowest message data transfer accepted, in bytes per second averaged over the transfer; 0: no minimum."},

    {"smtp.bare_lf", CFG_T_ENUM, 0, OFF(smtp.bare_lf), "reject", 0, 0, bare_lf_values, 0,
     "A line ending in LF without CR: reject (550 5.5.2, the SMTP smuggling defence) or accept it as a line end."},
    {"smtp.offer_dsn", CFG_T_BOOL, 0, OFF(smtp.offer_dsn), "true", 0, 0, NULL, 0,
     "Offer the DSN extension (RET, ENVID, NOTIFY and ORCPT are passed on)."},
    {"smtp.offer_smtputf8", CFG_T_BOOL, 0, OFF(smtp.offer_smtputf8), "true", 0, 0, NULL, 0,
     "Offer the SMTPUTF8 extension."},
    {"smtp.offer_8bitmime", CFG_T_BOOL, 0, OFF(smtp.offer_8bitmime), "true", 0, 0, NULL, 0,
     "Offer the 8BITMIME extension."},

    {"on_temperror", CFG_T_ENUM, 0, OFF(on_temperror), "tempfail", 0, 0, temperror_values, 0,
     "When ARC work cannot be done now (key lookup temperror, resource limit): tempfail (451 4.7.0, the MTA retries) or pass the message on unsealed."},
    {"remove_own_authres", CFG_T_BOOL, 0, OFF(remove_own_authres), "true", 0, 0, NULL, 0,
     "Modes v, s, sv: remove Authentication-Results fields from upstream that carry our authserv_id before ours is added (RFC 8601 section 5); they were forged or are stale."},
    {"on_unparseable", CFG_T_ENUM, 0, OFF(on_unparseable), "pass", 0, 0, unparseable_values, 0,
     "A message the ARC engine cannot parse (modes v, s, sv): pass it on unsealed (logged) or reject it with 550 5.6.0."},

    {"keys.domain", CFG_T_STRING, CFG_F_DOMAIN, OFF(keys.domain), "", 0, 0, NULL, 0,
     "Default sealing domain (d=), used as it is with keys.use_domain literal; empty: no default key. Set with keys.selector and keys.key_file."},
    {"keys.selector", CFG_T_STRING, CFG_F_DOMAIN, OFF(keys.selector), "", 0, 0, NULL, 0,
     "Selector (s=) of the default key, and of map and keys.path keys that name none."},
    {"keys.key_file", CFG_T_STRING, CFG_F_PATH, OFF(keys.key_file), "", 0, 0, NULL, 0,
     "PEM file with the sealing key (RSA or Ed25519); read and checked when the daemon starts."},
    {"keys.min_rsa_bits", CFG_T_INT, 0, OFF(keys.min_rsa_bits), "2048", 1024, 16384, NULL, 0,
     "Smallest RSA sealing key the daemon accepts."},
    {"keys.use_domain", CFG_T_ENUM, 0, OFF(keys.use_domain), "literal", 0, 0, use_domain_values, 0,
     "Where the sealing domain comes from: literal (keys.domain), header (the From address), envelope (MAIL FROM) or recipient (the first RCPT TO, the usual choice for forwarders and lists)."},
    {"keys.use_org_domain", CFG_T_BOOL, 0, OFF(keys.use_org_domain), "true", 0, 0, NULL, 0,
     "Reduce a domain taken from header, envelope or recipient to its organizational domain with the public suffix list (mail.example.co.uk -> example.co.uk)."},
    {"keys.domains", CFG_T_STRLIST, CFG_F_KEYSPEC, OFF(keys.domains), "", 0, 0, NULL, 0,
     "Per-domain keys, each \"domain selector key_file\" (key_file may use $domain and $selector)."},
    {"keys.path", CFG_T_STRING, CFG_F_PATH, OFF(keys.path), "", 0, 0, NULL, 0,
     "Key file template with $domain and $selector, for domains from keys.selector_map and, with keys.try_fallback, for any domain; empty: none."},
    {"keys.selector_map", CFG_T_STRING, CFG_F_PATH, OFF(keys.selector_map), "", 0, 0, NULL, 0,
     "File of \"domain selector\" lines (# comments); empty: none."},
    {"keys.path_map", CFG_T_STRING, CFG_F_PATH, OFF(keys.path_map), "", 0, 0, NULL, 0,
     "File of \"domain key_file\" lines (# comments; key_file may use $domain and $selector); empty: none."},
    {"keys.try_fallback", CFG_T_BOOL, 0, OFF(keys.try_fallback), "true", 0, 0, NULL, 0,
     "A domain with no entry of its own uses keys.selector and the keys.path template (its key file must exist when keys are loaded)."},

    {"policy.sign_networks", CFG_T_CIDRLIST, 0, OFF(policy.sign_networks), "", 0, 0, NULL, 0,
     "Client address blocks (XFORWARD ADDR, else the peer) whose mail is always sealed."},
    {"policy.internal_hosts", CFG_T_CIDRLIST, 0, OFF(policy.internal_hosts), "", 0, 0, NULL, 0,
     "Client blocks whose mail is sealed but not judged (no Authentication-Results from us); their Authentication-Results with our authserv_id give cv=."},
    {"policy.peer_list", CFG_T_CIDRLIST, 0, OFF(policy.peer_list), "", 0, 0, NULL, 0,
     "Client blocks whose mail is neither sealed nor verified: passed on untouched."},
    {"policy.sign_local", CFG_T_BOOL, 0, OFF(policy.sign_local), "true", 0, 0, NULL, 0,
     "Seal mail the MTA marks XFORWARD SOURCE=LOCAL (submitted on this host)."},
    {"policy.sign_inbound", CFG_T_BOOL, 0, OFF(policy.sign_inbound), "true", 0, 0, NULL, 0,
     "Seal mail from any other client (relayed mail: what forwarders and lists handle)."},
    {"policy.allow_hdrfrom_mismatch", CFG_T_BOOL, 0, OFF(policy.allow_hdrfrom_mismatch), "true", 0, 0, NULL, 0,
     "Seal when the From and MAIL FROM organizational domains differ (forwarded and SRS mail do)."},
    {"policy.allow_envfrom_empty", CFG_T_BOOL, 0, OFF(policy.allow_envfrom_empty), "true", 0, 0, NULL, 0,
     "Seal mail with an empty MAIL FROM (bounces)."},
    {"policy.allow_hdrfrom_multiple", CFG_T_BOOL, 0, OFF(policy.allow_hdrfrom_multiple), "false", 0, 0, NULL, 0,
     "Seal mail with more than one From field or address (the first is used)."},
    {"policy.sign_headers", CFG_T_STRLIST, CFG_F_HDRSPEC | CFG_F_NONEMPTY, OFF(policy.sign_headers),
     "(o)from (x)sender (x)reply-to (x)subject (x)date (x)message-id (x)to (x)cc (x)mime-version (x)content-type (x)content-transfer-encoding (x)in-reply-to (x)references resent-date resent-from resent-sender resent-to resent-cc resent-message-id list-id list-help list-unsubscribe list-subscribe list-post list-owner list-archive dkim-signature",
     0, 0, NULL, 0,
     "Header fields the ARC-Message-Signature covers: name (each instance present), (o)name (every instance plus one: none may be added), (x)name (the same, only when present). Rspamd's syntax; ':' also separates."},
    {"policy.seal_on_broken_chain", CFG_T_ENUM, 0, OFF(policy.seal_on_broken_chain), "seal_fail", 0, 0, broken_values, 0,
     "When the chain fails: seal_fail (seal with cv=fail, RFC 8617), skip (do not seal) or restart (remove the broken ARC sets and seal as i=1)."},
    {"policy.add_authentication_results", CFG_T_BOOL, 0, OFF(policy.add_authentication_results), "true", 0, 0, NULL, 0,
     "Add an Authentication-Results field with the chain verdict (in mode v and sv)."},
    {"policy.include_remote_ip", CFG_T_BOOL, 0, OFF(policy.include_remote_ip), "true", 0, 0, NULL, 0,
     "Write smtp.remote-ip (the client address) in Authentication-Results and ARC-Authentication-Results."},
    {"policy.canonicalization", CFG_T_ENUM, 0, OFF(policy.canonicalization), "relaxed/relaxed", 0, 0, canon_values, 0,
     "Header/body canonicalization of the ARC-Message-Signature."},
    {"policy.reuse_auth_results", CFG_T_BOOL, 0, OFF(policy.reuse_auth_results), "false", 0, 0, NULL, 0,
     "Take cv= from an upstream Authentication-Results with our authserv_id instead of our own verdict."},
    {"policy.exempt_domains", CFG_T_STRLIST, CFG_F_DOMAIN, OFF(policy.exempt_domains), "", 0, 0, NULL, 0,
     "Sealers (d= of an ARC set) whose chains are not judged: a failure in their sets is not counted."},
    {"policy.trusted_sealers", CFG_T_STRLIST, CFG_F_DOMAIN, OFF(policy.trusted_sealers), "", 0, 0, NULL, 0,
     "Sealers noted as trusted in the Authentication-Results comment and the log when their set passes."},

    {"dns.zone_file", CFG_T_STRING, CFG_F_PATH, OFF(dns.zone_file), "", 0, 0, NULL, 0,
     "DNS master file to take key records from instead of DNS (tests, air-gapped hosts); empty: use DNS."},
    {"dns.servers", CFG_T_ADDRLIST, CFG_F_NOUNIX, OFF(dns.servers), "", 0, 0, NULL, 53,
     "Resolvers to ask, as IP, IP:port or [IPv6]:port (port 53 when omitted; at most 8); empty: those in /etc/resolv.conf (127.0.0.1 when it names none)."},
    {"dns.timeout", CFG_T_DURATION, 0, OFF(dns.timeout), "5s", 100, MS(60), NULL, 0,
     "Time to wait for the answer to one query; then the next try (next server) starts."},
    {"dns.attempts", CFG_T_INT, 0, OFF(dns.attempts), "2", 1, 10, NULL, 0,
     "Tries per server for one lookup (servers are tried in rotation)."},
    {"dns.lookup_timeout", CFG_T_DURATION, 0, OFF(dns.lookup_timeout), "10s", 100, MS(300), NULL, 0,
     "Longest time one key lookup may take, all tries and TCP included; then it is a temperror."},
    {"dns.edns_size", CFG_T_INT, 0, OFF(dns.edns_size), "1232", 0, 65535, NULL, 0,
     "EDNS0 UDP payload size advertised in queries (0: no EDNS0, 512-byte answers); larger answers come over TCP."},
    {"dns.cache_size", CFG_T_INT, 0, OFF(dns.cache_size), "10000", 0, 10000000, NULL, 0,
     "Key records (and known-missing names) kept in the cache, least recently used evicted first; 0: no cache."},
    {"dns.cache_min_ttl", CFG_T_DURATION, 0, OFF(dns.cache_min_ttl), "10s", 0, MS(86400), NULL, 0,
     "A found record is cached for at least this long, whatever its TTL."},
    {"dns.cache_max_ttl", CFG_T_DURATION, 0, OFF(dns.cache_max_ttl), "1h", 0, MS(7 * 86400), NULL, 0,
     "A found record is cached for at most this long."},
    {"dns.negative_min_ttl", CFG_T_DURATION, 0, OFF(dns.negative_min_ttl), "5s", 0, MS(86400), NULL, 0,
     "A missing record (NXDOMAIN, no TXT) is cached for at least this long (RFC 2308: the SOA minimum otherwise)."},
    {"dns.negative_max_ttl", CFG_T_DURATION, 0, OFF(dns.negative_max_ttl), "5m", 0, MS(86400), NULL, 0,
     "A missing record is cached for at most this long."},

    {"spool_dir", CFG_T_STRING, CFG_F_PATH | CFG_F_NONEMPTY, OFF(spool_dir), "/var/spool/arcproxy", 0, 0, NULL, 0,
     "Directory of the message spool."},

    {"queue.retry_min", CFG_T_DURATION, 0, OFF(queue.retry_min), "5m", 10, MS(86400), NULL, 0,
     "Queue mode: delay before the first retry; it doubles after each failed attempt."},
    {"queue.retry_max", CFG_T_DURATION, 0, OFF(queue.retry_max), "1h", 10, MS(7 * 86400), NULL, 0,
     "Queue mode: longest delay between retries."},
    {"queue.max_age", CFG_T_DURATION, 0, OFF(queue.max_age), "5d", MS(1), MS(30 * 86400), NULL, 0,
     "Queue mode: a message not delivered by then is returned to its sender (DSN)."},
    {"queue.max_deliveries", CFG_T_INT, 0, OFF(queue.max_deliveries), "10", 1, 1000, NULL, 0,
     "Queue mode: deliveries to downstream at the same time (one connection each)."},
    {"queue.connection_reuse", CFG_T_BOOL, 0, OFF(queue.connection_reuse), "true", 0, 0, NULL, 0,
     "Queue mode: a downstream connection whose delivery ended cleanly is kept open for the next delivery (at most max_deliveries kept; XFORWARD is sent again for each message)."},
    {"queue.connection_idle_timeout", CFG_T_DURATION, 0, OFF(queue.connection_idle_timeout), "5s", 10, MS(3600), NULL, 0,
     "Queue mode: a kept downstream connection unused for this long is closed (QUIT)."},
    {"queue.connection_max_messages", CFG_T_INT, 0, OFF(queue.connection_max_messages), "100", 1, 1000000, NULL, 0,
     "Queue mode: messages delivered over one downstream connection, then QUIT and a new one."},

    {"logging.destination", CFG_T_ENUM, 0, OFF(logging.destination), "stderr", 0, 0, log_dest_values, 0,
     "Where log lines go."},
    {"logging.facility", CFG_T_ENUM, 0, OFF(logging.facility), "mail", 0, 0, facility_values, 0,
     "syslog facility (when logging.destination is syslog)."},
    {"logging.level", CFG_T_ENUM, 0, OFF(logging.level), "info", 0, 0, level_values, 0,
     "Least severe level logged."},

    {"metrics.listen", CFG_T_ADDRLIST, CFG_F_NOUNIX, OFF(metrics.listen), "", 0, 0, NULL, 9425,
     "Addresses of the HTTP port for GET /metrics (Prometheus text) and GET /health, as IP or IP:port (port 9425 when omitted); a loopback address is meant; empty: off."},

    {"pidfile", CFG_T_STRING, CFG_F_PATH, OFF(pidfile), "", 0, 0, NULL, 0,
     "File to write the process id to; empty: none."},
    {"user", CFG_T_STRING, 0, OFF(user), "", 0, 0, NULL, 0,
     "User to switch to after binding the listeners and opening the spool (which is made the user's); empty: do not switch (as root only with allow_root)."},
    {"group", CFG_T_STRING, 0, OFF(group), "", 0, 0, NULL, 0,
     "Group to switch to after binding; empty: the user's primary group."},
    {"allow_root", CFG_T_BOOL, 0, OFF(allow_root), "false", 0, 0, NULL, 0,
     "Allow running as root when user is empty; otherwise the daemon refuses to start as root without a user to switch to."},
};
/* clang-format on */

const size_t cfg_nkeys = sizeof cfg_keys / sizeof cfg_keys[0];
