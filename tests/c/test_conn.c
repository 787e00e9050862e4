/* Listeners and connections: in-process pairs, raw sockets for broken
 * peers, TLS, threads. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char data_dir[512];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *data_file(const char *name) {
    static char path[4][600];
    static int i;
    i = (i + 1) % 4;
    snprintf(path[i], sizeof path[i], "%s/%s", data_dir, name);
    return path[i];
}

static ws_listener_t *listen_on(const ws_options_t *o, char *url, size_t urlcap, const char *scheme) {
    ws_listener_t *l = NULL;
    REQUIRE(ws_listen(&l, "127.0.0.1", 0, o) == WS_OK);
    int port = ws_listener_port(l);
    REQUIRE(port > 0);
    if (url)
        snprintf(url, urlcap, "%s://127.0.0.1:%d/", scheme, port);
    return l;
}

/* Connect a client and accept its server side. */
static void pair(ws_listener_t *l, const char *url, const ws_options_t *copts, ws_conn_t **client,
                 ws_conn_t **server) {
    *client = *server = NULL;
    REQUIRE(ws_connect(client, url, copts) == WS_OK);
    REQUIRE(ws_accept(l, server, 5000) == WS_OK);
}

/* ---- an echo loop on a thread ---- */
struct echo {
    ws_conn_t *c;
    int rc, code, known, count;
    char reason[124];
    pthread_t t;
};

static void *echo_main(void *arg) {
    struct echo *e = arg;
    ws_frame_t m;
    while ((e->rc = ws_read_message(e->c, &m)) == WS_OK) {
        e->count++;
        if (ws_write_message(e->c, m.opcode, m.data, m.len) != WS_OK)
            break;
    }
    e->known = ws_close_status(e->c, &e->code, e->reason, sizeof e->reason);
    return NULL;
}

static void echo_start(struct echo *e, ws_conn_t *c) {
    memset(e, 0, sizeof *e);
    e->c = c;
    REQUIRE(pthread_create(&e->t, NULL, echo_main, e) == 0);
}

static void echo_join(struct echo *e) {
    pthread_join(e->t, NULL);
    ws_conn_free(e->c);
}

/* ---- raw sockets ---- */
static int tcp_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int tcp_listen(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int write_all(int fd, const void *p, size_t n) {
    const char *b = p;
    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Read an HTTP head (up to the blank line) into buf. */
static int read_head(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t k = recv(fd, buf + n, 1, 0);
        if (k <= 0)
            break;
        n++;
        buf[n] = '\0';
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            return (int)n;
    }
    buf[n] = '\0';
    return -1;
}

static const char upgrade_request[] =
    "GET /chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/* A raw client that completed the opening handshake; the response head is
 * left in head. */
static int raw_ws_client(int port, char *head, size_t cap) {
    int fd = tcp_connect(port);
    if (fd < 0)
        return -1;
    if (write_all(fd, upgrade_request, sizeof upgrade_request - 1) != 0 || read_head(fd, head, cap) < 0 ||
        strncmp(head, "HTTP/1.1 101", 12) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ======================================================================== */

static void test_listen_args(void) {
    ws_listener_t *l = NULL;
    CHECK_EQ(ws_listen(NULL, "127.0.0.1", 0, NULL), WS_EINVAL);
    CHECK_EQ(ws_listen(&l, "127.0.0.1", -1, NULL), WS_EINVAL);
    CHECK_EQ(ws_listen(&l, "127.0.0.1", 65536, NULL), WS_EINVAL);
    CHECK(l == NULL);
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_str(o, WS_OPT_TLS_CERT_FILE, data_file("server.pem"));
    CHECK_EQ(ws_listen(&l, "127.0.0.1", 0, o), WS_EINVAL); /* no key */
    ws_options_set_str(o, WS_OPT_TLS_KEY_FILE, data_file("missing.key"));
    CHECK_EQ(ws_listen(&l, "127.0.0.1", 0, o), WS_ETLS);
    CHECK(strstr(ws_errmsg(), "missing.key") != NULL);
    ws_options_free(o);
    /* Address in use */
    ws_listener_t *a = listen_on(NULL, NULL, 0, "ws");
    CHECK_EQ(ws_listen(&l, "127.0.0.1", ws_listener_port(a), NULL), WS_EIO);
    CHECK(l == NULL);
    ws_listener_free(a);
    /* Unresolvable host */
    CHECK(ws_listen(&l, "no-such-host.invalid", 0, NULL) < 0);
    /* All interfaces */
    CHECK_EQ(ws_listen(&l, NULL, 0, NULL), WS_OK);
    CHECK(ws_listener_port(l) > 0);
    ws_listener_free(l);
}

static void test_accept_timeouts(void) {
    ws_listener_t *l = listen_on(NULL, NULL, 0, "ws");
    ws_conn_t *c = BOGUS(ws_conn_t);
    CHECK_EQ(ws_accept(l, &c, 0), WS_EAGAIN);
    CHECK(c == NULL);
    CHECK(strlen(ws_listener_errmsg(l)) > 0);
    double t0 = now();
    CHECK_EQ(ws_accept(l, &c, 60), WS_ETIMEDOUT);
    double dt = now() - t0;
    CHECK(dt >= 0.05 && dt < 2);
    CHECK_EQ(ws_accept(l, &c, -2), WS_EINVAL);
    CHECK_EQ(ws_accept(l, NULL, 0), WS_EINVAL);
    ws_listener_free(l);
}

static void test_echo(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    CHECK_STR(ws_conn_subprotocol(c), "");
    CHECK_STR(ws_conn_subprotocol(s), "");
    CHECK_STR(ws_conn_errmsg(c), "");
    struct echo e;
    echo_start(&e, s);
    ws_frame_t m;
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, (const uint8_t *)"h\xc3\xa9llo", 6), WS_OK);
    CHECK_EQ(ws_read_message(c, &m), WS_OK);
    CHECK_EQ(m.opcode, WS_OP_TEXT);
    CHECK_EQ(m.fin, 1);
    CHECK_MEM(m.data, m.len, "h\xc3\xa9llo", 6);
    CHECK_EQ(ws_write_message(c, WS_OP_BINARY, (const uint8_t *)"\0\1\2", 3), WS_OK);
    CHECK_EQ(ws_read_message(c, &m), WS_OK);
    CHECK_EQ(m.opcode, WS_OP_BINARY);
    CHECK_MEM(m.data, m.len, "\0\1\2", 3);
    CHECK_EQ(ws_write_message(c, WS_OP_BINARY, NULL, 0), WS_OK);
    CHECK_EQ(ws_read_message(c, &m), WS_OK);
    CHECK_EQ(m.len, 0);
    CHECK(m.data != NULL);
    /* 4 MiB, bigger than any socket buffer */
    size_t big = 4 << 20;
    uint8_t *buf = malloc(big);
    REQUIRE(buf != NULL);
    for (size_t i = 0; i < big; i++)
        buf[i] = (uint8_t)(i * 13 + 1);
    CHECK_EQ(ws_write_message(c, WS_OP_BINARY, buf, big), WS_OK);
    CHECK_EQ(ws_read_message(c, &m), WS_OK);
    CHECK_MEM(m.data, m.len, buf, big);
    free(buf);
    /* Invalid writes */
    CHECK_EQ(ws_write_message(c, WS_OP_PING, (const uint8_t *)"x", 1), WS_EINVAL);
    CHECK_EQ(ws_write_message(c, WS_OP_CONTINUATION, (const uint8_t *)"x", 1), WS_EINVAL);
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, NULL, 1), WS_EINVAL);
    CHECK_EQ(ws_write_frame(c, WS_OP_CLOSE, 1, (const uint8_t *)"\x03\xe8", 2), WS_EINVAL);
    CHECK_EQ(ws_write_frame(c, 11, 1, (const uint8_t *)"x", 1), WS_EINVAL);
    CHECK_EQ(ws_read_message(c, NULL), WS_EINVAL);
    CHECK_EQ(ws_read_frame(c, NULL), WS_EINVAL);
    CHECK(strlen(ws_conn_errmsg(c)) > 0);
    CHECK_EQ(ws_close(c, WS_CLOSE_NORMAL, "done"), WS_OK);
    echo_join(&e);
    CHECK_EQ(e.rc, WS_ECLOSED);
    CHECK_EQ(e.count, 4);
    CHECK_EQ(e.known, 1);
    CHECK_EQ(e.code, 1000);
    CHECK_STR(e.reason, "done");
    ws_conn_free(c);
    ws_listener_free(l);
}

