/* SPDX-License-Identifier: MIT */
/*
 * main - arcproxy's entry point: dispatch to a subcommand (verify, seal, keygen) or,
 * with no subcommand, run the daemon on a configuration file (-c FILE, default
 * config/arcproxy.yaml; docs/configuration.md) or on provisional command-line flags
 * (docs/operations.md). --check-config and --config-doc go to src/config.
 *
 * In config mode the logging.* keys are applied before the daemon starts, and SIGHUP
 * re-reads the same file (proxy_reload: reload_load/apply/release); the provisional
 * flags mode has nothing to reload, never switches user and may run as root.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/log.h"
#include "config/config.h"
#ifdef ARCPROXY_HAVE_DAEMON
#include "proxy/proxy.h"
#endif

#define EX_CONFIG_ 78

static void
usage(FILE *f)
{
    fprintf(f, "usage: arcproxy verify [--dns-zone FILE] [FILE]\n"
               "       arcproxy seal -d DOMAIN -s SELECTOR -k KEYFILE --authserv-id ID\n"
               "                     [--dns-zone FILE] [--time T] [--headers h1:h2:...]\n"
               "                     [--cv-from-authres] [FILE]\n"
               "       arcproxy keygen -d DOMAIN -s SELECTOR [--bits N] [--type rsa|ed25519]\n"
               "                       [--out DIR]\n"
               "       arcproxy [-c FILE]        run the SMTP proxy (see docs/)\n"
               "       arcproxy --listen ADDR:PORT --downstream ADDR:PORT --spool-dir DIR\n"
               "                [--mode pass|v|s|sv] [--authserv-id ID] [--seal-domain D]\n"
               "                [--seal-selector S] [--seal-key FILE] [--dns-zone FILE] ...\n"
               "                (provisional flags, docs/operations.md)\n");
}

#ifdef ARCPROXY_HAVE_DAEMON
/* parse_ms - "30" or "30s" seconds, "500ms" milliseconds; 0 on error. */
static unsigned
parse_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0 || v > 86400)
        return 0;
    if (strcmp(end, "ms") == 0)
        return v >= 1 ? (unsigned)v : 0;
    if (*end && strcmp(end, "s") != 0)
        return 0;
    return (unsigned)(v * 1000 + 0.5);
}

static int
parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || s[0] == '-')
        return -1;
    *out = (size_t)v;
    return 0;
}

static int
bad_flag(const char *flag, const char *value)
{
    log_error("bad value for --%s: %s", flag, value ? value : "(none)");
    return CLI_EX_USAGE;
}

/* nonempty - NULL for "" (config strings are never NULL; proxy_opts uses NULL). */
static const char *
nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

