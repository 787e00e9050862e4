//go:build windows

/* The Windows half of platform.h. */
#include "platform.h"

#include <stdio.h>
#include <ws2tcpip.h>

/* A socket no child process inherits, or INVALID_SOCKET. */
static SOCKET private_socket(void) {
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s != INVALID_SOCKET) SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    return s;
}

/* Connects two loopback sockets. The accepted one must be the socket we
 * connected (another local process could connect to the listener first). */
int ws__pipe(int p[2]) {
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return -1;
    SOCKET ln = private_socket(), r = INVALID_SOCKET, w = INVALID_SOCKET;
    struct sockaddr_in a = {0}, mine = {0}, peer = {0};
    int alen = sizeof a, mlen = sizeof mine, plen = sizeof peer;
    BOOL excl = TRUE;
    u_long nb = 1;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ln == INVALID_SOCKET) goto fail;
    setsockopt(ln, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&excl, sizeof excl);
    if (bind(ln, (struct sockaddr *)&a, sizeof a) != 0 || listen(ln, 1) != 0) goto fail;
    if (getsockname(ln, (struct sockaddr *)&a, &alen) != 0) goto fail;
    if ((w = private_socket()) == INVALID_SOCKET) goto fail;
    if (connect(w, (struct sockaddr *)&a, sizeof a) != 0) goto fail;
    if (getsockname(w, (struct sockaddr *)&mine, &mlen) != 0) goto fail;
    if ((r = accept(ln, (struct sockaddr *)&peer, &plen)) == INVALID_SOCKET) goto fail;
    SetHandleInformation((HANDLE)r, HANDLE_FLAG_INHERIT, 0);
    if (peer.sin_port != mine.sin_port || peer.sin_addr.s_addr != mine.sin_addr.s_addr) goto fail;
    if (ioctlsocket(r, FIONBIO, &nb) != 0 || ioctlsocket(w, FIONBIO, &nb) != 0) goto fail;
    closesocket(ln);
    p[0] = (int)(intptr_t)r;
    p[1] = (int)(intptr_t)w;
    return 0;
fail:
    if (ln != INVALID_SOCKET) closesocket(ln);
    if (r != INVALID_SOCKET) closesocket(r);
    if (w != INVALID_SOCKET) closesocket(w);
    WSACleanup();
    return -1;
}

const char *ws__lasterror(void) {
    static __thread char buf[48];
    snprintf(buf, sizeof buf, "Windows Sockets error %d", WSAGetLastError());
    return buf;
}
