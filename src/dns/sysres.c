/* SPDX-License-Identifier: MIT */
/* sysres - blocking TXT lookup through the system resolvers; see sysres.h. */
#include "resolver.h"
#include "sysres.h"

int
dns_sync_txt(const char *name, struct buf *out, struct err *e)
{
    struct dns_res_opts o;
    dns_res_opts_default(&o);
    return dns_txt_sync(&o, name, out, e);
}