static void test_frames_and_control(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    ws_frame_t f;
    CHECK_EQ(ws_write_frame(c, WS_OP_TEXT, 0, (const uint8_t *)"Hel", 3), WS_OK);
    CHECK_EQ(ws_ping(c, (const uint8_t *)"abc", 3), WS_OK);
    CHECK_EQ(ws_write_frame(c, WS_OP_CONTINUATION, 1, (const uint8_t *)"lo", 2), WS_OK);
    CHECK_EQ(ws_read_frame(s, &f), WS_OK);
    CHECK(f.opcode == WS_OP_TEXT && f.fin == 0);
    CHECK_MEM(f.data, f.len, "Hel", 3);
    CHECK_EQ(ws_read_frame(s, &f), WS_OK);
    CHECK_EQ(f.opcode, WS_OP_PING);
    CHECK_MEM(f.data, f.len, "abc", 3);
    CHECK_EQ(ws_read_frame(s, &f), WS_OK);
    CHECK(f.opcode == WS_OP_CONTINUATION && f.fin == 1);
    CHECK_MEM(f.data, f.len, "lo", 2);
    /* The automatic pong reached the client */
    CHECK_EQ(ws_read_frame(c, &f), WS_OK);
    CHECK_EQ(f.opcode, WS_OP_PONG);
    CHECK_MEM(f.data, f.len, "abc", 3);
    /* Fragments joined by ws_read_message; pings skipped */
    CHECK_EQ(ws_write_frame(c, WS_OP_BINARY, 0, (const uint8_t *)"ab", 2), WS_OK);
    CHECK_EQ(ws_ping(c, NULL, 0), WS_OK);
    CHECK_EQ(ws_pong(c, (const uint8_t *)"unsolicited", 11), WS_OK);
    CHECK_EQ(ws_write_frame(c, WS_OP_CONTINUATION, 0, (const uint8_t *)"cd", 2), WS_OK);
    CHECK_EQ(ws_write_frame(c, WS_OP_CONTINUATION, 1, (const uint8_t *)"ef", 2), WS_OK);
    CHECK_EQ(ws_read_message(s, &f), WS_OK);
    CHECK_EQ(f.opcode, WS_OP_BINARY);
    CHECK_MEM(f.data, f.len, "abcdef", 6);
    /* Server to client too */
    CHECK_EQ(ws_write_message(s, WS_OP_TEXT, (const uint8_t *)"down", 4), WS_OK);
    CHECK_EQ(ws_read_message(c, &f), WS_OK);
    CHECK_MEM(f.data, f.len, "down", 4);
    /* Control frame limits */
    uint8_t big[126] = {0};
    CHECK_EQ(ws_ping(c, big, 126), WS_EINVAL);
    CHECK_EQ(ws_pong(c, big, 126), WS_EINVAL);
    CHECK_EQ(ws_ping(c, NULL, 1), WS_EINVAL);
    CHECK_EQ(ws_write_frame(c, WS_OP_PING, 0, big, 1), WS_EINVAL);
    CHECK_EQ(ws_ping(c, big, 125), WS_OK);
    ws_conn_free(c);
    ws_conn_free(s);
    ws_listener_free(l);
}

static void test_read_into(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    uint8_t msg[100];
    for (int i = 0; i < 100; i++)
        msg[i] = (uint8_t)i;
    CHECK_EQ(ws_write_message(s, WS_OP_BINARY, msg, sizeof msg), WS_OK);
    CHECK_EQ(ws_write_message(s, WS_OP_TEXT, (const uint8_t *)"next", 4), WS_OK);
    uint8_t buf[128];
    size_t len = 0;
    int op = -1;
    CHECK_EQ(ws_read_message_into(c, &op, buf, 10, &len), WS_ENOSPACE);
    CHECK_EQ(len, 100);
    CHECK_EQ(op, -1);
    CHECK_EQ(ws_read_message_into(c, &op, NULL, 0, &len), WS_ENOSPACE); /* size query, still kept */
    CHECK_EQ(len, 100);
    CHECK_EQ(ws_read_message_into(c, &op, buf, sizeof buf, &len), WS_OK);
    CHECK_EQ(op, WS_OP_BINARY);
    CHECK_MEM(buf, len, msg, sizeof msg);
    CHECK_EQ(ws_read_message_into(c, NULL, buf, sizeof buf, &len), WS_OK);
    CHECK_MEM(buf, len, "next", 4);
    CHECK_EQ(ws_read_message_into(c, &op, buf, sizeof buf, NULL), WS_EINVAL);
    CHECK_EQ(ws_read_message_into(c, &op, NULL, 5, &len), WS_EINVAL);
    /* A kept message is also what ws_read_message returns next */
    CHECK_EQ(ws_write_message(s, WS_OP_TEXT, (const uint8_t *)"kept", 4), WS_OK);
    CHECK_EQ(ws_read_message_into(c, &op, buf, 2, &len), WS_ENOSPACE);
    ws_frame_t f;
    CHECK_EQ(ws_read_message(c, &f), WS_OK);
    CHECK_MEM(f.data, f.len, "kept", 4);
    ws_conn_free(c);
    ws_conn_free(s);
    ws_listener_free(l);
}

struct reader {
    ws_conn_t *c;
    int rc, known, code;
    char reason[124];
    pthread_t t;
};

static void *reader_main(void *arg) {
    struct reader *r = arg;
    ws_frame_t f;
    while ((r->rc = ws_read_message(r->c, &f)) == WS_OK) {
    }
    r->known = ws_close_status(r->c, &r->code, r->reason, sizeof r->reason);
    return NULL;
}

struct closer {
    ws_conn_t *c;
    int rc;
    pthread_t t;
};

static void *closer_main(void *arg) {
    struct closer *k = arg;
    k->rc = ws_close(k->c, 0, NULL);
    return NULL;
}

static void test_close(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    /* Bad close arguments first */
    CHECK_EQ(ws_close(c, 1005, NULL), WS_EINVAL);
    CHECK_EQ(ws_close(c, 1015, NULL), WS_EINVAL);
    CHECK_EQ(ws_close(c, 0, "no code"), WS_EINVAL);
    CHECK_EQ(ws_close(c, 1000, "\xc0\x80"), WS_EINVAL);
    int code = -1;
    char reason[124] = "x";
    CHECK_EQ(ws_close_status(c, &code, reason, sizeof reason), 0);
    CHECK_EQ(code, 0);
    CHECK_STR(reason, "");

    /* Client-initiated: the server's reader sees ECLOSED with the code */
    struct reader r = {.c = s};
    REQUIRE(pthread_create(&r.t, NULL, reader_main, &r) == 0);
    CHECK_EQ(ws_close(c, 4001, "client bye"), WS_OK);
    pthread_join(r.t, NULL);
    CHECK_EQ(r.rc, WS_ECLOSED);
    CHECK_EQ(r.known, 1);
    CHECK_EQ(r.code, 4001);
    CHECK_STR(r.reason, "client bye");
    CHECK_EQ(ws_close_status(c, &code, reason, sizeof reason), 1);
    CHECK_EQ(code, 4001); /* the automatic reply echoes the code */
    /* Double close, reads and writes after close */
    CHECK_EQ(ws_close(c, 1000, NULL), WS_ECLOSED);
    CHECK_EQ(ws_close(s, 1000, NULL), WS_ECLOSED);
    ws_frame_t f;
    CHECK_EQ(ws_read_message(c, &f), WS_ECLOSED);
    CHECK_EQ(ws_read_frame(s, &f), WS_ECLOSED);
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, (const uint8_t *)"x", 1), WS_ECLOSED);
    CHECK_EQ(ws_write_message(s, WS_OP_TEXT, (const uint8_t *)"x", 1), WS_ECLOSED);
    CHECK_EQ(ws_ping(c, NULL, 0), WS_ECLOSED);
    ws_conn_free(c);
    ws_conn_free(s);

    /* Server-initiated, with a raw read of the close frame on the client */
    pair(l, url, NULL, &c, &s);
    struct reader r2 = {.c = c};
    REQUIRE(pthread_create(&r2.t, NULL, reader_main, &r2) == 0);
    CHECK_EQ(ws_close(s, WS_CLOSE_GOING_AWAY, "server bye"), WS_OK);
    pthread_join(r2.t, NULL);
    CHECK_EQ(r2.rc, WS_ECLOSED);
    CHECK_EQ(r2.code, 1001);
    CHECK_STR(r2.reason, "server bye");
    CHECK_EQ(ws_close_status(s, &code, NULL, 0), 1);
    CHECK_EQ(code, 1001);
    ws_conn_free(c);
    ws_conn_free(s);

    /* ws_read_frame shows the close frame itself, then WS_ECLOSED */
    pair(l, url, NULL, &c, &s);
    struct closer k = {.c = s};
    REQUIRE(pthread_create(&k.t, NULL, closer_main, &k) == 0);
    CHECK_EQ(ws_read_frame(c, &f), WS_OK);
    CHECK_EQ(f.opcode, WS_OP_CLOSE);
    CHECK_EQ(f.len, 0);
    CHECK_EQ(ws_read_frame(c, &f), WS_ECLOSED);
    CHECK_EQ(ws_close_status(c, &code, reason, sizeof reason), 1);
    CHECK_EQ(code, WS_CLOSE_NO_STATUS);
    pthread_join(k.t, NULL);
    CHECK_EQ(k.rc, WS_OK);
    ws_conn_free(c);
    ws_conn_free(s);
    ws_listener_free(l);
}

