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
static const char *const level_values[] = {"error", "warn", "info", "debug", NULL};

#define MS(s) ((long long)(s)*1000)
#define KB    1024LL
#define MB    (1024LL * 1024)
#define GB    (1024LL * 1024 * 1024)

/* clang-format off */
const struct cfg_key cfg_keys[] = {
    {"listen", CFG_T_ADDRLIST, CFG_F_NONEMPTY, OFF(listen), "127.0.0.1:10025", 0, 0, NULL, 0,
     "Addresses to accept mail from the MTA on (its content filter): IPv4:port, [IPv6]:port or unix:/path."},

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
    {"mode", CFG_T_ENUM, 0, OFF(mode), "sv", 0, 0, mode_values, 0,
     "s: seal; v: verify the chain (Authentication-Results); sv: both; pass: relay without ARC work."},
    {"authserv_id", CFG_T_STRING, CFG_F_DOMAIN | CFG_F_HOSTDEF, OFF(authserv_id), "", 0, 0, NULL, 0,
     "authserv-id written in Authentication-Results and ARC-Authentication-Results; empty: this host's name."},
    {"hostname", CFG_T_STRING, CFG_F_DOMAIN | CFG_F_HOSTDEF, OFF(hostname), "", 0, 0, NULL, 0,
     "Name in the SMTP greeting and EHLO reply; empty: this host's name."},
    {"xforward_hosts", CFG_T_CIDRLIST, 0, OFF(xforward_hosts), "127.0.0.0/8 ::1/128", 0, 0, NULL, 0,
     "Clients allowed to send XFORWARD (the MTA), as address/prefix blocks; empty: nobody."},

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
    {"on_unparseable", CFG_T_ENUM, 0, OFF(on_unparseable), "pass", 0, 0, unparseable_values, 0,
     "A message the ARC engine cannot parse: pass it on unsealed (logged) or reject it."},

    {"keys.domain", CFG_T_STRING, CFG_F_DOMAIN, OFF(keys.domain), "", 0, 0, NULL, 0,
     "Sealing domain (d=); empty: do not seal. keys.domain, keys.selector and keys.key_file are set together."},
    {"keys.selector", CFG_T_STRING, CFG_F_DOMAIN, OFF(keys.selector), "", 0, 0, NULL, 0,
     "Selector (s=) of the sealing key."},
    {"keys.key_file", CFG_T_STRING, CFG_F_PATH, OFF(keys.key_file), "", 0, 0, NULL, 0,
     "PEM file with the sealing key (RSA or Ed25519); read and checked when the daemon starts."},
    {"keys.min_rsa_bits", CFG_T_INT, 0, OFF(keys.min_rsa_bits), "2048", 1024, 16384, NULL, 0,
     "Smallest RSA sealing key the daemon accepts."},

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

    {"queue.retry_min", CFG_T_DURATION, 0, OFF(queue.retry_min), "5m", MS(1), MS(86400), NULL, 0,
     "Queue mode: delay before the first retry; it doubles after each failed attempt."},
    {"queue.retry_max", CFG_T_DURATION, 0, OFF(queue.retry_max), "1h", MS(1), MS(7 * 86400), NULL, 0,
     "Queue mode: longest delay between retries."},
    {"queue.max_age", CFG_T_DURATION, 0, OFF(queue.max_age), "5d", MS(60), MS(30 * 86400), NULL, 0,
     "Queue mode: a message not delivered by then is returned to its sender (DSN)."},

    {"logging.destination", CFG_T_ENUM, 0, OFF(logging.destination), "stderr", 0, 0, log_dest_values, 0,
     "Where log lines go."},
    {"logging.facility", CFG_T_ENUM, 0, OFF(logging.facility), "mail", 0, 0, facility_values, 0,
     "syslog facility (when logging.destination is syslog)."},
    {"logging.level", CFG_T_ENUM, 0, OFF(logging.level), "info", 0, 0, level_values, 0,
     "Least severe level logged."},

    {"pidfile", CFG_T_STRING, CFG_F_PATH, OFF(pidfile), "", 0, 0, NULL, 0,
     "File to write the process id to; empty: none."},
    {"user", CFG_T_STRING, 0, OFF(user), "", 0, 0, NULL, 0,
     "User to switch to after binding the listeners; empty: do not switch."},
    {"group", CFG_T_STRING, 0, OFF(group), "", 0, 0, NULL, 0,
     "Group to switch to after binding; empty: the user's primary group."},
};
/* clang-format on */

const size_t cfg_nkeys = sizeof cfg_keys / sizeof cfg_keys[0];
