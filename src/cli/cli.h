/* SPDX-License-Identifier: MIT */
/*
 * cli - the offline subcommands of arcproxy (docs/cli.md): verify, seal, keygen.
 * Each takes argc/argv after the subcommand name and returns the process exit code:
 *   0 pass/none/done, 1 fail/permerror, 75 temperror (EX_TEMPFAIL),
 *   64 usage error (EX_USAGE), 66 unreadable input (EX_NOINPUT), 70 internal (EX_SOFTWARE);
 *   keygen --check: 68 no record published (EX_NOHOST).
 */
#ifndef ARCPROXY_CLI_H
#define ARCPROXY_CLI_H

#define CLI_EX_OK        0
#define CLI_EX_FAIL      1
#define CLI_EX_USAGE     64
#define CLI_EX_DATAERR   65
#define CLI_EX_NOINPUT   66
#define CLI_EX_NOHOST    68
#define CLI_EX_SOFTWARE  70
#define CLI_EX_CANTCREAT 73
#define CLI_EX_TEMPFAIL  75

int cli_verify(int argc, char **argv);
int cli_seal(int argc, char **argv);
int cli_keygen(int argc, char **argv);

#endif
