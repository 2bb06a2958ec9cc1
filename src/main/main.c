/* SPDX-License-Identifier: MIT */
/*
 * main - arcproxy's entry point: dispatch to a subcommand (verify, seal, keygen) or,
 * with no subcommand, run the daemon.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/log.h"

static void
usage(FILE *f)
{
    fprintf(f, "usage: arcproxy verify [--dns-zone FILE] [FILE]\n"
               "       arcproxy seal -d DOMAIN -s SELECTOR -k KEYFILE --authserv-id ID\n"
               "                     [--dns-zone FILE] [--time T] [--headers h1:h2:...]\n"
               "                     [--cv-from-authres] [FILE]\n"
               "       arcproxy keygen -d DOMAIN -s SELECTOR [--bits N] [--type rsa|ed25519]\n"
               "                       [--out DIR]\n"
               "       arcproxy [-c FILE]        run the SMTP proxy (see docs/)\n");
}

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
    log_error("the SMTP proxy daemon is not built yet (issue 3); the offline "
              "subcommands verify, seal and keygen work");
    return CLI_EX_SOFTWARE;
}
