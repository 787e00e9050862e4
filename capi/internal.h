/* Private declarations shared by capi's Go files and cfuncs.c. Not
 * installed; the public contract is include/ws.h. */
#ifndef WS_CAPI_INTERNAL_H
#define WS_CAPI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Record msg[0..n) as the calling thread's ws_errmsg(). */
extern void ws__set_errmsg(const char *msg, size_t n);

/* malloc that may return NULL (cgo's C.malloc aborts instead). */
extern void *ws__malloc(size_t n);

/* A byte that borrowed empty payloads point at, so data is never NULL. */
extern const uint8_t ws__empty[1];

#endif
