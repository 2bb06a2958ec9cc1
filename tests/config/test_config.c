/* SPDX-License-Identifier: MIT */
/*
 * test_config - the configuration module (src/config): defaults, every value type with
 * its units and limits, broken files with their exact messages (file:line:column and
 * key), the dump round trip, --check-config's exit codes, the shipped
 * config/arcproxy.yaml, and docs/configuration.md against config_doc.
 *
 * Not covered here: what the daemon does with the values (tests of src/proxy), and
 * whether key files, the zone file or the spool directory exist (the daemon checks).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "test.h"
#include "config/config.h"
#include "config/config_int.h"
#include "util/err.h"

/* load_ok - load yaml from memory, failing the test with the messages if invalid. */
static struct arcp_config *
load_ok(const char *yaml)
{
    struct config_errors errs;
    struct arcp_config *cfg;
    config_errors_init(&errs);
    if (config_load_mem("t.yaml", yaml, strlen(yaml), &cfg, &errs) != 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msg[i]);
        TEST_FAIL("unexpected errors in:\n%s", yaml);
    }
    ASSERT(cfg != NULL);
    ASSERT_EQ_INT(errs.n, 0);
    return cfg;
}

/* expect_errors - loading yaml fails with exactly these messages, one per line. */
static void
expect_errors(const char *yaml, const char *want)
{
    struct config_errors errs;
    struct arcp_config *cfg = (struct arcp_config *)1;
    char got[CONFIG_ERRORS_MAX * 520] = "";
    config_errors_init(&errs);
    int rc = config_load_mem("t.yaml", yaml, strlen(yaml), &cfg, &errs);
    for (size_t i = 0; i < errs.n; i++) {
        strcat(got, errs.msg[i]);
        strcat(got, "\n");
    }
    ASSERT_EQ_STR(got, want);
    ASSERT_EQ_INT(rc, -ARC_EINVAL);
    ASSERT(cfg == NULL);
}

/* dump - config_dump into a heap string, without its first (comment) line. */
static char *
dump(const struct arcp_config *cfg)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    config_dump(cfg, f);
    fclose(f);
    char *nl = strchr(p, '\n');
    ASSERT(p[0] == '#' && nl);
    memmove(p, nl + 1, strlen(nl + 1) + 1);
    return p;
}

static void
defaults_are_the_documented_ones(void)
{
    struct arcp_config *cfg;
    char host[256];
    ASSERT_EQ_INT(config_default(&cfg), 0);
    ASSERT_EQ_STR(cfg->path, "");
    ASSERT_EQ_INT(cfg->listen.n, 1);
    ASSERT_EQ_INT(cfg->listen.v[0].kind, CFG_ADDR_IP4);
    ASSERT_EQ_STR(cfg->listen.v[0].host, "127.0.0.1");
    ASSERT_EQ_INT(cfg->listen.v[0].port, 10025);
    ASSERT_EQ_STR(cfg->listen.v[0].text, "127.0.0.1:10025");
    ASSERT_EQ_STR(cfg->downstream.address.text, "127.0.0.1:10026");
    ASSERT_EQ_INT(cfg->downstream.address.port, 10026);
    ASSERT_EQ_STR(cfg->downstream.helo_name, "");
    ASSERT_EQ_INT(cfg->downstream.connect_timeout, 30000);
    ASSERT_EQ_INT(cfg->downstream.command_timeout, 300000);
    ASSERT_EQ_INT(cfg->downstream.data_timeout, 600000);
    ASSERT_EQ_INT(cfg->delivery, CFG_DELIVERY_PROXY);
    ASSERT_EQ_INT(cfg->mode, CFG_MODE_SV);
    ASSERT_EQ_INT(gethostname(host, sizeof host), 0);
    host[sizeof host - 1] = '\0';
    ASSERT_EQ_STR(cfg->authserv_id, host);
    ASSERT_EQ_STR(cfg->hostname, host);
    ASSERT_EQ_INT(cfg->xforward_hosts.n, 2);
    ASSERT_EQ_STR(cfg->xforward_hosts.v[0].text, "127.0.0.0/8");
    ASSERT_EQ_STR(cfg->xforward_hosts.v[1].text, "::1/128");
    ASSERT_EQ_INT(cfg->limits.max_sessions, 100);
    ASSERT_EQ_INT(cfg->limits.max_rcpts, 1000);
    ASSERT_EQ_INT(cfg->limits.max_message_size, 50 * 1024 * 1024);
    ASSERT_EQ_INT(cfg->limits.max_header_size, 256 * 1024);
    ASSERT_EQ_INT(cfg->limits.max_header_fields, 1000);
    ASSERT_EQ_INT(cfg->limits.max_line, 2048);
    ASSERT_EQ_INT(cfg->limits.max_errors, 20);
    ASSERT_EQ_INT(cfg->limits.command_timeout, 300000);
    ASSERT_EQ_INT(cfg->limits.data_timeout, 300000);
    ASSERT_EQ_INT(cfg->limits.min_data_rate, 500);
    ASSERT_EQ_INT(cfg->smtp.bare_lf, CFG_BARE_LF_REJECT);
    ASSERT(cfg->smtp.offer_dsn && cfg->smtp.offer_smtputf8 && cfg->smtp.offer_8bitmime);
    ASSERT_EQ_INT(cfg->on_temperror, CFG_ON_TEMPERROR_TEMPFAIL);
    ASSERT_EQ_INT(cfg->on_unparseable, CFG_ON_UNPARSEABLE_PASS);
    ASSERT_EQ_STR(cfg->keys.domain, "");
    ASSERT_EQ_STR(cfg->keys.selector, "");
    ASSERT_EQ_STR(cfg->keys.key_file, "");
    ASSERT_EQ_INT(cfg->keys.min_rsa_bits, 2048);
    ASSERT_EQ_STR(cfg->dns.zone_file, "");
    ASSERT_EQ_INT(cfg->dns.servers.n, 0);
    ASSERT_EQ_INT(cfg->dns.timeout, 5000);
    ASSERT_EQ_STR(cfg->spool_dir, "/var/spool/arcproxy");
    ASSERT_EQ_INT(cfg->queue.retry_min, 300000);
    ASSERT_EQ_INT(cfg->queue.retry_max, 3600000);
    ASSERT_EQ_INT(cfg->queue.max_age, 5LL * 86400000);
    ASSERT_EQ_INT(cfg->logging.destination, CFG_LOG_STDERR);
    ASSERT_EQ_INT(cfg->logging.facility, CFG_FACILITY_MAIL);
    ASSERT_EQ_INT(config_syslog_facility(cfg), LOG_MAIL);
    ASSERT_EQ_INT(cfg->logging.level, LOG_LVL_INFO);
    ASSERT_EQ_STR(cfg->pidfile, "");
    ASSERT_EQ_STR(cfg->user, "");
    ASSERT_EQ_STR(cfg->group, "");
    config_free(cfg);
    ASSERT(config_free(NULL) == NULL);
}

