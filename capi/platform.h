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
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
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
/* Waits up to timeout ms (-1: no limit) for fd to be readable, with SIGURG
 * blocked: the Go runtime's preemption signal, sent to a thread while it
 * ran Go code, can arrive once it is back in C and must not end the wait
 * (WS_EINTR is for the host's own signals). macOS has no ppoll: there the
 * mask is set around poll(), and a SIGURG pending meanwhile is delivered
 * once the wait is over. */
static inline int ws__pollin(int fd, int timeout) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    sigaddset(&mask, SIGURG);
#ifdef __APPLE__
    sigset_t old;
    pthread_sigmask(SIG_SETMASK, &mask, &old);
    int r = poll(&p, 1, timeout);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return r;
#else
    struct timespec ts = {.tv_sec = timeout / 1000, .tv_nsec = (long)(timeout % 1000) * 1000000};
    return ppoll(&p, 1, timeout < 0 ? NULL : &ts, &mask);
#endif
}
static inline int ws__interrupted(void) { return errno == EINTR; }
static inline const char *ws__lasterror(void) { return strerror(errno); }
#endif

#endif
