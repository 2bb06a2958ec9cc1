/* SPDX-License-Identifier: MIT */
/*
 * check - `arcproxy [-c FILE] --check-config` and `arcproxy --config-doc`.
 *
 *   --check-config   load FILE (default config/arcproxy.yaml); if it is valid print the
 *                    effective config (every key) as YAML on stdout and exit 0, otherwise
 *                    print each problem on stderr and exit 78 (EX_CONFIG)
 *   --config-doc     print the key table of docs/configuration.md and exit 0
 *
 * Options may come in any order: -c FILE, -cFILE, --config FILE, --config=FILE.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"

#define EX_USAGE_ 64

static int
usage(void)
{
    fprintf(stderr, "usage: arcproxy [-c FILE] --check-config\n"
                    "       arcproxy --config-doc\n");
    return EX_USAGE_;
}

/* check - load path and report; the exit status of --check-config. */
static int
check(const char *path)
{
    struct config_errors errs;
    struct arcp_config *cfg;
    config_errors_init(&errs);
    if (config_load(path, &cfg, &errs) == 0) {
        config_dump(cfg, stdout);
        config_free(cfg);
        return fflush(stdout) == 0 ? 0 : 74;
    }
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.msg[i]);
    if (errs.dropped)
        fprintf(stderr, "%s: %zu more problems not shown\n", path, errs.dropped);
    fprintf(stderr, "%s: configuration is not valid\n", path);
    return CONFIG_EX_CONFIG;
}

int
config_check_main(int argc, char **argv)
{
    const char *path = CONFIG_DEFAULT_PATH;
    int want_check = 0, want_doc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--check-config") == 0)
            want_check = 1;
        else if (strcmp(a, "--config-doc") == 0)
            want_doc = 1;
        else if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(a, "-c", 2) == 0 && a[2])
            path = a + 2;
        else if (strncmp(a, "--config=", 9) == 0)
            path = a + 9;
        else
            return usage();
    }
    if (want_check == want_doc)
        return usage();
    if (want_doc) {
        config_doc(stdout);
        return fflush(stdout) == 0 ? 0 : 74;
    }
    return check(path);
}