static void test_close_peer_silent(void) {
    /* The peer never answers the close: ws_close gives up after the timeout. */
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_int(o, WS_OPT_CLOSE_TIMEOUT_MS, 200);
    ws_listener_t *l = listen_on(o, NULL, 0, "ws");
    ws_options_free(o);
    char head[1024];
    int fd = raw_ws_client(ws_listener_port(l), head, sizeof head);
    REQUIRE(fd >= 0);
    ws_conn_t *s;
    REQUIRE(ws_accept(l, &s, 5000) == WS_OK);
    double t0 = now();
    CHECK_EQ(ws_close(s, 1000, NULL), WS_OK);
    double dt = now() - t0;
    CHECK(dt >= 0.15 && dt < 3);
    /* The raw client got a close frame 1000 */
    uint8_t got[8];
    CHECK_EQ(recv(fd, got, 4, MSG_WAITALL), 4);
    CHECK_MEM(got, 4, "\x88\x02\x03\xe8", 4);
    close(fd);
    ws_conn_free(s);
    ws_listener_free(l);
}

static void test_too_big(void) {
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_int(o, WS_OPT_MAX_MESSAGE_SIZE, 1024);
    char url[64];
    ws_listener_t *l = listen_on(o, url, sizeof url, "ws");
    ws_options_free(o);
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    struct echo e;
    echo_start(&e, s);
    uint8_t buf[2000] = {0};
    CHECK_EQ(ws_write_message(c, WS_OP_BINARY, buf, 1024), WS_OK); /* at the limit */
    ws_frame_t f;
    CHECK_EQ(ws_read_message(c, &f), WS_OK);
    CHECK_EQ(f.len, 1024);
    CHECK_EQ(ws_write_message(c, WS_OP_BINARY, buf, sizeof buf), WS_OK);
    CHECK_EQ(ws_read_message(c, &f), WS_ECLOSED);
    int code;
    CHECK_EQ(ws_close_status(c, &code, NULL, 0), 1);
    CHECK_EQ(code, WS_CLOSE_MESSAGE_TOO_BIG);
    echo_join(&e);
    CHECK_EQ(e.rc, WS_ETOOBIG);
    ws_conn_free(c);
    ws_listener_free(l);
}

static void test_invalid_utf8(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    struct echo e;
    echo_start(&e, s);
    /* Text is not validated on sending: the peer catches it. */
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, (const uint8_t *)"ok\xed\xa0\x80", 5), WS_OK);
    ws_frame_t f;
    CHECK_EQ(ws_read_message(c, &f), WS_ECLOSED);
    int code;
    CHECK_EQ(ws_close_status(c, &code, NULL, 0), 1);
    CHECK_EQ(code, WS_CLOSE_INVALID_PAYLOAD);
    echo_join(&e);
    CHECK_EQ(e.rc, WS_EUTF8);
    ws_conn_free(c);
    ws_listener_free(l);
}

static void test_peer_vanishes(void) {
    ws_listener_t *l = listen_on(NULL, NULL, 0, "ws");
    char head[1024];
    int fd = raw_ws_client(ws_listener_port(l), head, sizeof head);
    REQUIRE(fd >= 0);
    CHECK(strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != NULL);
    ws_conn_t *s;
    REQUIRE(ws_accept(l, &s, 5000) == WS_OK);
    /* A masked binary frame announcing 100 bytes, 10 sent, then gone */
    uint8_t partial[2 + 4 + 10] = {0x82, 0x80 | 100, 1, 2, 3, 4};
    CHECK_EQ(write_all(fd, partial, sizeof partial), 0);
    msleep(20);
    close(fd);
    ws_frame_t f;
    CHECK_EQ(ws_read_message(s, &f), WS_ECLOSED);
    int code;
    CHECK_EQ(ws_close_status(s, &code, NULL, 0), 1);
    CHECK_EQ(code, WS_CLOSE_ABNORMAL);
    CHECK_EQ(ws_read_message(s, &f), WS_ECLOSED);
    /* Writing to the vanished peer fails; no SIGPIPE kills the process */
    static uint8_t chunk[1 << 16];
    int rc = WS_OK;
    for (int i = 0; i < 200 && rc == WS_OK; i++)
        rc = ws_write_message(s, WS_OP_BINARY, chunk, sizeof chunk);
    CHECK(rc == WS_EIO || rc == WS_ECLOSED);
    ws_conn_free(s);
    ws_listener_free(l);
}

/* Defect 10: a write after the peer dropped fails. Once a read saw the
 * drop, the very next write fails; without a read, the write the kernel
 * took before the peer's reset came back cannot know, but the next one,
 * once the reset arrived, fails (and every later one). */
static void test_write_after_peer_drop(void) {
    ws_listener_t *l = listen_on(NULL, NULL, 0, "ws");
    char head[1024];
    static const uint8_t msg[] = "hello";
    for (int seen_by_read = 1; seen_by_read >= 0; seen_by_read--) {
        int fd = raw_ws_client(ws_listener_port(l), head, sizeof head);
        REQUIRE(fd >= 0);
        ws_conn_t *s;
        REQUIRE(ws_accept(l, &s, 5000) == WS_OK);
        close(fd);
        int rc;
        if (seen_by_read) {
            ws_frame_t f;
            CHECK_EQ(ws_read_message(s, &f), WS_ECLOSED);
            rc = ws_write_message(s, WS_OP_TEXT, msg, 5);
            CHECK(rc == WS_ECLOSED || rc == WS_EIO);
        } else {
            msleep(50); /* the FIN is in */
            rc = ws_write_message(s, WS_OP_TEXT, msg, 5); /* may be taken by the kernel */
            msleep(50); /* the peer's reset to it is in */
            rc = ws_write_message(s, WS_OP_TEXT, msg, 5);
            CHECK(rc == WS_ECLOSED || rc == WS_EIO);
        }
        CHECK(strlen(ws_errmsg()) > 0);
        rc = ws_write_frame(s, WS_OP_BINARY, 1, msg, 5);
        CHECK(rc == WS_ECLOSED || rc == WS_EIO);
        rc = ws_ping(s, NULL, 0);
        CHECK(rc == WS_ECLOSED || rc == WS_EIO);
        ws_conn_free(s);
    }
    ws_listener_free(l);
}