static void
empty_file_means_all_defaults(void)
{
    static const char *const empties[] = {"", "# only a comment\n", "---\n", "~\n", "\n\n"};
    struct arcp_config *def;
    config_default(&def);
    char *want = dump(def);
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        struct arcp_config *cfg = load_ok(empties[i]);
        char *got = dump(cfg);
        ASSERT_EQ_STR(got, want);
        ASSERT_EQ_STR(cfg->path, "t.yaml");
        free(got);
        config_free(cfg);
    }
    free(want);
    config_free(def);
}

static void
dump_reads_back_to_the_same_config(void)
{
    struct arcp_config *cfg = load_ok("listen: [\"[::1]:25\", \"unix:/run/a b.sock\", 0.0.0.0:26]\n"
                                      "downstream: {address: \"[2001:db8::1]:587\", helo_name: "
                                      "relay.example.org, data_timeout: 90s}\n"
                                      "delivery: queue\nmode: pass\n"
                                      "authserv_id: mx.example.org\n"
                                      "xforward_hosts: []\n"
                                      "limits: {max_message_size: 1025, min_data_rate: 0}\n"
                                      "smtp: {offer_dsn: no, bare_lf: accept}\n"
                                      "keys: {domain: example.org, selector: s1, key_file: "
                                      "\"/etc/keys/s1 \\\"x\\\".pem\"}\n"
                                      "dns: {servers: [192.0.2.1, \"2001:db8::53\"], timeout: "
                                      "1500ms}\n"
                                      "logging: {facility: local3, level: debug}\n");
    char *one = dump(cfg);
    struct arcp_config *again = load_ok(one);
    char *two = dump(again);
    ASSERT_EQ_STR(two, one);
    ASSERT(strstr(one, "  key_file: \"/etc/keys/s1 \\\"x\\\".pem\"\n"));
    ASSERT(strstr(one, "listen: [\"[::1]:25\", \"unix:/run/a b.sock\", \"0.0.0.0:26\"]\n"));
    ASSERT(strstr(one, "  timeout: 1500ms\n"));
    ASSERT(strstr(one, "  max_message_size: 1025\n"));
    ASSERT(strstr(one, "xforward_hosts: []\n"));
    ASSERT_EQ_STR(again->keys.key_file, "/etc/keys/s1 \"x\".pem");
    ASSERT_EQ_INT(config_syslog_facility(again), LOG_LOCAL3);
    free(one);
    free(two);
    config_free(cfg);
    config_free(again);
}

static void
integers_within_min_and_max(void)
{
    struct arcp_config *cfg = load_ok("limits: {max_rcpts: 1, max_sessions: 100000, "
                                      "max_errors: +7}\nkeys: {min_rsa_bits: 1024}\n");
    ASSERT_EQ_INT(cfg->limits.max_rcpts, 1);
    ASSERT_EQ_INT(cfg->limits.max_sessions, 100000);
    ASSERT_EQ_INT(cfg->limits.max_errors, 7);
    ASSERT_EQ_INT(cfg->keys.min_rsa_bits, 1024);
    config_free(cfg);
    expect_errors("limits:\n  max_rcpts: 100001\n  max_sessions: -3\n  max_errors: 0x10\n"
                  "  max_header_fields: 1e3\n",
                  "t.yaml:2:14: limits.max_rcpts: 100001 is above the maximum 100000\n"
                  "t.yaml:3:17: limits.max_sessions: -3 is below the minimum 1\n"
                  "t.yaml:4:15: limits.max_errors: \"0x10\" is not an integer\n"
                  "t.yaml:5:22: limits.max_header_fields: \"1e3\" is not an integer\n");
    expect_errors("keys: {min_rsa_bits: 99999999999999999999999}\n",
                  "t.yaml:1:22: keys.min_rsa_bits: 99999999999999999999999 is above the "
                  "maximum 16384\n");
}

static void
sizes_take_k_m_g_units(void)
{
    struct arcp_config *cfg =
        load_ok("limits:\n  max_message_size: 2G\n  max_header_size: 64k\n  max_line: 1000\n"
                "  min_data_rate: 0\n");
    ASSERT_EQ_INT(cfg->limits.max_message_size, 2LL << 30);
    ASSERT_EQ_INT(cfg->limits.max_header_size, 64 << 10);
    ASSERT_EQ_INT(cfg->limits.max_line, 1000);
    ASSERT_EQ_INT(cfg->limits.min_data_rate, 0);
    config_free(cfg);
    cfg = load_ok("limits: {max_message_size: 10m}\n");
    ASSERT_EQ_INT(cfg->limits.max_message_size, 10 << 20);
    config_free(cfg);
    expect_errors("limits:\n  max_message_size: 3G\n  max_header_size: 1023\n"
                  "  max_line: 1.5K\n  min_data_rate: 5MB\n",
                  "t.yaml:2:21: limits.max_message_size: 3G is above the maximum 2G\n"
                  "t.yaml:3:20: limits.max_header_size: 1023 is below the minimum 1K\n"
                  "t.yaml:4:13: limits.max_line: \"1.5K\" is not a size (a number of bytes, "
                  "optionally with K, M or G)\n"
                  "t.yaml:5:18: limits.min_data_rate: \"5MB\" is not a size (a number of "
                  "bytes, optionally with K, M or G)\n");
    expect_errors("limits: {max_message_size: 99999999999999999999G}\n",
                  "t.yaml:1:28: limits.max_message_size: 99999999999999999999G is above the "
                  "maximum 2G\n");
}

