/* Functions of the C ABI written in plain C: they need no Go state, and a
 * plain C function is far cheaper to call than a Go export (from Node's
 * koffi on the main thread, ~60 ns instead of ~100 us). */
#undef WS_NO_PROTOTYPES
#include "ws.h"
#include "internal.h"

#include <string.h>

#define WS_HIDDEN __attribute__((visibility("hidden")))

const char *ws_version(void) { return WS_VERSION_STRING; }

int ws_version_number(void) { return WS_VERSION_NUMBER; }

const char *ws_strerror(int code) {
    switch (code) {
    case WS_OK: return "success";
    case WS_EINVAL: return "invalid argument";
    case WS_EBADHANDLE: return "invalid or freed handle";
    case WS_ENOMEM: return "out of memory";
    case WS_EPROTO: return "WebSocket protocol violation";
    case WS_EUTF8: return "invalid UTF-8";
    case WS_ETOOBIG: return "frame or message too big";
    case WS_ECLOSED: return "connection closed";
    case WS_ETIMEDOUT: return "timed out";
    case WS_EIO: return "I/O error";
    case WS_EHANDSHAKE: return "opening handshake failed";
    case WS_ETLS: return "TLS error";
    case WS_ENOSPACE: return "buffer too small";
    case WS_EAGAIN: return "nothing ready, try again";
    case WS_EINTERNAL: return "internal error in libws";
    case WS_EPOLICY: return "a limit of the hub was reached";
    case WS_EINTR: return "interrupted by a signal";
    }
    return "unknown error";
}

/* The calling thread's last error message. Static TLS (no malloc) so that
 * nothing leaks when a thread exits. */
static __thread char ws__errbuf[512];

const char *ws_errmsg(void) { return ws__errbuf; }

WS_HIDDEN void ws__set_errmsg(const char *msg, size_t n) {
    if (n >= sizeof ws__errbuf) {
        n = sizeof ws__errbuf - 1;
        /* Do not end in the middle of a UTF-8 sequence. */
        while (n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(ws__errbuf, msg, n);
    ws__errbuf[n] = '\0';
}

WS_HIDDEN void *ws__malloc(size_t n) { return malloc(n ? n : 1); }

WS_HIDDEN const uint8_t ws__empty[1] = {0};