static void test_refused_handshake(void) {
    char url[64];
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_str(o, WS_OPT_HEADERS, "X-Server: libws-test\r\n");
    ws_listener_t *l = listen_on(o, url, sizeof url, "ws");
    ws_options_free(o);
    int port = ws_listener_port(l);
    /* Plain HTTP: refused with 426, and the listener goes on */
    int fd = tcp_connect(port);
    REQUIRE(fd >= 0);
    static const char plain[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    write_all(fd, plain, sizeof plain - 1);
    char head[2048];
    read_head(fd, head, sizeof head);
    CHECK(strncmp(head, "HTTP/1.1 426", 12) == 0);
    close(fd);
    /* Garbage, and a client that connects and says nothing then leaves */
    fd = tcp_connect(port);
    static const char garbage[] = "\x16\x03\x01garbage\r\n\r\n";
    write_all(fd, garbage, sizeof garbage - 1);
    read_head(fd, head, sizeof head);
    CHECK(strncmp(head, "HTTP/1.1 4", 10) == 0);
    close(fd);
    fd = tcp_connect(port);
    close(fd);
    ws_conn_t *c = NULL;
    CHECK_EQ(ws_accept(l, &c, 100), WS_ETIMEDOUT);
    /* Extra response headers from WS_OPT_HEADERS */
    fd = raw_ws_client(port, head, sizeof head);
    CHECK(fd >= 0);
    CHECK(strstr(head, "X-Server: libws-test\r\n") != NULL);
    CHECK_EQ(ws_accept(l, &c, 5000), WS_OK);
    ws_conn_free(c);
    close(fd);
    /* A real client still gets through */
    ws_conn_t *s;
    pair(l, url, NULL, &c, &s);
    ws_conn_free(c);
    ws_conn_free(s);
    ws_listener_free(l);
}

struct connector {
    char url[128];
    ws_options_t *o;
    ws_conn_t *c;
    int rc;
    pthread_t t;
};

static void *connector_main(void *arg) {
    struct connector *k = arg;
    k->rc = ws_connect(&k->c, k->url, k->o);
    return NULL;
}

static void test_adopt_fd(void) {
    int port;
    int lfd = tcp_listen(&port);
    REQUIRE(lfd >= 0);
    struct connector k = {.o = NULL};
    snprintf(k.url, sizeof k.url, "ws://127.0.0.1:%d/", port);
    REQUIRE(pthread_create(&k.t, NULL, connector_main, &k) == 0);
    int fd = accept(lfd, NULL, NULL);
    REQUIRE(fd >= 0);
    ws_conn_t *s = NULL;
    CHECK_EQ(ws_adopt_fd(&s, fd, NULL), WS_OK);
    pthread_join(k.t, NULL);
    REQUIRE(k.rc == WS_OK);
    /* libws took the fd: the number is closed (libws works on a duplicate) */
    CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
    struct echo e;
    echo_start(&e, s);
    ws_frame_t f;
    CHECK_EQ(ws_write_message(k.c, WS_OP_TEXT, (const uint8_t *)"adopted", 7), WS_OK);
    CHECK_EQ(ws_read_message(k.c, &f), WS_OK);
    CHECK_MEM(f.data, f.len, "adopted", 7);
    CHECK_EQ(ws_close(k.c, 1000, NULL), WS_OK);
    echo_join(&e);
    ws_conn_free(k.c);

    /* A client that is refused: the fd is still taken */
    int cfd = tcp_connect(port);
    fd = accept(lfd, NULL, NULL);
    write_all(cfd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    s = NULL;
    CHECK_EQ(ws_adopt_fd(&s, fd, NULL), WS_EHANDSHAKE);
    CHECK(s == NULL);
    CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
    char head[1024];
    read_head(cfd, head, sizeof head);
    CHECK(strncmp(head, "HTTP/1.1 426", 12) == 0);
    close(cfd);

    /* Handshake timeout */
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_int(o, WS_OPT_TIMEOUT_MS, 100);
    cfd = tcp_connect(port);
    fd = accept(lfd, NULL, NULL);
    CHECK_EQ(ws_adopt_fd(&s, fd, o), WS_ETIMEDOUT);
    close(cfd);
    ws_options_free(o);

    /* Not a socket, a bad fd, NULL out */
    int p[2];
    REQUIRE(pipe(p) == 0);
    CHECK_EQ(ws_adopt_fd(&s, p[0], NULL), WS_EINVAL);
    CHECK(fcntl(p[0], F_GETFD) == -1 && errno == EBADF); /* taken all the same */
    close(p[1]);
    CHECK_EQ(ws_adopt_fd(&s, -1, NULL), WS_EINVAL);
    CHECK_EQ(ws_adopt_fd(NULL, 0, NULL), WS_EINVAL);
    close(lfd);
}

static void test_subprotocols_and_origin(void) {
    ws_options_t *so, *co;
    REQUIRE(ws_options_new(&so) == WS_OK && ws_options_new(&co) == WS_OK);
    ws_options_set_str(so, WS_OPT_SUBPROTOCOLS, "chat, superchat");
    ws_options_set_str(so, WS_OPT_ORIGIN, "http://good.example, https://also.example");
    char url[64];
    ws_listener_t *l = listen_on(so, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    ws_options_set_str(co, WS_OPT_SUBPROTOCOLS, "superchat,chat");
    pair(l, url, co, &c, &s);
    CHECK_STR(ws_conn_subprotocol(c), "chat"); /* the server's preference wins */
    CHECK_STR(ws_conn_subprotocol(s), "chat");
    ws_conn_free(c);
    ws_conn_free(s);
    ws_options_set_str(co, WS_OPT_SUBPROTOCOLS, "other");
    pair(l, url, co, &c, &s);
    CHECK_STR(ws_conn_subprotocol(c), "");
    ws_conn_free(c);
    ws_conn_free(s);
    /* Origins */
    ws_options_set_str(co, WS_OPT_ORIGIN, "http://evil.example");
    c = NULL;
    CHECK_EQ(ws_connect(&c, url, co), WS_EHANDSHAKE);
    CHECK(c == NULL);
    CHECK(strstr(ws_errmsg(), "403") != NULL);
    ws_options_set_str(co, WS_OPT_ORIGIN, "HTTPS://ALSO.EXAMPLE");
    pair(l, url, co, &c, &s);
    ws_conn_free(c);
    ws_conn_free(s);
    ws_options_free(so);
    ws_options_free(co);
    ws_listener_free(l);
}

/* A raw server thread that records the client's request and answers 101. */
struct raw_server {
    int lfd, plain_http;
    char request[4096];
    pthread_t t;
};

static void *raw_server_main(void *arg) {
    struct raw_server *r = arg;
    int fd = accept(r->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    if (r->plain_http) { /* answer before reading anything, then hang up */
        static const char resp[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        write_all(fd, resp, sizeof resp - 1);
        close(fd);
        return NULL;
    }
    read_head(fd, r->request, sizeof r->request);
    const char *k = strstr(r->request, "Sec-WebSocket-Key: ");
    char key[64] = {0}, accept_value[29];
    if (k)
        sscanf(k + 19, "%63[^\r]", key);
    ws_accept_key(key, accept_value);
    char resp[512];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: b\r\n\r\n\x81\x02hi",
                     accept_value);
    write_all(fd, resp, (size_t)n);
    char sink[64];
    while (recv(fd, sink, sizeof sink, 0) > 0) {
    }
    close(fd);
    return NULL;
}

static void test_client_request(void) {
    int port;
    struct raw_server r = {.lfd = tcp_listen(&port)};
    REQUIRE(r.lfd >= 0);
    REQUIRE(pthread_create(&r.t, NULL, raw_server_main, &r) == 0);
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_str(o, WS_OPT_HEADERS, "X-Custom: yes\r\nAuthorization: Bearer t0k3n\r\n");
    ws_options_set_str(o, WS_OPT_SUBPROTOCOLS, "a, b");
    ws_options_set_str(o, WS_OPT_ORIGIN, "http://o.example");
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/path?q=1", port);
    ws_conn_t *c;
    REQUIRE(ws_connect(&c, url, o) == WS_OK);
    ws_options_free(o);
    CHECK(strncmp(r.request, "GET /path?q=1 HTTP/1.1\r\n", 24) == 0);
    CHECK(strstr(r.request, "X-Custom: yes\r\n") != NULL);
    CHECK(strstr(r.request, "Authorization: Bearer t0k3n\r\n") != NULL);
    CHECK(strstr(r.request, "Origin: http://o.example\r\n") != NULL);
    CHECK(strstr(r.request, "Sec-WebSocket-Protocol: a, b\r\n") != NULL);
    CHECK_STR(ws_conn_subprotocol(c), "b");
    /* Bytes the server sent right behind its 101 are the first message */
    ws_frame_t f;
    CHECK_EQ(ws_read_message(c, &f), WS_OK);
    CHECK_MEM(f.data, f.len, "hi", 2);
    ws_conn_free(c);
    pthread_join(r.t, NULL);
    close(r.lfd);
}

static void test_connect_errors(void) {
    ws_conn_t *c = NULL;
    CHECK_EQ(ws_connect(NULL, "ws://127.0.0.1:1/", NULL), WS_EINVAL);
    CHECK_EQ(ws_connect(&c, NULL, NULL), WS_EINVAL);
    CHECK_EQ(ws_connect(&c, "http://127.0.0.1/", NULL), WS_EINVAL);
    CHECK_EQ(ws_connect(&c, "ws://", NULL), WS_EINVAL);
    CHECK_EQ(ws_connect(&c, "not a url", NULL), WS_EINVAL);
    /* Refused: a port nobody listens on any more */
    ws_listener_t *l = listen_on(NULL, NULL, 0, "ws");
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", ws_listener_port(l));
    ws_listener_free(l);
    CHECK_EQ(ws_connect(&c, url, NULL), WS_EIO);
    CHECK(strstr(ws_errmsg(), "refused") != NULL);
    CHECK(c == NULL);
    /* A server that accepts and never answers: the handshake times out */
    int port;
    int lfd = tcp_listen(&port);
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_int(o, WS_OPT_TIMEOUT_MS, 150);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    double t0 = now();
    CHECK_EQ(ws_connect(&c, url, o), WS_ETIMEDOUT);
    CHECK(now() - t0 < 3);
    ws_options_free(o);
    close(lfd);
    /* wss:// to a server that speaks plain HTTP */
    struct raw_server r = {.lfd = tcp_listen(&port), .plain_http = 1};
    REQUIRE(r.lfd >= 0);
    REQUIRE(pthread_create(&r.t, NULL, raw_server_main, &r) == 0);
    snprintf(url, sizeof url, "wss://127.0.0.1:%d/", port);
    CHECK_EQ(ws_connect(&c, url, NULL), WS_ETLS);
    pthread_join(r.t, NULL);
    close(r.lfd);
}

static void test_tls(void) {
    ws_options_t *so, *co;
    REQUIRE(ws_options_new(&so) == WS_OK && ws_options_new(&co) == WS_OK);
    ws_options_set_str(so, WS_OPT_TLS_CERT_FILE, data_file("server.pem"));
    ws_options_set_str(so, WS_OPT_TLS_KEY_FILE, data_file("server.key"));
    char url[64];
    ws_listener_t *l = listen_on(so, url, sizeof url, "wss");
    ws_conn_t *c = NULL, *s;
    /* System roots do not know the test CA */
    CHECK_EQ(ws_connect(&c, url, NULL), WS_ETLS);
    CHECK(strstr(ws_errmsg(), "certificate") != NULL);
    /* With the CA: an encrypted echo */
    ws_options_set_str(co, WS_OPT_TLS_CA_FILE, data_file("ca.pem"));
    pair(l, url, co, &c, &s);
    struct echo e;
    echo_start(&e, s);
    ws_frame_t f;
    size_t big = 300000;
    uint8_t *buf = calloc(1, big);
    CHECK_EQ(ws_write_message(c, WS_OP_BINARY, buf, big), WS_OK);
    CHECK_EQ(ws_read_message(c, &f), WS_OK);
    CHECK_EQ(f.len, big);
    free(buf);
    CHECK_EQ(ws_close(c, 1000, NULL), WS_OK);
    echo_join(&e);
    ws_conn_free(c);
    /* By name */
    char named[64];
    snprintf(named, sizeof named, "wss://localhost:%d/tls?a=b", ws_listener_port(l));
    pair(l, named, co, &c, &s);
    CHECK_STR(ws_conn_path(s), "/tls?a=b");
    CHECK(strncmp(ws_conn_peer(s), "127.0.0.1:", 10) == 0);
    /* A timed read that expires leaves TLS usable */
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 20), WS_ETIMEDOUT);
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, (const uint8_t *)"after", 5), WS_OK);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 5000), WS_OK);
    CHECK_MEM(f.data, f.len, "after", 5);
    ws_conn_free(c);
    ws_conn_free(s);
    /* Wrong name */
    ws_options_set_str(co, WS_OPT_TLS_SERVER_NAME, "wrong.example");
    CHECK_EQ(ws_connect(&c, url, co), WS_ETLS);
    /* No verification at all */
    ws_options_t *insecure;
    REQUIRE(ws_options_new(&insecure) == WS_OK);
    ws_options_set_int(insecure, WS_OPT_TLS_VERIFY, 0);
    pair(l, url, insecure, &c, &s);
    ws_conn_free(c);
    ws_conn_free(s);
    /* Bad CA file */
    ws_options_set_str(insecure, WS_OPT_TLS_CA_FILE, data_file("README"));
    CHECK_EQ(ws_connect(&c, url, insecure), WS_ETLS);
    /* ... which ws:// URLs do not read */
    ws_listener_t *plain = listen_on(NULL, url, sizeof url, "ws");
    pair(plain, url, insecure, &c, &s);
    ws_conn_free(c);
    ws_conn_free(s);
    ws_listener_free(plain);
    ws_options_free(insecure);
    ws_options_free(so);
    ws_options_free(co);
    ws_listener_free(l);
}