static void
durations_take_ms_s_m_h_d_units(void)
{
    struct arcp_config *cfg = load_ok("dns: {timeout: 250ms}\n"
                                      "downstream: {connect_timeout: 45, command_timeout: 2m}\n"
                                      "queue: {retry_min: 1s, retry_max: 7d, max_age: 30d}\n"
                                      "limits: {data_timeout: 1h}\n");
    ASSERT_EQ_INT(cfg->dns.timeout, 250);
    ASSERT_EQ_INT(cfg->downstream.connect_timeout, 45000);
    ASSERT_EQ_INT(cfg->downstream.command_timeout, 120000);
    ASSERT_EQ_INT(cfg->queue.retry_min, 1000);
    ASSERT_EQ_INT(cfg->queue.retry_max, 7LL * 86400000);
    ASSERT_EQ_INT(cfg->queue.max_age, 30LL * 86400000);
    ASSERT_EQ_INT(cfg->limits.data_timeout, 3600000);
    config_free(cfg);
    expect_errors("dns: {timeout: 99ms}\nlimits:\n  command_timeout: 1d\n  data_timeout: 0\n",
                  "t.yaml:1:16: dns.timeout: 99ms is below the minimum 100ms\n"
                  "t.yaml:3:20: limits.command_timeout: 1d is above the maximum 1h\n"
                  "t.yaml:4:17: limits.data_timeout: 0 is below the minimum 1s\n");
    expect_errors("queue: {retry_min: 1h30m}\n",
                  "t.yaml:1:20: queue.retry_min: \"1h30m\" is not a duration (a number with a "
                  "unit: ms, s, m, h or d)\n");
}

static void
booleans_accept_true_false_yes_no_on_off(void)
{
    struct arcp_config *cfg =
        load_ok("smtp: {offer_dsn: false, offer_smtputf8: No, offer_8bitmime: off}\n");
    ASSERT(!cfg->smtp.offer_dsn && !cfg->smtp.offer_smtputf8 && !cfg->smtp.offer_8bitmime);
    config_free(cfg);
    cfg = load_ok("smtp: {offer_dsn: TRUE, offer_smtputf8: yes, offer_8bitmime: on}\n");
    ASSERT(cfg->smtp.offer_dsn && cfg->smtp.offer_smtputf8 && cfg->smtp.offer_8bitmime);
    config_free(cfg);
    expect_errors("smtp: {offer_dsn: 1}\n",
                  "t.yaml:1:19: smtp.offer_dsn: \"1\" is not true or false\n");
}

static void
enums_take_exactly_their_values(void)
{
    static const struct {
        const char *yaml;
        size_t off;
        int want;
    } ok[] = {
        {"mode: s", offsetof(struct arcp_config, mode), CFG_MODE_S},
        {"mode: v", offsetof(struct arcp_config, mode), CFG_MODE_V},
        {"mode: pass", offsetof(struct arcp_config, mode), CFG_MODE_PASS},
        {"delivery: queue", offsetof(struct arcp_config, delivery), CFG_DELIVERY_QUEUE},
        {"smtp: {bare_lf: accept}", offsetof(struct arcp_config, smtp.bare_lf), CFG_BARE_LF_ACCEPT},
        {"on_temperror: pass", offsetof(struct arcp_config, on_temperror), CFG_ON_TEMPERROR_PASS},
        {"on_unparseable: reject", offsetof(struct arcp_config, on_unparseable),
         CFG_ON_UNPARSEABLE_REJECT},
        {"logging: {destination: syslog}", offsetof(struct arcp_config, logging.destination),
         CFG_LOG_SYSLOG},
        {"logging: {level: debug}", offsetof(struct arcp_config, logging.level), LOG_LVL_DEBUG},
        {"logging: {level: error}", offsetof(struct arcp_config, logging.level), LOG_LVL_ERROR},
        {"logging: {facility: local7}", offsetof(struct arcp_config, logging.facility),
         CFG_FACILITY_LOCAL7},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct arcp_config *cfg = load_ok(ok[i].yaml);
        ASSERT_EQ_INT(*(int *)((char *)cfg + ok[i].off), ok[i].want);
        config_free(cfg);
    }
    expect_errors("mode: SV\n", "t.yaml:1:7: mode: \"SV\" is not one of s, v, sv, pass\n");
    expect_errors("logging: {facility: kern}\n",
                  "t.yaml:1:21: logging.facility: \"kern\" is not one of mail, daemon, user, "
                  "local0, local1, local2, local3, local4, local5, local6, local7\n");
}

static void
addresses_ipv4_ipv6_and_unix(void)
{
    struct arcp_config *cfg = load_ok("listen:\n  - 0.0.0.0:25\n  - \"[2001:DB8:0::1]:10025\"\n"
                                      "  - unix:/run/arcproxy/filter.sock\n"
                                      "downstream: {address: \"[::1]:10026\"}\n");
    ASSERT_EQ_INT(cfg->listen.n, 3);
    ASSERT_EQ_INT(cfg->listen.v[0].kind, CFG_ADDR_IP4);
    ASSERT_EQ_STR(cfg->listen.v[0].text, "0.0.0.0:25");
    ASSERT_EQ_INT(cfg->listen.v[1].kind, CFG_ADDR_IP6);
    ASSERT_EQ_STR(cfg->listen.v[1].host, "2001:db8::1");
    ASSERT_EQ_INT(cfg->listen.v[1].port, 10025);
    ASSERT_EQ_STR(cfg->listen.v[1].text, "[2001:db8::1]:10025");
    ASSERT_EQ_INT(cfg->listen.v[2].kind, CFG_ADDR_UNIX);
    ASSERT_EQ_STR(cfg->listen.v[2].host, "/run/arcproxy/filter.sock");
    ASSERT_EQ_INT(cfg->listen.v[2].port, 0);
    ASSERT_EQ_STR(cfg->listen.v[2].text, "unix:/run/arcproxy/filter.sock");
    ASSERT_EQ_INT(cfg->downstream.address.kind, CFG_ADDR_IP6);
    ASSERT_EQ_STR(cfg->downstream.address.host, "::1");
    config_free(cfg);

    char longpath[200];
    memset(longpath, 'a', sizeof longpath);
    longpath[sizeof longpath - 1] = '\0';
    char yaml[400];
    snprintf(yaml, sizeof yaml, "downstream: {address: unix:/%s}\n", longpath);
    char want[300];
    snprintf(want, sizeof want,
             "t.yaml:1:23: downstream.address: \"unix:/%.74s...\": a unix socket path needs "
             "1 to 107 bytes\n",
             longpath);
    expect_errors(yaml, want);
    expect_errors("listen: [\"1.2.3.4:65536\", \"[::1]\", \"[::1:25\", \"unix:\", "
                  "\"localhost:25\", \"1.2.3:25\"]\n",
                  "t.yaml:1:10: listen: \"1.2.3.4:65536\" has a bad port (want 1 to 65535)\n"
                  "t.yaml:1:27: listen: \"[::1]\" has no port (want IPv4:port, [IPv6]:port or "
                  "unix:/path)\n"
                  "t.yaml:1:36: listen: \"[::1:25\" is not an address (want IPv4:port, "
                  "[IPv6]:port or unix:/path)\n"
                  "t.yaml:1:47: listen: \"unix:\": a unix socket path needs 1 to 107 bytes\n"
                  "t.yaml:1:56: listen: \"localhost:25\" is not an address (want IPv4:port, "
                  "[IPv6]:port or unix:/path; names are not resolved)\n"
                  "t.yaml:1:72: listen: \"1.2.3:25\" is not an address (want IPv4:port, "
                  "[IPv6]:port or unix:/path; names are not resolved)\n");
}

