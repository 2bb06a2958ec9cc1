/* SPDX-License-Identifier: MIT */
/*
 * xalloc - allocate or die. Nothing is acknowledged to a peer before it is on disk and
 * per-session caps bound what a peer can make us allocate, so running out of memory is
 * a bug or a dying machine; we log and abort instead of scattering untestable NULL
 * checks. xfree-style helpers accept NULL.
 */
#ifndef ARCPROXY_XALLOC_H
#define ARCPROXY_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