static void test_mutual_tls(void) {
    ws_options_t *so, *co;
    REQUIRE(ws_options_new(&so) == WS_OK && ws_options_new(&co) == WS_OK);
    ws_options_set_str(so, WS_OPT_TLS_CERT_FILE, data_file("server.pem"));
    ws_options_set_str(so, WS_OPT_TLS_KEY_FILE, data_file("server.key"));
    ws_options_set_str(so, WS_OPT_TLS_CA_FILE, data_file("ca.pem"));
    char url[64];
    ws_listener_t *l = listen_on(so, url, sizeof url, "wss");
    ws_options_set_str(co, WS_OPT_TLS_CA_FILE, data_file("ca.pem"));
    ws_conn_t *c = NULL, *s;
    /* No client certificate: refused (as the handshake or the first read) */
    int rc = ws_connect(&c, url, co);
    if (rc == WS_OK) {
        ws_frame_t f;
        rc = ws_read_message(c, &f);
        ws_conn_free(c);
    }
    CHECK(rc == WS_ETLS || rc == WS_EHANDSHAKE || rc == WS_EIO || rc == WS_ECLOSED);
    CHECK_EQ(ws_accept(l, &s, 100), WS_ETIMEDOUT);
    ws_options_set_str(co, WS_OPT_TLS_CERT_FILE, data_file("server.pem"));
    ws_options_set_str(co, WS_OPT_TLS_KEY_FILE, data_file("server.key"));
    pair(l, url, co, &c, &s);
    ws_conn_free(c);
    ws_conn_free(s);
    ws_options_free(so);
    ws_options_free(co);
    ws_listener_free(l);
}

static void test_bad_handles(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    ws_conn_free(c);
    ws_conn_free(c); /* no-op */
    ws_parser_t *p;
    REQUIRE(ws_parser_new(&p, WS_ROLE_SERVER, NULL) == WS_OK);
    ws_conn_t *bad[] = {NULL, c, BOGUS(ws_conn_t), (ws_conn_t *)(void *)p, (ws_conn_t *)(void *)l};
    ws_frame_t f;
    uint8_t buf[8];
    size_t len;
    int code;
    for (int i = 0; i < 5; i++) {
        ws_conn_t *b = bad[i];
        CHECK_EQ(ws_read_frame(b, &f), WS_EBADHANDLE);
        CHECK_EQ(ws_read_message(b, &f), WS_EBADHANDLE);
        CHECK_EQ(ws_read_message_into(b, NULL, buf, sizeof buf, &len), WS_EBADHANDLE);
        CHECK_EQ(ws_write_frame(b, WS_OP_TEXT, 1, buf, 1), WS_EBADHANDLE);
        CHECK_EQ(ws_write_message(b, WS_OP_TEXT, buf, 1), WS_EBADHANDLE);
        CHECK_EQ(ws_write_message(b, WS_OP_PING, buf, 1), WS_EBADHANDLE);
        CHECK_EQ(ws_ping(b, NULL, 0), WS_EBADHANDLE);
        CHECK_EQ(ws_pong(b, NULL, 0), WS_EBADHANDLE);
        CHECK_EQ(ws_close(b, 1000, NULL), WS_EBADHANDLE);
        CHECK_EQ(ws_close_status(b, &code, NULL, 0), WS_EBADHANDLE);
        CHECK(ws_conn_subprotocol(b) == NULL);
        CHECK(ws_conn_errmsg(b) == NULL);
        ws_conn_free(b); /* no-op */
    }
    CHECK(strstr(ws_errmsg(), "ws_conn_t") != NULL);
    ws_listener_t *lbad[] = {NULL, BOGUS(ws_listener_t), (ws_listener_t *)(void *)p,
                             (ws_listener_t *)(void *)s};
    for (int i = 0; i < 4; i++) {
        ws_conn_t *out = NULL;
        CHECK_EQ(ws_listener_port(lbad[i]), WS_EBADHANDLE);
        CHECK_EQ(ws_accept(lbad[i], &out, 0), WS_EBADHANDLE);
        CHECK(ws_listener_errmsg(lbad[i]) == NULL);
        ws_listener_free(lbad[i]);
    }
    /* The handles passed as the wrong type still work */
    CHECK_EQ(ws_parser_feed(p, NULL, 0), WS_OK);
    CHECK_EQ(ws_write_message(s, WS_OP_TEXT, (const uint8_t *)"x", 1), WS_OK);
    ws_parser_free(p);
    ws_conn_free(s);
    ws_listener_free(l);
    ws_listener_free(l); /* no-op */
    CHECK_EQ(ws_listener_port(l), WS_EBADHANDLE);
    ws_conn_t *out;
    CHECK_EQ(ws_accept(l, &out, 0), WS_EBADHANDLE);
}

static void *free_later(void *arg) {
    msleep(100);
    ws_conn_free(arg);
    return NULL;
}

static void test_free_unblocks_reader(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, free_later, c) == 0);
    ws_frame_t f;
    int rc = ws_read_message(c, &f); /* blocks until freed */
    CHECK(rc == WS_ECLOSED || rc == WS_EBADHANDLE);
    pthread_join(t, NULL);
    CHECK_EQ(ws_read_message(c, &f), WS_EBADHANDLE);
    /* The server side sees the abrupt end */
    CHECK_EQ(ws_read_message(s, &f), WS_ECLOSED);
    int code;
    CHECK_EQ(ws_close_status(s, &code, NULL, 0), 1);
    CHECK_EQ(code, WS_CLOSE_ABNORMAL);
    ws_conn_free(s);
    ws_listener_free(l);
}

struct acceptor {
    ws_listener_t *l;
    int rc;
    pthread_t t;
};

static void *acceptor_main(void *arg) {
    struct acceptor *a = arg;
    ws_conn_t *c = NULL;
    a->rc = ws_accept(a->l, &c, -1);
    if (c)
        ws_conn_free(c);
    return NULL;
}

static void test_listener_free_unblocks_accept(void) {
    struct acceptor a = {.l = listen_on(NULL, NULL, 0, "ws")};
    REQUIRE(pthread_create(&a.t, NULL, acceptor_main, &a) == 0);
    msleep(100);
    ws_listener_free(a.l);
    pthread_join(a.t, NULL);
    CHECK_EQ(a.rc, WS_ECLOSED);
    /* Connections accepted before the listener is freed outlive it */
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    ws_conn_t *pending;
    REQUIRE(ws_connect(&pending, url, NULL) == WS_OK); /* handshaken, never accepted */
    msleep(20);
    ws_listener_free(l);
    ws_frame_t f;
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, (const uint8_t *)"still", 5), WS_OK);
    CHECK_EQ(ws_read_message(s, &f), WS_OK);
    CHECK_MEM(f.data, f.len, "still", 5);
    /* ... but the one never accepted was dropped */
    CHECK_EQ(ws_read_message(pending, &f), WS_ECLOSED);
    ws_conn_free(pending);
    ws_conn_free(c);
    ws_conn_free(s);
}