static void
dns_servers_default_to_port_53_and_refuse_unix(void)
{
    struct arcp_config *cfg = load_ok("dns:\n  servers: [192.0.2.1, \"2001:db8::53\", "
                                      "\"192.0.2.2:5353\", \"[::1]:53\"]\n");
    ASSERT_EQ_INT(cfg->dns.servers.n, 4);
    ASSERT_EQ_STR(cfg->dns.servers.v[0].text, "192.0.2.1:53");
    ASSERT_EQ_STR(cfg->dns.servers.v[1].text, "[2001:db8::53]:53");
    ASSERT_EQ_INT(cfg->dns.servers.v[2].port, 5353);
    ASSERT_EQ_STR(cfg->dns.servers.v[3].host, "::1");
    config_free(cfg);
    expect_errors("dns: {servers: [unix:/run/dns]}\n",
                  "t.yaml:1:17: dns.servers: \"unix:/run/dns\": a unix socket is not allowed "
                  "here\n");
}

static void
lists_take_a_sequence_or_one_value(void)
{
    struct arcp_config *cfg =
        load_ok("listen: 127.0.0.1:2525\nxforward_hosts:\ndns: {servers: []}\n");
    ASSERT_EQ_INT(cfg->listen.n, 1);
    ASSERT_EQ_STR(cfg->listen.v[0].text, "127.0.0.1:2525");
    ASSERT_EQ_INT(cfg->xforward_hosts.n, 0);
    ASSERT_EQ_INT(cfg->dns.servers.n, 0);
    config_free(cfg);
    expect_errors("listen: []\n", "t.yaml:1:9: listen: needs at least one entry\n");
    expect_errors("listen:\n  - {address: 127.0.0.1:25}\n",
                  "t.yaml:2:5: listen: expected a list of single values\n");
    expect_errors("xforward_hosts: {a: b}\n",
                  "t.yaml:1:17: xforward_hosts: expected a list, not a mapping\n");

    char yaml[8192] = "xforward_hosts: [";
    for (int i = 0; i < CFG_LIST_MAX + 1; i++)
        snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml), "%s10.0.%d.%d", i ? ", " : "",
                 i / 256, i % 256);
    strcat(yaml, "]\n");
    struct config_errors errs;
    config_errors_init(&errs);
    ASSERT_EQ_INT(config_load_mem("t.yaml", yaml, strlen(yaml), &cfg, &errs), -ARC_EINVAL);
    ASSERT_EQ_INT(errs.n, 1);
    ASSERT(strstr(errs.msg[0], "xforward_hosts: more than 256 entries"));
}

static void
cidr_blocks_parse_and_match(void)
{
    struct arcp_config *cfg =
        load_ok("xforward_hosts: [10.0.0.0/8, \"2001:db8::/32\", 192.0.2.7, \"::1\", "
                "172.16.0.0/12]\n");
    struct cfg_cidrs *x = &cfg->xforward_hosts;
    unsigned char a4[4], a6[16];
    ASSERT_EQ_INT(x->n, 5);
    ASSERT_EQ_STR(x->v[0].text, "10.0.0.0/8");
    ASSERT_EQ_STR(x->v[1].text, "2001:db8::/32");
    ASSERT_EQ_STR(x->v[2].text, "192.0.2.7/32");
    ASSERT_EQ_STR(x->v[3].text, "::1/128");
    inet_pton(AF_INET, "10.200.3.4", a4);
    ASSERT_EQ_INT(config_cidr_match(x, AF_INET, a4), 1);
    inet_pton(AF_INET, "172.31.255.255", a4);
    ASSERT_EQ_INT(config_cidr_match(x, AF_INET, a4), 1);
    inet_pton(AF_INET, "172.32.0.0", a4);
    ASSERT_EQ_INT(config_cidr_match(x, AF_INET, a4), 0);
    inet_pton(AF_INET, "192.0.2.8", a4);
    ASSERT_EQ_INT(config_cidr_match(x, AF_INET, a4), 0);
    inet_pton(AF_INET6, "::ffff:192.0.2.7", a6);
    ASSERT_EQ_INT(config_cidr_match(x, AF_INET6, a6), 1);
    inet_pton(AF_INET6, "2001:db8:ffff::1", a6);
    ASSERT_EQ_INT(config_cidr_match(x, AF_INET6, a6), 1);
    inet_pton(AF_INET6, "2001:db9::1", a6);
    ASSERT_EQ_INT(config_cidr_match(x, AF_INET6, a6), 0);
    inet_pton(AF_INET6, "::2", a6);
    ASSERT_EQ_INT(config_cidr_match(x, AF_INET6, a6), 0);
    config_free(cfg);
    cfg = load_ok("xforward_hosts: [0.0.0.0/0]\n");
    inet_pton(AF_INET, "203.0.113.9", a4);
    ASSERT_EQ_INT(config_cidr_match(&cfg->xforward_hosts, AF_INET, a4), 1);
    config_free(cfg);
    expect_errors("xforward_hosts: [10.0.0.1/8, \"::1/129\", 1.2.3.4/, foo]\n",
                  "t.yaml:1:18: xforward_hosts: \"10.0.0.1/8\" has bits set after the prefix "
                  "(did you mean 10.0.0.0/8?)\n"
                  "t.yaml:1:30: xforward_hosts: \"::1/129\" has a bad prefix length (want 0 to "
                  "128)\n"
                  "t.yaml:1:41: xforward_hosts: \"1.2.3.4/\" has a bad prefix length (want 0 to "
                  "32)\n"
                  "t.yaml:1:51: xforward_hosts: \"foo\" is not an address block (want "
                  "address/prefix)\n");
}

