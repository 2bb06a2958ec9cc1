/* SPDX-License-Identifier: MIT */
/* sysres - blocking TXT lookup for the CLI; see sysres.h. */
#include <ldns/ldns.h>

#include "sysres.h"

int
dns_txt_join(const void *rrp, struct buf *out)
{
    const ldns_rr *rr = rrp;
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
        const uint8_t *d = ldns_rdf_data(rdf);
        size_t n = ldns_rdf_size(rdf);
        if (ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_STR || n < 1 || (size_t)d[0] + 1 > n)
            return -ARC_EINVAL;
        if (buf_append(out, d + 1, d[0]) < 0)
            return -ARC_ERANGE;
    }
    return 0;
}

int
dns_sync_txt(const char *name, struct buf *out, struct err *e)
{
    ldns_resolver *res = NULL;
    if (ldns_resolver_new_frm_file(&res, NULL) != LDNS_STATUS_OK)
        return err_set(e, ARC_ETEMP, "cannot read /etc/resolv.conf");
    ldns_rdf *dname = ldns_dname_new_frm_str(name);
    if (!dname) {
        ldns_resolver_deep_free(res);
        return err_set(e, ARC_EINVAL, "bad DNS name %s", name);
    }
    ldns_resolver_set_timeout(res, (struct timeval){5, 0});
    ldns_resolver_set_retry(res, 2);
    ldns_pkt *pkt = ldns_resolver_query(res, dname, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, LDNS_RD);
    int rc;
    if (!pkt) {
        rc = err_set(e, ARC_ETEMP, "no answer for %s", name);
    } else if (ldns_pkt_get_rcode(pkt) == LDNS_RCODE_NXDOMAIN) {
        rc = 0;
    } else if (ldns_pkt_get_rcode(pkt) != LDNS_RCODE_NOERROR) {
        rc = err_set(e, ARC_ETEMP, "DNS error for %s", name);
    } else {
        ldns_rr_list *txt = ldns_pkt_rr_list_by_type(pkt, LDNS_RR_TYPE_TXT, LDNS_SECTION_ANSWER);
        rc = 0;
        if (txt && ldns_rr_list_rr_count(txt) > 0)
            rc = dns_txt_join(ldns_rr_list_rr(txt, 0), out) < 0 ? 0 : 1;
        ldns_rr_list_deep_free(txt);
    }
    ldns_pkt_free(pkt);
    ldns_rdf_deep_free(dname);
    ldns_resolver_deep_free(res);
    return rc;
}