struct writer {
    ws_conn_t *c;
    int n, rc;
    pthread_t t;
};

static void *writer_main(void *arg) {
    struct writer *w = arg;
    char msg[64];
    for (int i = 0; i < w->n; i++) {
        int len = snprintf(msg, sizeof msg, "message %d", i);
        if ((w->rc = ws_write_message(w->c, WS_OP_TEXT, (const uint8_t *)msg, (size_t)len)) != WS_OK)
            break;
    }
    return NULL;
}

static void test_read_while_writing(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    struct echo e;
    echo_start(&e, s);
    struct writer w = {.c = c, .n = 3000};
    REQUIRE(pthread_create(&w.t, NULL, writer_main, &w) == 0);
    int ok = 0;
    char want[64];
    for (int i = 0; i < w.n; i++) {
        ws_frame_t f;
        if (ws_read_message(c, &f) != WS_OK)
            break;
        int len = snprintf(want, sizeof want, "message %d", i);
        ok += f.len == (size_t)len && memcmp(f.data, want, f.len) == 0;
    }
    pthread_join(w.t, NULL);
    CHECK_EQ(w.rc, WS_OK);
    CHECK_EQ(ok, w.n);
    CHECK_EQ(ws_close(c, 1000, NULL), WS_OK);
    echo_join(&e);
    ws_conn_free(c);
    ws_listener_free(l);
}

static void test_timeouts(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_int(o, WS_OPT_READ_TIMEOUT_MS, 100);
    ws_conn_t *c, *s;
    pair(l, url, o, &c, &s);
    ws_options_free(o);
    ws_frame_t f;
    double t0 = now();
    CHECK_EQ(ws_read_message(c, &f), WS_ETIMEDOUT);
    CHECK(now() - t0 >= 0.09);
    CHECK_EQ(ws_read_message(c, &f), WS_ETIMEDOUT); /* sticky */
    CHECK(strlen(ws_conn_errmsg(c)) > 0);
    ws_conn_free(c);
    ws_conn_free(s);
    ws_listener_free(l);
}

/* Several clients at once, each on its own thread, against one listener
 * whose connections are echoed on threads. */
struct client_job {
    const char *url;
    int id, ok;
    pthread_t t;
};

static void *client_job_main(void *arg) {
    struct client_job *j = arg;
    ws_conn_t *c;
    if (ws_connect(&c, j->url, NULL) != WS_OK)
        return NULL;
    char msg[64];
    for (int i = 0; i < 100; i++) {
        int len = snprintf(msg, sizeof msg, "client %d message %d", j->id, i);
        ws_frame_t f;
        if (ws_write_message(c, WS_OP_TEXT, (const uint8_t *)msg, (size_t)len) != WS_OK ||
            ws_read_message(c, &f) != WS_OK)
            break;
        j->ok += f.len == (size_t)len && memcmp(f.data, msg, f.len) == 0;
    }
    ws_close(c, 1000, NULL);
    ws_conn_free(c);
    return NULL;
}

static void test_many_clients(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    enum { N = 8 };
    struct client_job jobs[N];
    struct echo echos[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct client_job){.url = url, .id = i};
        REQUIRE(pthread_create(&jobs[i].t, NULL, client_job_main, &jobs[i]) == 0);
    }
    for (int i = 0; i < N; i++) {
        ws_conn_t *s;
        REQUIRE(ws_accept(l, &s, 5000) == WS_OK);
        echo_start(&echos[i], s);
    }
    int total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(jobs[i].t, NULL);
        total += jobs[i].ok;
    }
    for (int i = 0; i < N; i++)
        echo_join(&echos[i]);
    CHECK_EQ(total, N * 100);
    ws_listener_free(l);
}


/* ---- issue 18: the blocking layer as websockets/ws users expect it ---- */

/* A client frame (masked) for a raw socket; returns its size. */
static size_t client_frame(uint8_t *out, int opcode, int fin, const void *payload, size_t n) {
    ws_header_t h = {.fin = (uint8_t)fin, .opcode = (uint8_t)opcode, .masked = 1, .mask = {9, 8, 7, 6}, .length = n};
    int k = ws_encode_header(&h, out, WS_MAX_HEADER_SIZE);
    memcpy(out + k, payload, n);
    ws_mask(out + k, n, h.mask, 0);
    return (size_t)k + n;
}