static void
strings_domains_and_host_name_default(void)
{
    struct arcp_config *cfg =
        load_ok("authserv_id: mx.example.org\nhostname: \"\"\ndownstream: {helo_name: "
                "filter-1.example_net}\npidfile: /run/arc proxy.pid\nuser: arcproxy\n"
                "keys: {domain: example.org, selector: arc-2025, key_file: k.pem}\n");
    char host[256];
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    ASSERT_EQ_STR(cfg->authserv_id, "mx.example.org");
    ASSERT_EQ_STR(cfg->hostname, host);
    ASSERT_EQ_STR(cfg->downstream.helo_name, "filter-1.example_net");
    ASSERT_EQ_STR(cfg->pidfile, "/run/arc proxy.pid");
    ASSERT_EQ_STR(cfg->user, "arcproxy");
    ASSERT_EQ_STR(cfg->keys.selector, "arc-2025");
    config_free(cfg);
    expect_errors("authserv_id: \"mx example.org\"\nhostname: a..b\n"
                  "keys: {domain: \"x\\ty\"}\n",
                  "t.yaml:1:14: authserv_id: \"mx example.org\" is not a domain name\n"
                  "t.yaml:2:11: hostname: \"a..b\" is not a domain name\n"
                  "t.yaml:3:16: keys.domain: \"x\\x09y\" contains a control character\n");
    expect_errors("spool_dir: \"\"\n", "t.yaml:1:12: spool_dir: must not be empty\n");
    char yaml[CFG_STRING_MAX + 64] = "pidfile: ";
    memset(yaml + 9, 'p', CFG_STRING_MAX + 1);
    strcpy(yaml + 9 + CFG_STRING_MAX + 1, "\n");
    expect_errors(yaml, "t.yaml:1:10: pidfile: is longer than 4096 bytes\n");
}

/* A table of its own for the one type no key of arcproxy uses yet. */
struct strlist_test {
    struct cfg_strs names;
    int n;
};

static const struct cfg_key strlist_keys[] = {
    {"t.names", CFG_T_STRLIST, 0, offsetof(struct strlist_test, names), "a b", 0, 0, NULL, 0,
     "names"},
    {"t.n", CFG_T_INT, 0, offsetof(struct strlist_test, n), "3", 1, 9, NULL, 0, "n"},
};

static void
string_lists_through_a_test_table(void)
{
    struct strlist_test t;
    struct cfg_pos pos[2] = {{0, 0}, {0, 0}};
    struct config_errors errs;
    char why[200];
    memset(&t, 0, sizeof t);
    config_errors_init(&errs);
    for (size_t i = 0; i < 2; i++)
        ASSERT_EQ_INT(cfg_value_default(&strlist_keys[i], &t, why, sizeof why), 0);
    ASSERT_EQ_INT(t.names.n, 2);
    ASSERT_EQ_STR(t.names.v[1], "b");
    const char *yaml = "t:\n  names: [\"x y\", z, \"\"]\n";
    ASSERT_EQ_INT(cfg_parse(strlist_keys, 2, &t, "s.yaml", yaml, strlen(yaml), &errs, pos), 0);
    ASSERT_EQ_INT(t.names.n, 3);
    ASSERT_EQ_STR(t.names.v[0], "x y");
    ASSERT_EQ_STR(t.names.v[2], "");
    ASSERT_EQ_INT(pos[0].line, 2);
    ASSERT_EQ_INT(pos[0].col, 3);
    ASSERT_EQ_INT(pos[1].line, 0);
    yaml = "t: {names: [ok, [nested]], m: 1}\n";
    memset(pos, 0, sizeof pos);
    ASSERT_EQ_INT(cfg_parse(strlist_keys, 2, &t, "s.yaml", yaml, strlen(yaml), &errs, pos), 2);
    ASSERT_EQ_INT(errs.n, 2);
    ASSERT_EQ_STR(errs.msg[0], "s.yaml:1:17: t.names: expected a list of single values");
    ASSERT_EQ_STR(errs.msg[1], "s.yaml:1:28: t.m: unknown key (did you mean t.n?)");
    ASSERT_EQ_INT(t.names.n, 3); /* a bad list leaves the old value */
    for (size_t i = 0; i < 2; i++)
        cfg_value_free(&strlist_keys[i], &t);
    ASSERT_EQ_INT(t.names.n, 0);
}

/* ---- broken files: exact messages ---- */

static void
unknown_key_names_file_line_column(void)
{
    expect_errors("mode: sv\nlimits:\n  max_rcpt: 10\n  frobnicate: 1\n",
                  "t.yaml:3:3: limits.max_rcpt: unknown key (did you mean limits.max_rcpts?)\n"
                  "t.yaml:4:3: limits.frobnicate: unknown key\n");
    expect_errors("authserv-id: mx.example.org\n",
                  "t.yaml:1:1: authserv-id: unknown key (did you mean authserv_id?)\n");
}

static void
unknown_section_is_an_error(void)
{
    expect_errors("limts:\n  max_rcpts: 10\ntelemetry:\n  listen: yes\n",
                  "t.yaml:1:1: limts: unknown section (did you mean limits?)\n"
                  "t.yaml:3:1: telemetry: unknown section\n");
}