/* opts_from_config - proxy_opts borrowing cfg's strings (cfg outlives proxy_run). */
static int
opts_from_config(const struct arcp_config *cfg, struct proxy_opts *o)
{
    static const enum proxy_mode modes[] = {[CFG_MODE_S] = PROXY_MODE_S,
                                            [CFG_MODE_V] = PROXY_MODE_V,
                                            [CFG_MODE_SV] = PROXY_MODE_SV,
                                            [CFG_MODE_PASS] = PROXY_MODE_PASS};
    o->nlisten = 0;
    for (size_t i = 0; i < cfg->listen.n && i < PROXY_MAX_LISTEN; i++) {
        o->listen[o->nlisten++] = cfg->listen.v[i].text;
    }
    o->downstream = cfg->downstream.address.text;
    o->hostname = nonempty(cfg->hostname);
    o->max_sessions = (unsigned)cfg->limits.max_sessions;
    o->cmd_timeout_ms = (unsigned)cfg->limits.command_timeout;
    o->data_timeout_ms = (unsigned)cfg->limits.data_timeout;
    o->ds_connect_timeout_ms = (unsigned)cfg->downstream.connect_timeout;
    o->ds_timeout_ms = (unsigned)cfg->downstream.command_timeout;
    o->max_msg_size = cfg->limits.max_message_size;
    o->max_rcpts = (size_t)cfg->limits.max_rcpts;
    o->bare_lf_accept = cfg->smtp.bare_lf == CFG_BARE_LF_ACCEPT;
    o->mode = modes[cfg->mode];
    o->on_temperror = cfg->on_temperror == CFG_ON_TEMPERROR_PASS ? PROXY_TEMPERROR_PASS
                                                                 : PROXY_TEMPERROR_TEMPFAIL;
    o->authserv_id = nonempty(cfg->authserv_id);
    o->seal_domain = nonempty(cfg->keys.domain);
    o->seal_selector = nonempty(cfg->keys.selector);
    o->seal_key_path = nonempty(cfg->keys.key_file);
    o->dns_zone_path = nonempty(cfg->dns.zone_file);
    o->dns_config = cfg;
    o->remove_own_authres = cfg->remove_own_authres;
    o->spool_dir = cfg->spool_dir;
    o->delivery = cfg->delivery == CFG_DELIVERY_QUEUE ? PROXY_DELIVERY_QUEUE : PROXY_DELIVERY_PROXY;
    o->workers = (unsigned)cfg->workers;
    o->retry_min_ms = cfg->queue.retry_min;
    o->retry_max_ms = cfg->queue.retry_max;
    o->max_age_ms = cfg->queue.max_age;
    o->max_deliveries = (unsigned)cfg->queue.max_deliveries;
    o->ds_reuse = cfg->queue.connection_reuse;
    o->ds_idle_ms = (unsigned)cfg->queue.connection_idle_timeout;
    o->ds_max_msgs = (unsigned)cfg->queue.connection_max_messages;
    o->min_data_rate = cfg->limits.min_data_rate;
    o->nxforward_allow = 0;
    for (size_t i = 0; i < cfg->xforward_hosts.n && i < PROXY_MAX_CIDRS; i++)
        o->xforward_allow[o->nxforward_allow++] = cfg->xforward_hosts.v[i].text;
    if (cfg->metrics.listen.n > PROXY_MAX_METRICS) {
        log_error("%s: metrics.listen: at most %d addresses", cfg->path, PROXY_MAX_METRICS);
        return -1;
    }
    o->nmetrics_listen = 0;
    for (size_t i = 0; i < cfg->metrics.listen.n; i++)
        o->metrics_listen[o->nmetrics_listen++] = cfg->metrics.listen.v[i].text;
    o->pidfile = nonempty(cfg->pidfile);
    o->user = nonempty(cfg->user);
    o->group = nonempty(cfg->group);
    o->allow_root = cfg->allow_root;
    o->helo_name = nonempty(cfg->downstream.helo_name);
    o->ds_data_timeout_ms = (unsigned)cfg->downstream.data_timeout;
    o->max_header_bytes = cfg->limits.max_header_size;
    o->max_header_fields = (size_t)cfg->limits.max_header_fields;
    o->max_line = cfg->limits.max_line;
    o->max_errors = (unsigned)cfg->limits.max_errors;
    o->no_dsn = !cfg->smtp.offer_dsn;
    o->no_smtputf8 = !cfg->smtp.offer_smtputf8;
    o->no_8bitmime = !cfg->smtp.offer_8bitmime;
    o->unparseable_reject = cfg->on_unparseable == CFG_ON_UNPARSEABLE_REJECT;
    o->cfg = cfg; /* the policy: keys, maps, templates (no key at all: the daemon says so) */
    return 0;
}

/* logging_from_config - logging.destination, .facility and .level in force. */
static void
logging_from_config(const struct arcp_config *cfg)
{
    log_init("arcproxy", cfg->logging.level, cfg->logging.destination == CFG_LOG_SYSLOG,
             config_syslog_facility(cfg));
}

