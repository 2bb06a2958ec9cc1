/* SPDX-License-Identifier: MIT */
/*
 * test_resolver_config - dns_res_opts_from_config (src/dns/resolver_config.c): the dns.*
 * keys of a loaded config into struct dns_res_opts, and the checks the key table's
 * ranges cannot make.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "config/config.h"
#include "dns/resolver.h"
#include "test.h"

static struct arcp_config *
load(const char *yaml)
{
    struct arcp_config *c = NULL;
    struct config_errors errs;
    config_errors_init(&errs);
    if (config_load_mem("test.yaml", yaml, strlen(yaml), &c, &errs) != 0)
        TEST_FAIL("config_load_mem: %s", errs.n ? errs.msg[0] : "?");
    return c;
}

static void
defaults_match_the_resolver_defaults(void)
{
    struct arcp_config *c = NULL;
    ASSERT_EQ_INT(config_default(&c), 0);
    struct dns_res_opts o, d;
    ASSERT_EQ_INT(dns_res_opts_from_config(c, NULL, &o, NULL), 0);
    dns_res_opts_default(&d);
    ASSERT_EQ_INT(o.nservers, 0);
    ASSERT_EQ_INT(o.timeout_ms, d.timeout_ms);
    ASSERT_EQ_INT(o.attempts, d.attempts);
    ASSERT_EQ_INT(o.total_ms, d.total_ms);
    ASSERT_EQ_INT(o.edns_size, d.edns_size);
    ASSERT_EQ_INT(o.cache_max, d.cache_max);
    ASSERT_EQ_INT(o.ttl_min_s, d.ttl_min_s);
    ASSERT_EQ_INT(o.ttl_max_s, d.ttl_max_s);
    ASSERT_EQ_INT(o.neg_ttl_min_s, d.neg_ttl_min_s);
    ASSERT_EQ_INT(o.neg_ttl_max_s, d.neg_ttl_max_s);
    config_free(c);
}

static void
every_key_is_mapped(void)
{
    struct arcp_config *c = load("dns:\n"
                                 "  servers: [\"127.0.0.1:5353\", \"[::1]:53\", \"192.0.2.1\"]\n"
                                 "  timeout: 250ms\n  attempts: 3\n  lookup_timeout: 4s\n"
                                 "  edns_size: 0\n  cache_size: 7\n"
                                 "  cache_min_ttl: 1500ms\n  cache_max_ttl: 2m\n"
                                 "  negative_min_ttl: 0\n  negative_max_ttl: 1h\n");
    struct dns_res_opts o;
    ASSERT_EQ_INT(dns_res_opts_from_config(c, NULL, &o, NULL), 0);
    ASSERT_EQ_INT(o.nservers, 3);
    const struct sockaddr_in *s0 = (const void *)&o.servers[0];
    ASSERT_EQ_INT(s0->sin_family, AF_INET);
    ASSERT_EQ_INT(ntohs(s0->sin_port), 5353);
    const struct sockaddr_in6 *s1 = (const void *)&o.servers[1];
    ASSERT_EQ_INT(s1->sin6_family, AF_INET6);
    ASSERT_EQ_INT(ntohs(s1->sin6_port), 53);
    ASSERT_EQ_INT(ntohs(((const struct sockaddr_in *)&o.servers[2])->sin_port), 53);
    ASSERT_EQ_INT(o.timeout_ms, 250);
    ASSERT_EQ_INT(o.attempts, 3);
    ASSERT_EQ_INT(o.total_ms, 4000);
    ASSERT_EQ_INT(o.edns_size, 0);
    ASSERT_EQ_INT(o.cache_max, 7);
    ASSERT_EQ_INT(o.ttl_min_s, 2); /* rounded up */
    ASSERT_EQ_INT(o.ttl_max_s, 120);
    ASSERT_EQ_INT(o.neg_ttl_min_s, 0);
    ASSERT_EQ_INT(o.neg_ttl_max_s, 3600);
    config_free(c);
}

static void
small_edns_size_refused(void)
{
    struct arcp_config *c = load("dns:\n  edns_size: 300\n");
    struct dns_res_opts o;
    struct err e;
    err_clear(&e);
    ASSERT_EQ_INT(dns_res_opts_from_config(c, NULL, &o, &e), -ARC_EINVAL);
    ASSERT(strstr(e.text, "dns.edns_size") != NULL);
    config_free(c);
}

static void
min_above_max_refused(void)
{
    struct arcp_config *c = load("dns:\n  cache_min_ttl: 2h\n  cache_max_ttl: 1h\n");
    struct dns_res_opts o;
    struct err e;
    err_clear(&e);
    ASSERT_EQ_INT(dns_res_opts_from_config(c, NULL, &o, &e), -ARC_EINVAL);
    ASSERT(strstr(e.text, "dns.cache_min_ttl") != NULL);
    config_free(c);
    c = load("dns:\n  negative_min_ttl: 10m\n  negative_max_ttl: 5m\n");
    ASSERT_EQ_INT(dns_res_opts_from_config(c, NULL, &o, &e), -ARC_EINVAL);
    config_free(c);
}

static const struct test_case cases[] = {
    {"defaults_match_the_resolver_defaults", defaults_match_the_resolver_defaults},
    {"every_key_is_mapped", every_key_is_mapped},
    {"small_edns_size_refused", small_edns_size_refused},
    {"min_above_max_refused", min_above_max_refused},
    {NULL, NULL},
};

int
main(int argc, char **argv)
{
    return test_main(argc, argv, cases);
}