static void
dotted_names_are_not_keys(void)
{
    expect_errors("limits.max_rcpts: 4\n",
                  "t.yaml:1:1: limits.max_rcpts: unknown key (write sections as nested "
                  "mappings, not dotted names)\n");
}

static void
bad_integer(void)
{
    expect_errors("limits:\n  max_rcpts: ten\n",
                  "t.yaml:2:14: limits.max_rcpts: \"ten\" is not an integer\n");
}

static void
integer_below_minimum(void)
{
    expect_errors("limits:\n  max_rcpts: 0\n",
                  "t.yaml:2:14: limits.max_rcpts: 0 is below the minimum 1\n");
}

static void
integer_above_maximum(void)
{
    expect_errors("limits:\n    max_sessions: 1000000\n",
                  "t.yaml:2:19: limits.max_sessions: 1000000 is above the maximum 100000\n");
}

static void
bad_enum_value(void)
{
    expect_errors("delivery: spool\n",
                  "t.yaml:1:11: delivery: \"spool\" is not one of proxy, queue\n");
}

static void
bad_address(void)
{
    expect_errors("downstream:\n  address: 127.0.0.1\n",
                  "t.yaml:2:12: downstream.address: \"127.0.0.1\" has no port (want IPv4:port, "
                  "[IPv6]:port or unix:/path)\n");
    expect_errors("listen: ::1:25\n",
                  "t.yaml:1:9: listen: \"::1:25\": an IPv6 address needs brackets, as in "
                  "[::1]:25\n");
}

static void
bad_size_unit(void)
{
    expect_errors("limits:\n  max_message_size: 50X\n",
                  "t.yaml:2:21: limits.max_message_size: \"50X\" is not a size (a number of "
                  "bytes, optionally with K, M or G)\n");
}

static void
bad_duration(void)
{
    expect_errors("downstream:\n  connect_timeout: 5 minutes\n",
                  "t.yaml:2:20: downstream.connect_timeout: \"5 minutes\" is not a duration (a "
                  "number with a unit: ms, s, m, h or d)\n");
}

static void
list_where_a_single_value_is_wanted(void)
{
    expect_errors("mode: [s, v]\nlimits:\n  max_rcpts:\n    - 1\n",
                  "t.yaml:1:7: mode: expected a single value, not a list\n"
                  "t.yaml:4:5: limits.max_rcpts: expected a single value, not a list\n");
    expect_errors("authserv_id: {name: x}\n",
                  "t.yaml:1:14: authserv_id: expected a single value, not a mapping\n");
}

static void
single_value_where_a_section_is_wanted(void)
{
    /* the placeholder config's form before the loader existed */
    expect_errors("downstream: 127.0.0.1:10026\nlimits: [1]\n",
                  "t.yaml:1:13: downstream: expected a section (a mapping of keys), not a "
                  "single value\n"
                  "t.yaml:2:9: limits: expected a section (a mapping of keys), not a list\n");
}

static void
missing_value(void)
{
    expect_errors("mode:\nlimits:\n  max_rcpts: ~\n",
                  "t.yaml:1:6: mode: has no value\n"
                  "t.yaml:3:14: limits.max_rcpts: has no value\n");
}

static void
duplicate_key(void)
{
    expect_errors("mode: s\nlimits:\n  max_rcpts: 5\n  max_rcpts: 6\nmode: v\n",
                  "t.yaml:4:3: limits.max_rcpts: duplicate key (first at line 3, column 3)\n"
                  "t.yaml:5:1: mode: duplicate key (first at line 1, column 1)\n");
}

static void
duplicate_section(void)
{
    expect_errors("limits:\n  max_rcpts: 5\nlimits:\n  max_sessions: 6\n",
                  "t.yaml:3:1: limits: duplicate key (first at line 1, column 1)\n");
}

static void
yaml_syntax_error_at_libyamls_position(void)
{
    expect_errors("mode: sv\nlimits:\n  max_rcpts: 5\n max_sessions: 3\n",
                  "t.yaml:4:2: YAML syntax error: did not find expected key (while parsing a "
                  "block mapping at line 1, column 1)\n");
    expect_errors("mode: sv\nlimits:\n\tmax_rcpts: 5\n",
                  "t.yaml:3:1: YAML syntax error: found character that cannot start any token "
                  "(while scanning for the next token at line 3, column 1)\n");
    expect_errors("mode: \"sv\n",
                  "t.yaml:2:1: YAML syntax error: found unexpected end of stream (while "
                  "scanning a quoted scalar at line 1, column 7)\n");
    expect_errors("mode: a: b\n",
                  "t.yaml:1:8: YAML syntax error: mapping values are not allowed in this "
                  "context\n");
}

static void
top_level_must_be_a_mapping(void)
{
    expect_errors("- mode: s\n", "t.yaml:1:1: expected a mapping of keys (key: value) at the top "
                                 "level, not a list\n");
    expect_errors("sv\n", "t.yaml:1:1: expected a mapping of keys (key: value) at the top level, "
                          "not a single value\n");
}

static void
second_document_is_an_error(void)
{
    expect_errors("mode: s\n---\nmode: v\n",
                  "t.yaml:3:1: a second YAML document (after ---) is not allowed\n");
}

static void
every_error_is_reported_in_file_order(void)
{
    expect_errors("listen: [\"127.0.0.1:99999\"]\nmode: x\nlimits:\n  max_rcpts: 0\n"
                  "  bogus: 1\nlogging:\n  level: loud\n",
                  "t.yaml:1:10: listen: \"127.0.0.1:99999\" has a bad port (want 1 to 65535)\n"
                  "t.yaml:2:7: mode: \"x\" is not one of s, v, sv, pass\n"
                  "t.yaml:4:14: limits.max_rcpts: 0 is below the minimum 1\n"
                  "t.yaml:5:3: limits.bogus: unknown key\n"
                  "t.yaml:7:10: logging.level: \"loud\" is not one of error, warn, info, debug\n");
}