/* Path, headers and peer address of both ends. */
static void test_handshake_info(void) {
    ws_options_t *so, *co;
    REQUIRE(ws_options_new(&so) == WS_OK && ws_options_new(&co) == WS_OK);
    ws_options_set_str(so, WS_OPT_HEADERS, "X-Server: s1\r\n");
    ws_options_set_str(co, WS_OPT_HEADERS, "X-Custom: yes\r\nx-lower: v\r\nX-Twice: 1\r\nX-Twice: 2\r\n");
    ws_listener_t *l = listen_on(so, NULL, 0, "ws");
    int port = ws_listener_port(l);
    char url[96], addr[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/chat/room%%201?x=1&y=%%C3%%A9", port);
    ws_conn_t *c, *s;
    pair(l, url, co, &c, &s);
    /* Server side: the request as sent */
    CHECK_STR(ws_conn_path(s), "/chat/room%201?x=1&y=%C3%A9");
    const char *h = ws_conn_headers(s);
    REQUIRE(h != NULL);
    CHECK(strstr(h, "X-Custom: yes\r\n") != NULL);
    CHECK(strstr(h, "X-Lower: v\r\n") != NULL);
    CHECK(strstr(h, "X-Twice: 1\r\nX-Twice: 2\r\n") != NULL);
    CHECK(strstr(h, "Sec-Websocket-Version: 13\r\n") != NULL);
    char host[64];
    snprintf(host, sizeof host, "Host: 127.0.0.1:%d\r\n", port);
    CHECK(strstr(h, host) != NULL);
    CHECK(strlen(h) >= 2 && strcmp(h + strlen(h) - 2, "\r\n") == 0);
    CHECK(ws_conn_headers(s) == h); /* one string per connection */
    const char *peer = ws_conn_peer(s);
    REQUIRE(peer != NULL);
    int pport = 0;
    CHECK(sscanf(peer, "127.0.0.1:%d", &pport) == 1 && pport > 0 && pport != port);
    /* Client side: the target it asked for, the 101's headers, the server */
    CHECK_STR(ws_conn_path(c), "/chat/room%201?x=1&y=%C3%A9");
    h = ws_conn_headers(c);
    REQUIRE(h != NULL);
    CHECK(strstr(h, "X-Server: s1\r\n") != NULL);
    CHECK(strstr(h, "Upgrade: websocket\r\n") != NULL);
    CHECK(strstr(h, "Sec-Websocket-Accept: ") != NULL);
    CHECK(strstr(h, "X-Custom") == NULL); /* not the request's */
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    CHECK_STR(ws_conn_peer(c), addr);
    /* Still there after the connection closed */
    CHECK_EQ(ws_close(c, 1000, NULL), WS_OK);
    CHECK_STR(ws_conn_peer(c), addr);
    CHECK_STR(ws_conn_path(c), "/chat/room%201?x=1&y=%C3%A9");
    ws_conn_free(c);
    ws_conn_free(s);
    /* The URL without a path asks for "/" */
    snprintf(url, sizeof url, "ws://127.0.0.1:%d", port);
    pair(l, url, NULL, &c, &s);
    CHECK_STR(ws_conn_path(c), "/");
    CHECK_STR(ws_conn_path(s), "/");
    ws_conn_free(c);
    ws_conn_free(s);
    /* ws_adopt_fd connections too */
    int lport, lfd = tcp_listen(&lport);
    REQUIRE(lfd >= 0);
    int cfd = tcp_connect(lport);
    int fd = accept(lfd, NULL, NULL);
    REQUIRE(cfd >= 0 && fd >= 0);
    CHECK_EQ(write_all(cfd, upgrade_request, sizeof upgrade_request - 1), 0);
    CHECK_EQ(ws_adopt_fd(&s, fd, NULL), WS_OK);
    CHECK_STR(ws_conn_path(s), "/chat?x=1");
    CHECK(strstr(ws_conn_headers(s), "Sec-Websocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n") != NULL);
    CHECK(strncmp(ws_conn_peer(s), "127.0.0.1:", 10) == 0);
    ws_conn_free(s);
    close(cfd);
    close(lfd);
    /* Bad handles */
    CHECK(ws_conn_path(NULL) == NULL);
    CHECK_EQ(strstr(ws_errmsg(), "invalid or freed") != NULL, 1);
    CHECK(ws_conn_headers(BOGUS(ws_conn_t)) == NULL);
    CHECK(ws_conn_peer(s) == NULL); /* freed */
    ws_options_free(so);
    ws_options_free(co);
    ws_listener_free(l);
}

/* ws_read_message_timeout: a timeout leaves the connection usable and
 * loses nothing, also in the middle of a frame or of a message. */
static void test_read_timeout_keeps_conn(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    ws_frame_t f;
    double t0 = now();
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 100), WS_ETIMEDOUT);
    CHECK(now() - t0 >= 0.09);
    CHECK(strstr(ws_conn_errmsg(s), "100 ms") != NULL);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 0), WS_ETIMEDOUT); /* 0: no wait */
    /* Still usable both ways, by every kind of read */
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, (const uint8_t *)"one", 3), WS_OK);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 5000), WS_OK);
    CHECK(f.opcode == WS_OP_TEXT && f.fin == 1);
    CHECK_MEM(f.data, f.len, "one", 3);
    CHECK_EQ(ws_write_message(s, WS_OP_TEXT, (const uint8_t *)"back", 4), WS_OK);
    CHECK_EQ(ws_read_message(c, &f), WS_OK);
    CHECK_MEM(f.data, f.len, "back", 4);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 50), WS_ETIMEDOUT);
    CHECK_EQ(ws_write_message(c, WS_OP_BINARY, (const uint8_t *)"two", 3), WS_OK);
    CHECK_EQ(ws_read_message(s, &f), WS_OK); /* takes what the timed read was waiting for */
    CHECK(f.opcode == WS_OP_BINARY);
    CHECK_MEM(f.data, f.len, "two", 3);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 50), WS_ETIMEDOUT);
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, (const uint8_t *)"three", 5), WS_OK);
    uint8_t buf[16];
    size_t n = 0;
    int op = 0;
    CHECK_EQ(ws_read_message_into(s, &op, buf, sizeof buf, &n), WS_OK);
    CHECK(op == WS_OP_TEXT);
    CHECK_MEM(buf, n, "three", 5);
    /* A kept message (ws_read_message_into's WS_ENOSPACE) comes first */
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, (const uint8_t *)"four", 4), WS_OK);
    CHECK_EQ(ws_read_message_into(s, &op, buf, 2, &n), WS_ENOSPACE);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 0), WS_OK);
    CHECK_MEM(f.data, f.len, "four", 4);
    /* A close after a timeout: the close ends the next read */
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 30), WS_ETIMEDOUT);
    CHECK_EQ(ws_close(c, 4001, "bye"), WS_OK);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 5000), WS_ECLOSED);
    int code = 0;
    char reason[124];
    CHECK_EQ(ws_close_status(s, &code, reason, sizeof reason), 1);
    CHECK_EQ(code, 4001);
    CHECK_STR(reason, "bye");
    CHECK_EQ(ws_close_status(c, &code, NULL, 0), 1); /* the server's reply came back */
    ws_conn_free(c);
    ws_conn_free(s);
    /* Closing the side whose read timed out waits for the reply as usual,
     * also when that read got a message meanwhile (discarded, as ws_close
     * discards what arrives before the reply) */
    for (int got_message = 0; got_message < 2; got_message++) {
        pair(l, url, NULL, &c, &s);
        struct echo e;
        echo_start(&e, c);
        CHECK_EQ(ws_read_message_timeout(s, &f, 0, 20), WS_ETIMEDOUT);
        if (got_message) {
            CHECK_EQ(ws_write_message(s, WS_OP_TEXT, (const uint8_t *)"ping me", 7), WS_OK);
            msleep(50); /* the echo is back in the read left running */
        }
        CHECK_EQ(ws_close(s, 4002, "done"), WS_OK);
        CHECK_EQ(ws_close_status(s, &code, reason, sizeof reason), 1);
        CHECK_EQ(code, 4002); /* the peer echoed our code */
        CHECK_EQ(ws_read_message_timeout(s, &f, 0, 1000), WS_ECLOSED);
        echo_join(&e);
        CHECK_EQ(e.known, 1);
        CHECK_EQ(e.code, 4002);
        ws_conn_free(s);
    }

    /* Timeouts in the middle of a frame and of a fragmented message, from
     * a raw client that sends them in pieces */
    char head[1024];
    int fd = raw_ws_client(ws_listener_port(l), head, sizeof head);
    REQUIRE(fd >= 0);
    REQUIRE(ws_accept(l, &s, 5000) == WS_OK);
    static uint8_t payload[70000], wire[70000 + 14];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    size_t w = client_frame(wire, WS_OP_BINARY, 1, payload, sizeof payload);
    size_t cuts[] = {1, 3, 9, 5000, 69000, w}; /* in the header, its length, the payload */
    size_t sent = 0;
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        CHECK_EQ(write_all(fd, wire + sent, cuts[i] - sent), 0);
        sent = cuts[i];
        if (sent < w)
            CHECK_EQ(ws_read_message_timeout(s, &f, 0, 30), WS_ETIMEDOUT);
    }
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 5000), WS_OK);
    CHECK(f.opcode == WS_OP_BINARY);
    CHECK_MEM(f.data, f.len, payload, sizeof payload);
    /* Fragments with a ping between them, the last one late */
    w = client_frame(wire, WS_OP_TEXT, 0, "frag", 4);
    w += client_frame(wire + w, WS_OP_PING, 1, "p", 1);
    w += client_frame(wire + w, WS_OP_CONTINUATION, 0, "men", 3);
    CHECK_EQ(write_all(fd, wire, w), 0);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 50), WS_ETIMEDOUT);
    w = client_frame(wire, WS_OP_CONTINUATION, 1, "ted", 3);
    CHECK_EQ(write_all(fd, wire, 3), 0);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 30), WS_ETIMEDOUT);
    CHECK_EQ(write_all(fd, wire + 3, w - 3), 0);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 5000), WS_OK);
    CHECK(f.opcode == WS_OP_TEXT);
    CHECK_MEM(f.data, f.len, "fragmented", 10);
    /* The ping between the fragments was answered */
    uint8_t pong[8];
    CHECK(recv(fd, pong, sizeof pong, 0) == 3 && pong[0] == 0x8A && pong[1] == 1 && pong[2] == 'p');
    /* Freeing with a read still running in the background does not hang */
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 10), WS_ETIMEDOUT);
    ws_conn_free(s);
    close(fd);

    /* Arguments */
    pair(l, url, NULL, &c, &s);
    CHECK_EQ(ws_read_message_timeout(s, NULL, 0, 10), WS_EINVAL);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0x100, 10), WS_EINVAL);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, -2), WS_EINVAL);
    CHECK_EQ(ws_read_message_timeout(NULL, &f, 0, 10), WS_EBADHANDLE);
    CHECK_EQ(ws_read_message_timeout(BOGUS(ws_conn_t), &f, 0, 10), WS_EBADHANDLE);
    /* -1 waits as long as needed */
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, (const uint8_t *)"x", 1), WS_OK);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, -1), WS_OK);
    CHECK_MEM(f.data, f.len, "x", 1);
    ws_conn_free(c);
    ws_conn_free(s);
    CHECK_EQ(ws_read_message_timeout(s, &f, 0, 10), WS_EBADHANDLE);
    ws_listener_free(l);
}

/* Many short timeouts against a stream of messages, some in fragments
 * with pauses between them: every message arrives whole, in order. */
struct stream_sender {
    ws_conn_t *c;
    int n, rc;
    pthread_t t;
};

static void fill_msg(uint8_t *b, size_t n, int i) {
    for (size_t k = 0; k < n; k++)
        b[k] = (uint8_t)(i + k * 31);
}

static size_t msg_size(int i) { return (size_t)((i * 7919) % 40000 + 1); }

static void *stream_sender_main(void *arg) {
    struct stream_sender *ss = arg;
    static uint8_t b[40001];
    for (int i = 0; i < ss->n && ss->rc == WS_OK; i++) {
        size_t n = msg_size(i);
        fill_msg(b, n, i);
        if (i % 3 == 0) {
            size_t half = n / 2;
            ss->rc = ws_write_frame(ss->c, WS_OP_BINARY, 0, b, half);
            msleep(2);
            if (ss->rc == WS_OK)
                ss->rc = ws_write_frame(ss->c, WS_OP_CONTINUATION, 1, b + half, n - half);
        } else {
            ss->rc = ws_write_message(ss->c, WS_OP_BINARY, b, n);
        }
    }
    return NULL;
}

