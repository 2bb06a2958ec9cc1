/* SPDX-License-Identifier: MIT */
/* Temporary: replaced by verify.c, seal.c, keygen.c as the engine lands. */
#include <stdio.h>
#include "cli.h"
int
cli_verify(int argc, char **argv)
{
    fprintf(stderr, "arcproxy: verify: not built yet\n");
    return CLI_EX_SOFTWARE;
}
int
cli_seal(int argc, char **argv)
{
    fprintf(stderr, "arcproxy: seal: not built yet\n");
    return CLI_EX_SOFTWARE;
}
int
cli_keygen(int argc, char **argv)
{
    fprintf(stderr, "arcproxy: keygen: not built yet\n");
    return CLI_EX_SOFTWARE;
}