/* reload_load - SIGHUP (proxy_reload): the config file again, fully checked. */
static int
reload_load(void *ctx, struct proxy_opts *o, void **hold, struct err *e)
{
    const char *path = ctx;
    struct arcp_config *cfg = NULL;
    struct config_errors errs;
    config_errors_init(&errs);
    *hold = NULL;
    if (config_load(path, &cfg, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            log_error("SIGHUP: %s", errs.msg[i]);
        return err_set(e, ARC_EINVAL, "%s: %zu problem(s)", path, errs.n + errs.dropped);
    }
    *hold = cfg;
    if (opts_from_config(cfg, o) < 0)
        return err_set(e, ARC_EINVAL, "%s: not usable by the daemon", path);
    return 0;
}

static void
reload_apply(void *ctx, void *hold)
{
    logging_from_config(hold);
}

static void
reload_release(void *ctx, void *hold)
{
    config_free(hold);
}

/* run_config - the daemon on a configuration file (the normal way to run it). */
static int
run_config(const char *path)
{
    struct arcp_config *cfg = NULL;
    struct config_errors errs;
    config_errors_init(&errs);
    if (config_load(path, &cfg, &errs) < 0) {
        for (size_t i = 0; i < errs.n; i++)
            log_error("%s", errs.msg[i]);
        return EX_CONFIG_;
    }
    logging_from_config(cfg);
    struct proxy_opts o;
    const struct proxy_reload reload = {reload_load, reload_apply, reload_release, (void *)path};
    proxy_opts_default(&o);
    o.reload = &reload;
    int rc = EX_CONFIG_;
    if (opts_from_config(cfg, &o) == 0) {
        struct err e;
        err_clear(&e);
        rc = 0;
        if (proxy_run(&o, &e) < 0) {
            log_error("%s", e.text[0] ? e.text : "start-up failed");
            rc = e.code == ARC_EINVAL ? EX_CONFIG_ : CLI_EX_SOFTWARE;
        }
    }
    config_free(cfg);
    return rc;
}

static int
run_daemon(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"downstream", required_argument, NULL, 'D'},
        {"mode", required_argument, NULL, 'm'},
        {"authserv-id", required_argument, NULL, 'a'},
        {"hostname", required_argument, NULL, 'H'},
        {"seal-domain", required_argument, NULL, 'd'},
        {"seal-selector", required_argument, NULL, 's'},
        {"seal-key", required_argument, NULL, 'k'},
        {"dns-zone", required_argument, NULL, 'z'},
        {"spool-dir", required_argument, NULL, 'S'},
        {"xforward-allow", required_argument, NULL, 'x'},
        {"max-sessions", required_argument, NULL, 'n'},
        {"max-msg-size", required_argument, NULL, 'M'},
        {"max-rcpts", required_argument, NULL, 'R'},
        {"cmd-timeout", required_argument, NULL, 1},
        {"data-timeout", required_argument, NULL, 2},
        {"ds-connect-timeout", required_argument, NULL, 3},
        {"ds-timeout", required_argument, NULL, 4},
        {"shutdown-timeout", required_argument, NULL, 5},
        {"on-temperror", required_argument, NULL, 6},
        {"bare-lf", required_argument, NULL, 7},
        {"log-level", required_argument, NULL, 8},
        {NULL, 0, NULL, 0},
    };
    struct proxy_opts o;
    proxy_opts_default(&o);
    const char *config = NULL;
    int nflags = 0, nlisten = 0, nxf = 0, c, idx;
    size_t sz;
    unsigned ms;
    optind = 1;
    for (;;) {
        idx = -1;
        if ((c = getopt_long(argc, argv, "c:", longopts, &idx)) == -1)
            break;
        const char *name = idx >= 0 ? longopts[idx].name : "?";
        if (c != 'c' && c != '?')
            nflags++;
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'l':
            if (nlisten == PROXY_MAX_LISTEN)
                return bad_flag(name, "too many");
            o.listen[nlisten++] = optarg;
            o.nlisten = (size_t)nlisten;
            break;
        case 'D':
            o.downstream = optarg;
            break;
        case 'm':
            if (proxy_parse_mode(optarg, &o.mode) < 0)
                return bad_flag(name, optarg);
            break;
        case 'a':
            o.authserv_id = optarg;
            break;
        case 'H':
            o.hostname = optarg;
            break;
        case 'd':
            o.seal_domain = optarg;
            break;
        case 's':
            o.seal_selector = optarg;
            break;
        case 'k':
            o.seal_key_path = optarg;
            break;
        case 'z':
            o.dns_zone_path = optarg;
            break;
        case 'S':
            o.spool_dir = optarg;
            break;
        case 'x':
            if (nxf == PROXY_MAX_CIDRS)
                return bad_flag(name, "too many");
            o.xforward_allow[nxf++] = optarg; /* the first one replaces the defaults */
            o.nxforward_allow = (size_t)nxf;
            break;
        case 'n':
            if (parse_size(optarg, &sz) < 0 || sz == 0 || sz > 100000)
                return bad_flag(name, optarg);
            o.max_sessions = (unsigned)sz;
            break;
        case 'M':
            if (parse_size(optarg, &o.max_msg_size) < 0)
                return bad_flag(name, optarg);
            break;
        case 'R':
            if (parse_size(optarg, &o.max_rcpts) < 0)
                return bad_flag(name, optarg);
            break;
        case 1:
        case 2:
        case 3:
        case 4:
        case 5:
            if (!(ms = parse_ms(optarg)))
                return bad_flag(name, optarg);
            *(c == 1   ? &o.cmd_timeout_ms
              : c == 2 ? &o.data_timeout_ms
              : c == 3 ? &o.ds_connect_timeout_ms
              : c == 4 ? &o.ds_timeout_ms
                       : &o.shutdown_timeout_ms) = ms;
            break;
        case 6:
            if (strcmp(optarg, "tempfail") == 0)
                o.on_temperror = PROXY_TEMPERROR_TEMPFAIL;
            else if (strcmp(optarg, "pass") == 0)
                o.on_temperror = PROXY_TEMPERROR_PASS;
            else
                return bad_flag(name, optarg);
            break;
        case 7:
            if (strcmp(optarg, "reject") == 0)
                o.bare_lf_accept = 0;
            else if (strcmp(optarg, "accept") == 0)
                o.bare_lf_accept = 1;
            else
                return bad_flag(name, optarg);
            break;
        case 8:
            if (strcmp(optarg, "debug") == 0)
                log_set_level(LOG_LVL_DEBUG);
            else if (strcmp(optarg, "info") == 0)
                log_set_level(LOG_LVL_INFO);
            else if (strcmp(optarg, "warn") == 0)
                log_set_level(LOG_LVL_WARN);
            else if (strcmp(optarg, "error") == 0)
                log_set_level(LOG_LVL_ERROR);
            else
                return bad_flag(name, optarg);
            break;
        default:
            usage(stderr);
            return CLI_EX_USAGE;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return CLI_EX_USAGE;
    }
    if (nflags == 0)
        return run_config(config ? config : "config/arcproxy.yaml");
    if (config) {
        log_error("%s: give either -c FILE or the provisional flags, not both", config);
        return CLI_EX_USAGE;
    }
    struct err e;
    err_clear(&e);
    o.allow_root = 1; /* provisional flags (tests): no user switch, root allowed */
    if (proxy_run(&o, &e) < 0) {
        log_error("%s", e.text[0] ? e.text : "start-up failed");
        return e.code == ARC_EINVAL ? CLI_EX_USAGE : CLI_EX_SOFTWARE;
    }
    return 0;
}
#endif

int
main(int argc, char **argv)
{
    log_init("arcproxy", LOG_LVL_INFO, 0, 0);
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return cli_verify(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "seal") == 0)
        return cli_seal(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
        return cli_keygen(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && argv[1][0] != '-') {
        usage(stderr);
        return CLI_EX_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check-config") == 0 || strcmp(argv[i], "--config-doc") == 0)
            return config_check_main(argc, argv);
    }
#ifdef ARCPROXY_HAVE_DAEMON
    return run_daemon(argc, argv);
#else
    log_error("the SMTP proxy daemon is not built yet (issue 3); the offline "
              "subcommands verify, seal and keygen work");
    return CLI_EX_SOFTWARE;
#endif
}
