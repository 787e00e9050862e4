/* The ordering rule end to end (issue 16, defects 1 and 2): the C echo
 * server (examples/c/echo_server.c, inline and threaded hub) echoes the
 * messages that arrived in one TCP segment together with the client's
 * close, or with a frame that breaks the protocol, before its close frame.
 *
 * usage: test_echo_order PATH/TO/echo_server */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed;
static const char *mode = "";
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            passed++;                                                          \
        } else {                                                               \
            failed++;                                                          \
            fprintf(stderr, "FAIL %s:%d [%s]: %s: ", __FILE__, __LINE__, mode, \
                    #cond);                                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

static const char upgrade[] =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/* Starts the server; returns its port and its pid in *pid. */
static int start_server(const char *exe, int threaded, pid_t *pid) {
    int out[2];
    if (pipe(out) != 0) return -1;
    *pid = fork();
    if (*pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl(exe, exe, "0", threaded ? "threaded" : NULL, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[256];
    size_t n = 0;
    while (n + 1 < sizeof line) {
        ssize_t k = read(out[0], line + n, 1);
        if (k <= 0 || line[n] == '\n') break;
        n++;
    }
    line[n] = 0;
    close(out[0]);
    const char *p = strstr(line, "127.0.0.1:");
    return p ? atoi(p + 10) : -1;
}

static int tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int read_full(int fd, uint8_t *buf, size_t len) {
    for (size_t got = 0; got < len;) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    return 0;
}

/* Reads the HTTP head up to its blank line; 0 if it is a 101. */
static int read_101(int fd) {
    char head[1024];
    size_t n = 0;
    while (n + 1 < sizeof head) {
        if (read(fd, head + n, 1) != 1) return -1;
        n++;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0) break;
    }
    head[n] = 0;
    return strncmp(head, "HTTP/1.1 101", 12) == 0 ? 0 : -1;
}

/* Appends a masked client frame (first header byte as given). */
static size_t put_frame(uint8_t *dst, uint8_t first, const void *data, size_t len) {
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    dst[0] = first;
    dst[1] = (uint8_t)(0x80 | len);
    memcpy(dst + 2, key, 4);
    for (size_t i = 0; i < len; i++) dst[6 + i] = ((const uint8_t *)data)[i] ^ key[i & 3];
    return 6 + len;
}

/* Reads a server frame of at most 125 bytes: first header byte, or -1. */
static int read_frame(int fd, uint8_t *payload, size_t *len) {
    uint8_t h[2];
    if (read_full(fd, h, 2) != 0 || (h[1] & 0xFF) > 125) return -1;
    *len = h[1];
    if (read_full(fd, payload, *len) != 0) return -1;
    return h[0];
}

enum { COUNT = 20 };

/* Defect 1: COUNT messages and a close (1000, "bye") in one write, right
 * behind the upgrade request or after the 101. */
static void test_messages_then_close(int port, int pipelined) {
    int fd = tcp_connect(port);
    CHECK(fd >= 0, "connect");
    if (fd < 0) return;
    static uint8_t out[8192];
    size_t len = 0;
    if (pipelined) {
        memcpy(out, upgrade, sizeof upgrade - 1);
        len = sizeof upgrade - 1;
    } else {
        CHECK(write(fd, upgrade, sizeof upgrade - 1) == (ssize_t)(sizeof upgrade - 1), "upgrade");
        CHECK(read_101(fd) == 0, "101");
    }
    char msg[32];
    for (int i = 0; i < COUNT; i++) {
        int n = snprintf(msg, sizeof msg, "message %d", i);
        len += put_frame(out + len, 0x81, msg, (size_t)n);
    }
    uint8_t close_payload[] = {0x03, 0xE8, 'b', 'y', 'e'};
    len += put_frame(out + len, 0x88, close_payload, sizeof close_payload);
    CHECK(write(fd, out, len) == (ssize_t)len, "one write");
    if (pipelined) CHECK(read_101(fd) == 0, "101");
    int echoes = 0;
    uint8_t payload[128];
    size_t plen;
    int first;
    while ((first = read_frame(fd, payload, &plen)) == 0x81) {
        int n = snprintf(msg, sizeof msg, "message %d", echoes);
        CHECK(plen == (size_t)n && memcmp(payload, msg, plen) == 0, "echo %d", echoes);
        echoes++;
    }
    CHECK(echoes == COUNT, "pipelined %d: %d echoes of %d before the close", pipelined, echoes, COUNT);
    CHECK(first == 0x88 && plen >= 2, "pipelined %d: a close frame (got 0x%x)", pipelined, first);
    if (first == 0x88 && plen >= 2) {
        int code = payload[0] << 8 | payload[1];
        CHECK(code == 1000, "close code %d", code);
        CHECK(plen == 5 && memcmp(payload + 2, "bye", 3) == 0, "the reason is echoed: %.*s", (int)plen - 2, payload + 2);
    }
    close(fd);
}

/* Defect 2: a text message, then a frame with RSV1 set (no extension
 * agreed) in one write: the echo first, then the 1002. */
static void test_message_then_violation(int port) {
    int fd = tcp_connect(port);
    CHECK(fd >= 0, "connect");
    if (fd < 0) return;
    CHECK(write(fd, upgrade, sizeof upgrade - 1) == (ssize_t)(sizeof upgrade - 1), "upgrade");
    CHECK(read_101(fd) == 0, "101");
    uint8_t out[64];
    size_t len = put_frame(out, 0x81, "hello", 5);
    len += put_frame(out + len, 0x80 | 0x40 | 0x1, "bad", 3);
    CHECK(write(fd, out, len) == (ssize_t)len, "one write");
    uint8_t payload[128];
    size_t plen;
    int first = read_frame(fd, payload, &plen);
    CHECK(first == 0x81 && plen == 5 && memcmp(payload, "hello", 5) == 0, "the echo first (got 0x%x)", first);
    if (first == 0x81) first = read_frame(fd, payload, &plen);
    CHECK(first == 0x88 && plen >= 2 && (payload[0] << 8 | payload[1]) == 1002, "then the 1002 close (got 0x%x)", first);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PATH/TO/echo_server\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int threaded = 0; threaded <= 1; threaded++) {
        mode = threaded ? "threaded" : "inline";
        pid_t pid;
        int port = start_server(argv[1], threaded, &pid);
        CHECK(port > 0, "server started");
        if (port > 0) {
            /* The loss was a race: several trials each. */
            for (int trial = 0; trial < 10; trial++) {
                test_messages_then_close(port, 0);
                test_messages_then_close(port, 1);
                test_message_then_violation(port);
            }
        }
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    printf("test_echo_order: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