static void
errors_stop_being_recorded_at_the_cap(void)
{
    char yaml[4096] = "";
    for (int i = 0; i < CONFIG_ERRORS_MAX + 10; i++)
        snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml), "unknown%d: 1\n", i);
    struct config_errors errs;
    struct arcp_config *cfg;
    config_errors_init(&errs);
    ASSERT_EQ_INT(config_load_mem("t.yaml", yaml, strlen(yaml), &cfg, &errs), -ARC_EINVAL);
    ASSERT_EQ_INT(errs.n, CONFIG_ERRORS_MAX);
    ASSERT_EQ_INT(errs.dropped, 10);
    ASSERT_EQ_STR(errs.msg[CONFIG_ERRORS_MAX - 1], "t.yaml:20:1: unknown19: unknown key");
    /* errs may be NULL: the result alone says "invalid" */
    ASSERT_EQ_INT(config_load_mem("t.yaml", "mode: x", 7, &cfg, NULL), -ARC_EINVAL);
}

static void
sealing_keys_go_together(void)
{
    expect_errors("keys:\n  selector: s1\n  domain: example.org\n",
                  "t.yaml:2:3: keys: domain, selector and key_file go together: set all three, "
                  "or none to not seal\n");
}

static void
retry_min_must_not_exceed_retry_max(void)
{
    expect_errors("queue: {retry_min: 2h}\n",
                  "t.yaml:1:9: queue.retry_min: 2h is above queue.retry_max (1h)\n");
    expect_errors("queue:\n  retry_max: 1m\n",
                  "t.yaml:2:3: queue.retry_max: 1m is below queue.retry_min (5m)\n");
}

static void
unreadable_file_is_eio(void)
{
    struct config_errors errs;
    struct arcp_config *cfg = (struct arcp_config *)1;
    config_errors_init(&errs);
    ASSERT_EQ_INT(config_load("/nonexistent/arcproxy.yaml", &cfg, &errs), -ARC_EIO);
    ASSERT(cfg == NULL);
    ASSERT_EQ_INT(errs.n, 1);
    ASSERT_EQ_STR(errs.msg[0],
                  "/nonexistent/arcproxy.yaml: cannot read: No such file or directory");
}

/* ---- the table, the shipped file, the docs ---- */

static void
table_names_unique_sections_contiguous(void)
{
    for (size_t i = 0; i < cfg_nkeys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        ASSERT(k->doc && k->doc[0] && !strchr(k->doc, '\n') && !strchr(k->doc, '|'));
        ASSERT((k->type == CFG_T_ENUM) == (k->values != NULL));
        const char *dot = strchr(k->name, '.');
        ASSERT(!dot || !strchr(dot + 1, '.'));
        for (size_t j = 0; j < i; j++) {
            const char *other = cfg_keys[j].name;
            if (strcmp(other, k->name) == 0)
                TEST_FAIL("%s twice", k->name);
            /* same section as an earlier key: every key in between is in it too */
            size_t len = dot ? (size_t)(dot - k->name) + 1 : 0;
            if (len && strncmp(other, k->name, len) == 0 &&
                strncmp(cfg_keys[i - 1].name, k->name, len) != 0)
                TEST_FAIL("section of %s is split", k->name);
        }
    }
}

static void
shipped_config_loads_without_errors(void)
{
    struct config_errors errs;
    struct arcp_config *cfg;
    config_errors_init(&errs);
    int rc = config_load(test_data_path("../config/arcproxy.yaml"), &cfg, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msg[i]);
    ASSERT_EQ_INT(rc, 0);
    ASSERT_EQ_INT(errs.n, 0);
    ASSERT_EQ_STR(cfg->listen.v[0].text, "127.0.0.1:10025");
    ASSERT_EQ_STR(cfg->downstream.address.text, "127.0.0.1:10026");
    ASSERT_EQ_INT(cfg->mode, CFG_MODE_SV);
    ASSERT_EQ_STR(cfg->keys.key_file, "");
    config_free(cfg);
}

static void
shipped_config_lists_every_key_with_its_default(void)
{
    size_t len;
    char *yaml = test_read_file(test_data_path("../config/arcproxy.yaml"), &len);
    struct arcp_config *def, *cfg = load_ok(yaml);
    struct cfg_pos *pos = calloc(cfg_nkeys, sizeof *pos);
    struct config_errors errs;
    config_errors_init(&errs);
    config_default(&def);
    ASSERT_EQ_INT(cfg_parse(cfg_keys, cfg_nkeys, def, "arcproxy.yaml", yaml, len, &errs, pos), 0);
    config_free(def);
    for (size_t i = 0; i < cfg_nkeys; i++) {
        if (!pos[i].line)
            TEST_FAIL("config/arcproxy.yaml does not list %s", cfg_keys[i].name);
    }
    /* values: the defaults, except spool_dir (kept in build/ so run.sh needs no root) */
    ASSERT_EQ_STR(cfg->spool_dir, "build/spool");
    free(cfg->spool_dir);
    cfg->spool_dir = strdup("/var/spool/arcproxy");
    /* and user (nobody: the quick start runs as root and must not stay root) */
    ASSERT_EQ_STR(cfg->user, "nobody");
    free(cfg->user);
    cfg->user = strdup("");
    config_default(&def);
    char *want = dump(def), *got = dump(cfg);
    ASSERT_EQ_STR(got, want);
    free(want);
    free(got);
    free(pos);
    free(yaml);
    config_free(def);
    config_free(cfg);
}

static void
docs_key_table_is_what_config_doc_prints(void)
{
    static const char begin[] = "<!-- BEGIN KEY TABLE: generated by `arcproxy --config-doc`; "
                                "tests/config checks it -->\n";
    static const char end[] = "<!-- END KEY TABLE -->\n";
    char *md = test_read_file(test_data_path("../docs/configuration.md"), NULL);
    char *b = strstr(md, begin), *e = b ? strstr(b, end) : NULL;
    if (!b || !e)
        TEST_FAIL("docs/configuration.md lacks the markers:\n%s%s", begin, end);
    b += strlen(begin);
    *e = '\0';
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    config_doc(f);
    fclose(f);
    if (strcmp(b, p) != 0) {
        TEST_FAIL("docs/configuration.md's key table differs from config_doc; regenerate it "
                  "with `arcproxy --config-doc`. config_doc prints:\n%s",
                  p);
    }
    free(p);
    free(md);
}