static void test_read_timeout_stream(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    struct stream_sender ss = {.c = c, .n = 300};
    REQUIRE(pthread_create(&ss.t, NULL, stream_sender_main, &ss) == 0);
    static uint8_t want[40001];
    int got = 0, timeouts = 0, bad = 0;
    double t0 = now();
    while (got < ss.n && now() - t0 < 60) {
        ws_frame_t f;
        int rc = ws_read_message_timeout(s, &f, 0, 1);
        if (rc == WS_ETIMEDOUT) {
            timeouts++;
            continue;
        }
        if (rc != WS_OK)
            break;
        size_t n = msg_size(got);
        fill_msg(want, n, got);
        if (f.len != n || memcmp(f.data, want, n) != 0)
            bad++;
        got++;
    }
    pthread_join(ss.t, NULL);
    CHECK_EQ(ss.rc, WS_OK);
    CHECK_EQ(got, ss.n);
    CHECK_EQ(bad, 0);
    CHECK(timeouts > 0);
    ws_conn_free(c);
    ws_conn_free(s);
    ws_listener_free(l);
}

/* WS_OPT_READ_TIMEOUT_MS stays fatal, but a timed read lifts its deadline. */
static void test_read_timeout_option_and_call(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_int(o, WS_OPT_READ_TIMEOUT_MS, 100);
    ws_conn_t *c, *s;
    pair(l, url, o, &c, &s);
    ws_options_free(o);
    ws_frame_t f;
    CHECK_EQ(ws_write_message(s, WS_OP_TEXT, (const uint8_t *)"a", 1), WS_OK);
    CHECK_EQ(ws_read_message(c, &f), WS_OK); /* sets a 100 ms deadline */
    msleep(150);
    CHECK_EQ(ws_write_message(s, WS_OP_TEXT, (const uint8_t *)"b", 1), WS_OK);
    CHECK_EQ(ws_read_message_timeout(c, &f, 0, 5000), WS_OK);
    CHECK_MEM(f.data, f.len, "b", 1);
    ws_conn_free(c);
    ws_conn_free(s);
    ws_listener_free(l);
}

/* Waiting for the pong to a ping: WS_READ_CONTROL returns pings and pongs. */
static void test_wait_for_pong(void) {
    char url[64];
    ws_listener_t *l = listen_on(NULL, url, sizeof url, "ws");
    ws_conn_t *c, *s;
    pair(l, url, NULL, &c, &s);
    struct echo e;
    echo_start(&e, s); /* reads, so it answers pings */
    ws_frame_t f;
    CHECK_EQ(ws_ping(c, (const uint8_t *)"k1", 2), WS_OK);
    CHECK_EQ(ws_read_message_timeout(c, &f, WS_READ_CONTROL, 5000), WS_OK);
    CHECK_EQ(f.opcode, WS_OP_PONG);
    CHECK_MEM(f.data, f.len, "k1", 2);
    /* Messages and pongs in arrival order */
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, (const uint8_t *)"m1", 2), WS_OK);
    CHECK_EQ(ws_ping(c, (const uint8_t *)"k2", 2), WS_OK);
    CHECK_EQ(ws_read_message_timeout(c, &f, WS_READ_CONTROL, 5000), WS_OK);
    CHECK(f.opcode == WS_OP_TEXT);
    CHECK_MEM(f.data, f.len, "m1", 2);
    CHECK_EQ(ws_read_message_timeout(c, &f, WS_READ_CONTROL, 5000), WS_OK);
    CHECK(f.opcode == WS_OP_PONG);
    CHECK_MEM(f.data, f.len, "k2", 2);
    /* Without the flag pongs are skipped */
    CHECK_EQ(ws_ping(c, (const uint8_t *)"k3", 2), WS_OK);
    CHECK_EQ(ws_write_message(c, WS_OP_TEXT, (const uint8_t *)"m2", 2), WS_OK);
    CHECK_EQ(ws_read_message_timeout(c, &f, 0, 5000), WS_OK);
    CHECK(f.opcode == WS_OP_TEXT);
    CHECK_MEM(f.data, f.len, "m2", 2);
    /* A pong that arrives after a timeout is not lost */
    CHECK_EQ(ws_read_message_timeout(c, &f, WS_READ_CONTROL, 0), WS_ETIMEDOUT);
    CHECK_EQ(ws_ping(c, (const uint8_t *)"k4", 2), WS_OK);
    CHECK_EQ(ws_read_message_timeout(c, &f, WS_READ_CONTROL, 5000), WS_OK);
    CHECK(f.opcode == WS_OP_PONG);
    CHECK_MEM(f.data, f.len, "k4", 2);
    CHECK_EQ(ws_close(c, 1000, NULL), WS_OK);
    echo_join(&e);
    ws_conn_free(c);
    /* The peer's pings arrive too (answered already) */
    pair(l, url, NULL, &c, &s);
    CHECK_EQ(ws_ping(s, (const uint8_t *)"sp", 2), WS_OK);
    CHECK_EQ(ws_read_message_timeout(c, &f, WS_READ_CONTROL, 5000), WS_OK);
    CHECK(f.opcode == WS_OP_PING);
    CHECK_MEM(f.data, f.len, "sp", 2);
    CHECK_EQ(ws_read_frame(s, &f), WS_OK);
    CHECK(f.opcode == WS_OP_PONG);
    CHECK_MEM(f.data, f.len, "sp", 2);
    ws_conn_free(c);
    ws_conn_free(s);
    ws_listener_free(l);
}

/* A port out of range is a bad URL, found before dialing. */
static void test_connect_bad_port(void) {
    ws_conn_t *c = NULL;
    const char *urls[] = {"ws://127.0.0.1:99999/", "ws://localhost:65536/", "wss://127.0.0.1:0/",
                          "ws://[::1]:100000/x"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        CHECK_EQ(ws_connect(&c, urls[i], NULL), WS_EINVAL);
        CHECK(strstr(ws_errmsg(), "port") != NULL);
        CHECK(c == NULL);
    }
}

/* "libws: " starts every message once, whatever the error's origin. */
static int prefixed_once(const char *m) {
    return m && strncmp(m, "libws: ", 7) == 0 && strstr(m + 7, "libws:") == NULL;
}

static void test_errmsg_prefix(void) {
    ws_options_t *so, *co;
    REQUIRE(ws_options_new(&so) == WS_OK && ws_options_new(&co) == WS_OK);
    ws_options_set_str(so, WS_OPT_ORIGIN, "http://good.example");
    ws_options_set_str(co, WS_OPT_ORIGIN, "http://evil.example");
    char url[64];
    ws_listener_t *l = listen_on(so, url, sizeof url, "ws");
    ws_conn_t *c = NULL;
    CHECK_EQ(ws_connect(&c, url, co), WS_EHANDSHAKE); /* an engine error inside */
    CHECK(prefixed_once(ws_errmsg()));
    CHECK(strstr(ws_errmsg(), "403") != NULL);
    ws_listener_t *l2 = NULL;
    CHECK_EQ(ws_listen(&l2, "127.0.0.1", ws_listener_port(l), NULL), WS_EIO); /* a system error */
    CHECK(prefixed_once(ws_errmsg()));
    CHECK_EQ(ws_connect(&c, "ws://127.0.0.1:1/", NULL), WS_EIO);
    CHECK(prefixed_once(ws_errmsg()));
    ws_options_free(co);
    /* An engine error on a handle */
    ws_conn_t *s;
    pair(l, url, NULL, &c, &s);
    CHECK_EQ(ws_close(c, 1000, NULL), WS_OK);
    ws_frame_t f;
    CHECK_EQ(ws_read_message(s, &f), WS_ECLOSED);
    CHECK(prefixed_once(ws_conn_errmsg(s)));
    CHECK(prefixed_once(ws_errmsg()));
    ws_conn_free(c);
    ws_conn_free(s);
    ws_options_free(so);
    ws_listener_free(l);
}

int main(void) {
    h_name = "test_conn";
    const char *d = getenv("LIBWS_TEST_DATA");
    snprintf(data_dir, sizeof data_dir, "%s", d ? d : LIBWS_TEST_DATA_DIR);
    RUN(test_listen_args);
    RUN(test_accept_timeouts);
    RUN(test_echo);
    RUN(test_frames_and_control);
    RUN(test_read_into);
    RUN(test_close);
    RUN(test_close_peer_silent);
    RUN(test_too_big);
    RUN(test_invalid_utf8);
    RUN(test_peer_vanishes);
    RUN(test_write_after_peer_drop);
    RUN(test_refused_handshake);
    RUN(test_adopt_fd);
    RUN(test_subprotocols_and_origin);
    RUN(test_client_request);
    RUN(test_connect_errors);
    RUN(test_tls);
    RUN(test_mutual_tls);
    RUN(test_bad_handles);
    RUN(test_free_unblocks_reader);
    RUN(test_listener_free_unblocks_accept);
    RUN(test_read_while_writing);
    RUN(test_timeouts);
    RUN(test_many_clients);
    RUN(test_handshake_info);
    RUN(test_read_timeout_keeps_conn);
    RUN(test_read_timeout_stream);
    RUN(test_read_timeout_option_and_call);
    RUN(test_wait_for_pong);
    RUN(test_connect_bad_port);
    RUN(test_errmsg_prefix);
    return h_report();
}
