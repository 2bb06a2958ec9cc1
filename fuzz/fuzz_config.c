/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config - libFuzzer driver for the configuration loader (src/config): the input
 * is a whole YAML file, loaded with config_load_mem.
 *
 * Besides crashes, leaks and over-reads it checks:
 *   - success and failure agree: 0 with a config and no messages, or -ARC_EINVAL with
 *     no config and at least one message;
 *   - every message is one line starting with the file name, and at most
 *     CONFIG_ERRORS_MAX are recorded;
 *   - a loaded config holds no NULL string, at least one listen address, and enum
 *     values inside their tables;
 *   - config_dump's output loads again without errors and dumps to the same text
 *     (the dump is a faithful, re-readable YAML form of every value).
 * Seeds: fuzz/corpus/config/ (the shipped config, the docs' examples, broken files from
 * tests/config). Tokens: fuzz/config.dict.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_config: check failed: %s\n", #c);                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char *
dump(const struct arcp_config *cfg, size_t *lenp)
{
    char *p = NULL;
    FILE *f = open_memstream(&p, lenp);
    CHECK(f);
    config_dump(cfg, f);
    CHECK(fclose(f) == 0);
    return p;
}

static void
check_config(const struct arcp_config *cfg)
{
    const char *const strs[] = {cfg->downstream.helo_name,
                                cfg->authserv_id,
                                cfg->hostname,
                                cfg->keys.domain,
                                cfg->keys.selector,
                                cfg->keys.key_file,
                                cfg->dns.zone_file,
                                cfg->spool_dir,
                                cfg->pidfile,
                                cfg->user,
                                cfg->group};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        CHECK(strs[i] != NULL);
    CHECK(cfg->authserv_id[0] && cfg->hostname[0] && cfg->spool_dir[0]);
    CHECK(cfg->listen.n >= 1 && cfg->listen.n <= CFG_LIST_MAX);
    for (size_t i = 0; i < cfg->listen.n; i++)
        CHECK(cfg->listen.v[i].text && cfg->listen.v[i].host);
    CHECK(cfg->downstream.address.text != NULL);
    CHECK((unsigned)cfg->mode <= CFG_MODE_PASS);
    CHECK((unsigned)cfg->delivery <= CFG_DELIVERY_QUEUE);
    CHECK((unsigned)cfg->logging.facility <= CFG_FACILITY_LOCAL7);
    CHECK((unsigned)cfg->logging.level <= LOG_LVL_DEBUG);
    CHECK(cfg->limits.max_rcpts >= 1 && cfg->limits.max_sessions >= 1);
    CHECK(cfg->queue.retry_min <= cfg->queue.retry_max);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char name[] = "fuzz.yaml";
    struct config_errors errs;
    struct arcp_config *cfg = NULL, *again = NULL;
    char *copy = malloc(size ? size : 1); /* exactly the input: ASan sees over-reads */
    CHECK(copy);
    if (size)
        memcpy(copy, data, size);
    config_errors_init(&errs);
    int rc = config_load_mem(name, copy, size, &cfg, &errs);
    free(copy);

    CHECK(errs.n <= CONFIG_ERRORS_MAX);
    for (size_t i = 0; i < errs.n; i++) {
        CHECK(strncmp(errs.msg[i], "fuzz.yaml", 9) == 0);
        CHECK(strchr(errs.msg[i], '\n') == NULL);
    }
    if (rc != 0) {
        CHECK(rc == -ARC_EINVAL && cfg == NULL && errs.n >= 1);
        return 0;
    }
    CHECK(cfg != NULL && errs.n == 0 && errs.dropped == 0);
    check_config(cfg);

    size_t n1, n2;
    char *one = dump(cfg, &n1);
    config_errors_init(&errs);
    rc = config_load_mem(name, one, n1, &again, &errs);
    if (rc != 0) {
        fprintf(stderr, "fuzz_config: the dump does not load again:\n%s\n%s\n", one,
                errs.n ? errs.msg[0] : "");
        abort();
    }
    char *two = dump(again, &n2);
    CHECK(n1 == n2 && memcmp(one, two, n1) == 0);
    free(one);
    free(two);
    config_free(again);
    config_free(cfg);
    return 0;
}