static void
docs_examples_load(void)
{
    char *md = test_read_file(test_data_path("../docs/configuration.md"), NULL);
    int n = 0;
    for (char *p = md; (p = strstr(p, "```yaml\n")) != NULL; n++) {
        p += 8;
        char *e = strstr(p, "```\n");
        ASSERT(e);
        *e = '\0';
        config_free(load_ok(p));
        p = e + 4;
    }
    ASSERT(n >= 5);
    free(md);
}

/* run_check - config_check_main with stdout and stderr sent to files; its status. */
static int
run_check(char **argv, int argc, char **out)
{
    FILE *o = tmpfile(), *e = tmpfile();
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(fileno(o), 1);
    dup2(fileno(e), 2);
    int rc = config_check_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    static char buf[16384];
    size_t n = 0;
    rewind(rc == 0 ? o : e);
    n = fread(buf, 1, sizeof buf - 1, rc == 0 ? o : e);
    buf[n] = '\0';
    *out = buf;
    fclose(o);
    fclose(e);
    return rc;
}

static void
check_config_exit_codes(void)
{
    char path[256], *out;
    snprintf(path, sizeof path, "%s", test_data_path("../config/arcproxy.yaml"));
    char *good[] = {"arcproxy", "-c", path, "--check-config", NULL};
    ASSERT_EQ_INT(run_check(good, 4, &out), 0);
    ASSERT(strstr(out, "# arcproxy effective configuration from "));
    ASSERT(strstr(out, "\nlimits:\n  max_sessions: 100\n"));

    char bad[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(bad);
    ASSERT(fd >= 0);
    ASSERT(write(fd, "mode: x\nbogus: 1\n", 17) == 17);
    close(fd);
    char badopt[300];
    snprintf(badopt, sizeof badopt, "--config=%s", bad);
    char *badv[] = {"arcproxy", "--check-config", badopt, NULL};
    ASSERT_EQ_INT(run_check(badv, 3, &out), CONFIG_EX_CONFIG);
    char want[1024];
    snprintf(want, sizeof want,
             "%s:1:7: mode: \"x\" is not one of s, v, sv, pass\n%s:2:1: bogus: unknown key\n"
             "%s: configuration is not valid\n",
             bad, bad, bad);
    ASSERT_EQ_STR(out, want);
    unlink(bad);

    char *missing[] = {"arcproxy", "--check-config", "-c/nonexistent.yaml", NULL};
    ASSERT_EQ_INT(run_check(missing, 3, &out), CONFIG_EX_CONFIG);
    char *usage1[] = {"arcproxy", "--check-config", "--frob", NULL};
    ASSERT_EQ_INT(run_check(usage1, 3, &out), 64);
    char *usage2[] = {"arcproxy", "-c", "x.yaml", NULL};
    ASSERT_EQ_INT(run_check(usage2, 3, &out), 64);
    char *doc[] = {"arcproxy", "--config-doc", NULL};
    ASSERT_EQ_INT(run_check(doc, 2, &out), 0);
    ASSERT(strncmp(out, "| Key | Type | Default | Meaning |\n", 35) == 0);
}

static const struct test_case cases[] = {
    {"defaults_are_the_documented_ones", defaults_are_the_documented_ones},
    {"empty_file_means_all_defaults", empty_file_means_all_defaults},
    {"dump_reads_back_to_the_same_config", dump_reads_back_to_the_same_config},
    {"integers_within_min_and_max", integers_within_min_and_max},
    {"sizes_take_k_m_g_units", sizes_take_k_m_g_units},
    {"durations_take_ms_s_m_h_d_units", durations_take_ms_s_m_h_d_units},
    {"booleans_accept_true_false_yes_no_on_off", booleans_accept_true_false_yes_no_on_off},
    {"enums_take_exactly_their_values", enums_take_exactly_their_values},
    {"addresses_ipv4_ipv6_and_unix", addresses_ipv4_ipv6_and_unix},
    {"dns_servers_default_to_port_53_and_refuse_unix",
     dns_servers_default_to_port_53_and_refuse_unix},
    {"lists_take_a_sequence_or_one_value", lists_take_a_sequence_or_one_value},
    {"cidr_blocks_parse_and_match", cidr_blocks_parse_and_match},
    {"strings_domains_and_host_name_default", strings_domains_and_host_name_default},
    {"string_lists_through_a_test_table", string_lists_through_a_test_table},
    {"unknown_key_names_file_line_column", unknown_key_names_file_line_column},
    {"unknown_section_is_an_error", unknown_section_is_an_error},
    {"dotted_names_are_not_keys", dotted_names_are_not_keys},
    {"bad_integer", bad_integer},
    {"integer_below_minimum", integer_below_minimum},
    {"integer_above_maximum", integer_above_maximum},
    {"bad_enum_value", bad_enum_value},
    {"bad_address", bad_address},
    {"bad_size_unit", bad_size_unit},
    {"bad_duration", bad_duration},
    {"list_where_a_single_value_is_wanted", list_where_a_single_value_is_wanted},
    {"single_value_where_a_section_is_wanted", single_value_where_a_section_is_wanted},
    {"missing_value", missing_value},
    {"duplicate_key", duplicate_key},
    {"duplicate_section", duplicate_section},
    {"yaml_syntax_error_at_libyamls_position", yaml_syntax_error_at_libyamls_position},
    {"top_level_must_be_a_mapping", top_level_must_be_a_mapping},
    {"second_document_is_an_error", second_document_is_an_error},
    {"every_error_is_reported_in_file_order", every_error_is_reported_in_file_order},
    {"errors_stop_being_recorded_at_the_cap", errors_stop_being_recorded_at_the_cap},
    {"sealing_keys_go_together", sealing_keys_go_together},
    {"retry_min_must_not_exceed_retry_max", retry_min_must_not_exceed_retry_max},
    {"unreadable_file_is_eio", unreadable_file_is_eio},
    {"table_names_unique_sections_contiguous", table_names_unique_sections_contiguous},
    {"shipped_config_loads_without_errors", shipped_config_loads_without_errors},
    {"shipped_config_lists_every_key_with_its_default",
     shipped_config_lists_every_key_with_its_default},
    {"docs_key_table_is_what_config_doc_prints", docs_key_table_is_what_config_doc_prints},
    {"docs_examples_load", docs_examples_load},
    {"check_config_exit_codes", check_config_exit_codes},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
