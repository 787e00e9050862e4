/* Internal to libws: the few system calls of hub.c, for POSIX systems and
 * Windows. Not installed. */
#ifndef LIBWS_PLATFORM_H
#define LIBWS_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
#include <winsock2.h>

/* The hub's pipe is a connected pair of nonblocking loopback TCP sockets:
 * Windows waits on sockets (select, WSAPoll, libuv), not on pipes. A
 * SOCKET is held in an int, as ws_hub_fd() returns it: Windows keeps
 * handle values within 32 bits so that 32-bit processes can share them. */
int ws__pipe(int p[2]);
static inline long ws__readfd(int fd, void *b, size_t n) { return recv((SOCKET)(intptr_t)fd, (char *)b, (int)n, 0); }
static inline long ws__writefd(int fd, const void *b, size_t n) {
    return send((SOCKET)(intptr_t)fd, (const char *)b, (int)n, 0);
}
static inline void ws__closefd(int fd) { closesocket((SOCKET)(intptr_t)fd); }
/* Waits up to timeout ms (-1: no limit) for fd to be readable. */
static inline int ws__pollin(int fd, int timeout) {
    WSAPOLLFD p = {.fd = (SOCKET)(intptr_t)fd, .events = POLLRDNORM};
    return WSAPoll(&p, 1, timeout);
}
static inline int ws__interrupted(void) { return WSAGetLastError() == WSAEINTR; }
const char *ws__lasterror(void);

#else
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* pipe2 where it exists; macOS has it only from version 27 on, so there
 * the flags are set after pipe(), and a process another thread of the
 * host starts in between may inherit the pipe. */
static inline int ws__pipe(int p[2]) {
#ifdef __APPLE__
    if (pipe(p) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        if (fcntl(p[i], F_SETFD, FD_CLOEXEC) != 0 || fcntl(p[i], F_SETFL, O_NONBLOCK) != 0) {
            close(p[0]);
            close(p[1]);
            return -1;
        }
    }
    return 0;
#else
    return pipe2(p, O_NONBLOCK | O_CLOEXEC);
#endif
}
static inline long ws__readfd(int fd, void *b, size_t n) { return (long)read(fd, b, n); }
static inline long ws__writefd(int fd, const void *b, size_t n) { return (long)write(fd, b, n); }
static inline void ws__closefd(int fd) { close(fd); }
static inline int ws__pollin(int fd, int timeout) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout);
}
static inline int ws__interrupted(void) { return errno == EINTR; }
static inline const char *ws__lasterror(void) { return strerror(errno); }
#endif

#endif
