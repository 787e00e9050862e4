/* Event hub tests: a server hub and a client hub in one process, over real
 * loopback TCP; plus raw sockets for misbehaving peers. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ws.h"

static int passed, failed;
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (cond) {                                                           \
            passed++;                                                         \
        } else {                                                              \
            failed++;                                                         \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The suite runs twice: on inline hubs (the default: the polling thread
 * serves the sockets) and on threaded ones (WS_OPT_HUB_THREADED). */
static int threaded;

static int new_hub(ws_hub_t **hub) {
    ws_options_t *o;
    if (ws_options_new(&o) != WS_OK) return WS_ENOMEM;
    int rc = ws_options_set_int(o, WS_OPT_HUB_THREADED, threaded);
    if (rc == WS_OK) rc = ws_hub_new(hub, o);
    ws_options_free(o);
    return rc;
}

/* Serves echo on the server hub and nothing else, until *stop. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)

typedef struct {
    ws_hub_t *hub;
    int stop;
    int opens, closes;
    int backpressure;
    int last_close_code;
} echo_server;

static void *echo_loop(void *arg) {
    echo_server *s = arg;
    ws_event_t ev[128];
    ws_send_t out[128];
    while (!LOAD(s->stop)) {
        int n = ws_hub_poll(s->hub, ev, 128, 50);
        if (n < 0) break;
        int k = 0;
        for (int i = 0; i < n; i++) {
            switch (ev[i].type) {
            case WS_EVENT_OPEN: __atomic_add_fetch(&s->opens, 1, __ATOMIC_SEQ_CST); break;
            case WS_EVENT_CLOSE:
                __atomic_store_n(&s->last_close_code, ev[i].code, __ATOMIC_SEQ_CST);
                __atomic_add_fetch(&s->closes, 1, __ATOMIC_SEQ_CST);
                break;
            case WS_EVENT_BACKPRESSURE: __atomic_add_fetch(&s->backpressure, 1, __ATOMIC_SEQ_CST); break;
            case WS_EVENT_MESSAGE:
                out[k].conn = ev[i].conn;
                out[k].opcode = ev[i].opcode;
                out[k].data = ev[i].data;
                out[k].len = ev[i].len;
                k++;
                break;
            }
        }
        if (k) ws_hub_send_batch(s->hub, out, k);
    }
    return NULL;
}

static int start_server(echo_server *s, pthread_t *t) {
    memset(s, 0, sizeof *s);
    if (new_hub(&s->hub) != WS_OK) return -1;
    int port = 0;
    if (ws_hub_listen(s->hub, "127.0.0.1", 0, NULL, &port) <= 0) return -1;
    pthread_create(t, NULL, echo_loop, s);
    return port;
}

static void stop_server(echo_server *s, pthread_t t) {
    __atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(t, NULL);
    ws_hub_free(s->hub);
}

static void fill(uint8_t *buf, size_t len, uint64_t seed) {
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(seed * 31 + i * 7);
}

/* N clients each send ROUNDS messages of varying size, one in flight, and
 * check every byte of every echo and the order. */
static void test_many_clients(int port, int nclients, int rounds) {
    ws_hub_t *cli;
    CHECK(new_hub(&cli) == WS_OK, "client hub");
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    uint64_t *ids = calloc((size_t)nclients, sizeof *ids);
    int *sent = calloc((size_t)nclients, sizeof *sent);
    int *got = calloc((size_t)nclients, sizeof *got);
    for (int i = 0; i < nclients; i++) CHECK(ws_hub_connect(cli, url, NULL, &ids[i]) == WS_OK, "connect %d", i);
    uint8_t buf[4096];
    ws_event_t ev[256];
    int done = 0, opened = 0, bad = 0;
    double deadline = now_s() + 60;
    while (done < nclients && now_s() < deadline) {
        int n = ws_hub_poll(cli, ev, 256, 100);
        for (int i = 0; i < n; i++) {
            int idx = -1;
            for (int j = 0; j < nclients; j++) if (ids[j] == ev[i].conn) { idx = j; break; }
            if (idx < 0) { bad++; continue; }
            if (ev[i].type == WS_EVENT_OPEN || ev[i].type == WS_EVENT_MESSAGE) {
                if (ev[i].type == WS_EVENT_OPEN) {
                    opened++;
                } else {
                    size_t len = (size_t)((idx * 13 + got[idx] * 101) % 3000);
                    fill(buf, len, (uint64_t)idx * 1000 + (uint64_t)got[idx]);
                    if (ev[i].len != len || memcmp(ev[i].data, buf, len) != 0 || ev[i].opcode != WS_OP_BINARY) bad++;
                    got[idx]++;
                }
                if (sent[idx] < rounds) {
                    size_t len = (size_t)((idx * 13 + sent[idx] * 101) % 3000);
                    fill(buf, len, (uint64_t)idx * 1000 + (uint64_t)sent[idx]);
                    ws_hub_send(cli, ids[idx], WS_OP_BINARY, buf, len);
                    sent[idx]++;
                } else if (got[idx] == rounds) {
                    ws_hub_close(cli, ids[idx], 1000, "done");
                }
            } else if (ev[i].type == WS_EVENT_CLOSE) {
                if (got[idx] != rounds) bad++;
                done++;
            }
        }
    }
    CHECK(opened == nclients, "opened %d of %d", opened, nclients);
    CHECK(done == nclients, "finished %d of %d", done, nclients);
    CHECK(bad == 0, "%d wrong echoes or events", bad);
    ws_hub_free(cli);
    free(ids);
    free(sent);
    free(got);
}

static int raw_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    if (write(fd, req, strlen(req)) < 0) return -1;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0 || strncmp(buf, "HTTP/1.1 101", 12) != 0) return -1;
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

/* A client that pipelines many small messages gets every echo back intact
 * and in order: the server echoes them with ws_hub_send_batch, up to 128
 * at a time, which an inline hub hands over in chunks and writes a
 * connection's consecutive echoes at once. */
static void test_pipelined(int port) {
    enum { COUNT = 300 };
    int fd = raw_connect(port);
    CHECK(fd >= 0, "raw connect");
    if (fd < 0) return;
    static uint8_t out[COUNT * (6 + 200)];
    size_t len = 0;
    for (int i = 0; i < COUNT; i++) {
        size_t n = (size_t)(i * 37 % 200); /* 0..199: 7-bit and 16-bit lengths */
        out[len++] = 0x82;
        if (n < 126) {
            out[len++] = (uint8_t)(0x80 | n);
        } else {
            out[len++] = 0x80 | 126;
            out[len++] = 0;
            out[len++] = (uint8_t)n;
        }
        memset(out + len, 0, 4); /* mask key 0: the payload goes as it is */
        len += 4;
        fill(out + len, n, (uint64_t)i);
        len += n;
    }
    CHECK(write(fd, out, len) == (ssize_t)len, "pipelined write");
    int bad = 0;
    uint8_t hdr[4], payload[200], want[200];
    for (int i = 0; i < COUNT && bad == 0; i++) {
        size_t n = (size_t)(i * 37 % 200);
        if (read_full(fd, hdr, 2) != 0) { bad = i + 1; break; }
        size_t got = hdr[1] & 0x7F;
        if (got == 126) {
            if (read_full(fd, hdr + 2, 2) != 0) { bad = i + 1; break; }
            got = (size_t)hdr[2] << 8 | hdr[3];
        }
        fill(want, n, (uint64_t)i);
        if (hdr[0] != 0x82 || got != n || read_full(fd, payload, n) != 0 || memcmp(payload, want, n) != 0) bad = i + 1;
    }
    CHECK(bad == 0, "echo %d of %d wrong or missing", bad, COUNT);
    close(fd);
}

/* A client that stops reading gets a backpressure event; others go on. */
static void test_backpressure(echo_server *s, int port) {
    int fd = raw_connect(port);
    CHECK(fd >= 0, "raw connect");
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    /* Send 128 masked 64 KiB messages (8 MiB, past any kernel buffering) and never read the echoes. */
    static uint8_t frame[14 + 65536];
    frame[0] = 0x82;
    frame[1] = 0x80 | 127;
    memset(frame + 2, 0, 8);
    frame[7] = 1; /* 65536, big-endian */
    memset(frame + 10, 0, 4);
    memset(frame + 14, 'x', 65536);
    for (int i = 0; i < 128; i++) {
        if (write(fd, frame, sizeof frame) < 0) break;
    }
    double deadline = now_s() + 10;
    while (LOAD(s->backpressure) == 0 && now_s() < deadline) usleep(10000);
    CHECK(LOAD(s->backpressure) > 0, "no backpressure event");
    test_many_clients(port, 20, 20); /* others unaffected */
    close(fd);
}

/* A peer that vanishes mid-frame gives a close event with 1006. */
static void test_abrupt(echo_server *s, int port) {
    /* Earlier connections may still be closing: start from a quiet server. */
    double quiet = now_s() + 10;
    while (LOAD(s->closes) != LOAD(s->opens) && now_s() < quiet) usleep(5000);
    int before = LOAD(s->closes);
    int fd = raw_connect(port);
    CHECK(fd >= 0, "raw connect");
    uint8_t half[] = {0x82, 0x80 | 100, 0, 0, 0, 0, 'a', 'b'};
    CHECK(write(fd, half, sizeof half) == (ssize_t)sizeof half, "write");
    close(fd);
    double deadline = now_s() + 5;
    while (LOAD(s->closes) == before && now_s() < deadline) usleep(5000);
    CHECK(LOAD(s->closes) == before + 1 && LOAD(s->last_close_code) == 1006, "close %d code %d", LOAD(s->closes) - before, LOAD(s->last_close_code));
}

/* Shutdown with connections open: every client sees 1001. */
static void test_shutdown(void) {
    ws_hub_t *srv, *cli;
    int port = 0;
    CHECK(new_hub(&srv) == WS_OK, "server hub");
    CHECK(ws_hub_listen(srv, "127.0.0.1", 0, NULL, &port) > 0, "listen");
    CHECK(new_hub(&cli) == WS_OK, "client hub");
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    enum { N = 10 };
    uint64_t id;
    for (int i = 0; i < N; i++) ws_hub_connect(cli, url, NULL, &id);
    ws_event_t ev[64];
    int opens = 0, closes = 0, srv_closes = 0, code1001 = 0;
    double deadline = now_s() + 10;
    int srv_opens = 0;
    while ((opens < N || srv_opens < N) && now_s() < deadline) {
        int n = ws_hub_poll(cli, ev, 64, 10);
        for (int i = 0; i < n; i++) opens += ev[i].type == WS_EVENT_OPEN;
        /* An inline server hub answers handshakes only while polled. */
        n = ws_hub_poll(srv, ev, 64, 10);
        for (int i = 0; i < n; i++) srv_opens += ev[i].type == WS_EVENT_OPEN;
    }
    CHECK(opens == N && srv_opens == N, "opens %d, server opens %d", opens, srv_opens);
    /* Server events must have been seen for shutdown to close them. */
    CHECK(ws_hub_shutdown(srv, 3000) == WS_OK, "shutdown");
    for (;;) {
        int n = ws_hub_poll(srv, ev, 64, 0);
        if (n <= 0) {
            CHECK(n == WS_ECLOSED, "poll after shutdown gives WS_ECLOSED, got %d", n);
            break;
        }
        for (int i = 0; i < n; i++) srv_closes += ev[i].type == WS_EVENT_CLOSE;
    }
    CHECK(srv_closes == N, "server close events %d", srv_closes);
    deadline = now_s() + 10;
    while (closes < N && now_s() < deadline) {
        int n = ws_hub_poll(cli, ev, 64, 100);
        for (int i = 0; i < n; i++) {
            if (ev[i].type == WS_EVENT_CLOSE) {
                closes++;
                code1001 += ev[i].code == 1001;
            }
        }
    }
    CHECK(closes == N && code1001 == N, "client closes %d with 1001: %d", closes, code1001);
    CHECK(ws_hub_send(srv, 1, WS_OP_TEXT, "x", 1) == WS_ECLOSED, "send after shutdown");
    ws_hub_free(srv);
    ws_hub_free(cli);
}

static void test_errors(void) {
    ws_hub_t *hub;
    ws_event_t ev[4];
    CHECK(ws_hub_new(NULL, NULL) == WS_EINVAL, "NULL out");
    CHECK(ws_hub_new(&hub, NULL) == WS_OK, "new");
    CHECK(ws_hub_poll(hub, NULL, 4, 0) == WS_EINVAL, "NULL events");
    CHECK(ws_hub_poll(hub, ev, 0, 0) == WS_EINVAL, "max 0");
    CHECK(ws_hub_poll(hub, ev, 4, 0) == 0, "nothing waiting");
    CHECK(ws_hub_send(hub, 1, 7, "x", 1) == WS_EINVAL, "bad opcode");
    CHECK(ws_hub_send(hub, 1, WS_OP_TEXT, NULL, 3) == WS_EINVAL, "NULL data");
    uint8_t big[126] = {0};
    CHECK(ws_hub_send(hub, 1, WS_OP_PING, big, 126) == WS_EINVAL, "ping > 125");
    CHECK(ws_hub_send(hub, 12345, WS_OP_TEXT, "x", 1) == WS_EINVAL, "send to a conn never handed out");
    CHECK(ws_hub_close(hub, 1, 1000, NULL) == WS_EINVAL, "close a conn never handed out");
    CHECK(ws_hub_listen(hub, NULL, 0, NULL, NULL) == WS_EINVAL, "NULL host");
    CHECK(ws_hub_listen(hub, "256.1.1.1", 0, NULL, NULL) < 0, "bad host");
    uint64_t id;
    CHECK(ws_hub_connect(hub, NULL, NULL, &id) == WS_EINVAL, "NULL url");
    CHECK(ws_hub_connect(hub, "http://x/", NULL, &id) == WS_OK, "bad scheme is reported by events");
    int err = 0, closed = 0;
    double deadline = now_s() + 5;
    while (!closed && now_s() < deadline) {
        int n = ws_hub_poll(hub, ev, 4, 100);
        for (int i = 0; i < n; i++) {
            err += ev[i].type == WS_EVENT_ERROR && ev[i].conn == id;
            closed += ev[i].type == WS_EVENT_CLOSE && ev[i].conn == id && ev[i].code == 1006;
        }
    }
    CHECK(err == 1 && closed == 1, "error %d close %d", err, closed);
    CHECK(ws_hub_fd(hub) >= 0, "fd");
    ws_hub_free(hub);
    CHECK(ws_hub_poll(hub, ev, 4, 0) == WS_EBADHANDLE, "freed hub");
    CHECK(ws_hub_send(hub, 1, WS_OP_TEXT, "x", 1) == WS_EBADHANDLE, "freed hub send");
    CHECK(ws_hub_fd((ws_hub_t *)&id) == WS_EBADHANDLE, "made-up hub");
    CHECK(ws_hub_listen((ws_hub_t *)&id, "127.0.0.1", 0, NULL, NULL) == WS_EBADHANDLE, "made-up hub listen");
    ws_hub_free(NULL);
}

#define BOGUS_HUB ((ws_hub_t *)(void *)&bogus_storage[3])
static char bogus_storage[16];

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void put_record(uint8_t *p, int kind, int opcode, int code, uint64_t conn, const void *data, uint32_t len) {
    memset(p, 0, WS_RECORD_HEADER + ((len + 7) & ~7u));
    p[0] = (uint8_t)kind;
    p[1] = (uint8_t)opcode;
    p[2] = (uint8_t)code;
    p[3] = (uint8_t)(code >> 8);
    for (int i = 0; i < 4; i++) p[4 + i] = (uint8_t)(len >> (8 * i));
    for (int i = 0; i < 8; i++) p[8 + i] = (uint8_t)(conn >> (8 * i));
    if (len > 0) memcpy(p + WS_RECORD_HEADER, data, len);
}

/* Raw batches: a client sends four messages (one by reference) in one
 * record batch, reads the echoes as raw records, then closes. */
static void test_raw(int port) {
    ws_hub_t *cli;
    CHECK(new_hub(&cli) == WS_OK, "client hub");
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/raw", port);
    uint64_t id;
    CHECK(ws_hub_connect(cli, url, NULL, &id) == WS_OK, "connect");
    static uint8_t buf[1 << 16];
    int got_open = 0, echoes = 0, closed = 0;
    double deadline = now_s() + 10;
    CHECK(ws_hub_poll_raw(cli, buf, 8, 0) == WS_EINVAL, "cap below a header");
    /* An open event (peer, path, headers) does not fit in 32 bytes: the
     * header arrives so the host can size its buffer. */
    {
        double until = now_s() + 10;
        int rc;
        while ((rc = ws_hub_poll_raw(cli, buf, 32, 100)) == 0 && now_s() < until) {
        }
        CHECK(rc == WS_ENOSPACE && buf[0] == WS_EVENT_OPEN && le32(buf + 4) > 8, "ENOSPACE with the header: rc %d kind %d", rc, buf[0]);
    }
    while (!closed && now_s() < deadline) {
        int n = ws_hub_poll_raw(cli, buf, sizeof buf, 100);
        CHECK(n >= 0, "poll_raw %d", n);
        for (int off = 0; off < n;) {
            uint8_t *r = buf + off;
            uint32_t len = le32(r + 4);
            if (r[0] == WS_EVENT_OPEN) {
                got_open = 1;
                /* Send four messages in one batch, the third by reference
                 * to bytes overwritten as soon as the call returns. */
                static uint8_t cmds[512];
                size_t at = 0;
                const char *msgs[] = {"one", "", NULL, "three"};
                char by_ref[] = "by reference";
                for (int i = 0; i < 4; i++) {
                    if (msgs[i] == NULL) {
                        ws_send_ref_t ref = {(const uint8_t *)by_ref, strlen(by_ref)};
                        put_record(cmds + at, WS_CMD_SEND_REF, WS_OP_TEXT, 0, id, &ref, sizeof ref);
                        at += WS_RECORD_HEADER + sizeof ref;
                        continue;
                    }
                    uint32_t l = (uint32_t)strlen(msgs[i]);
                    put_record(cmds + at, WS_CMD_SEND, WS_OP_TEXT, 0, id, msgs[i], l);
                    at += WS_RECORD_HEADER + ((l + 7) & ~7u);
                }
                CHECK(ws_hub_send_raw(cli, cmds, at) == 4, "send_raw");
                memset(by_ref, 'X', strlen(by_ref));
                uint8_t bad[WS_RECORD_HEADER + 16];
                put_record(bad, 9, 0, 0, id, "x", 1);
                CHECK(ws_hub_send_raw(cli, bad, WS_RECORD_HEADER + 8) == WS_EINVAL, "unknown command kind");
                CHECK(ws_hub_send_raw(cli, cmds, 10) == WS_EINVAL, "truncated batch");
                ws_send_ref_t null_ref = {NULL, 5};
                put_record(bad, WS_CMD_SEND_REF, WS_OP_TEXT, 0, id, &null_ref, sizeof null_ref);
                CHECK(ws_hub_send_raw(cli, bad, sizeof bad) == WS_EINVAL, "reference to NULL");
                put_record(bad, WS_CMD_SEND_REF, WS_OP_TEXT, 0, id, &null_ref, 8);
                CHECK(ws_hub_send_raw(cli, bad, WS_RECORD_HEADER + 8) == WS_EINVAL, "reference record of 8 bytes");
            } else if (r[0] == WS_EVENT_MESSAGE) {
                const char *want[] = {"one", "", "by reference", "three"};
                if (echoes < 4) {
                    CHECK(len == strlen(want[echoes]) && memcmp(r + WS_RECORD_HEADER, want[echoes], len) == 0, "echo %d", echoes);
                }
                if (++echoes == 4) {
                    uint8_t c[WS_RECORD_HEADER + 8];
                    put_record(c, WS_CMD_CLOSE, 0, 4000, id, "raw", 3);
                    CHECK(ws_hub_send_raw(cli, c, sizeof c) == 1, "close record");
                }
            } else if (r[0] == WS_EVENT_CLOSE) {
                closed = 1;
                CHECK((r[2] | r[3] << 8) == 4000, "close code echoed: %d", r[2] | r[3] << 8);
            }
            off += WS_RECORD_HEADER + (int)((len + 7) & ~7u);
        }
    }
    CHECK(got_open && echoes == 4 && closed, "open %d echoes %d closed %d", got_open, echoes, closed);
    ws_hub_free(cli);
}

/* ---- The host contract (docs/hub-contract.md) and the C ABI's checks ---- */

/* The last failing call set this thread's message and the hub's. */
static int failed_with(ws_hub_t *hub, const char *part) {
    return strstr(ws_errmsg(), part) != NULL && strcmp(ws_errmsg(), ws_hub_errmsg(hub)) == 0;
}

/* Makes ws_errmsg() something no hub call says, so a check after a call
 * sees that very call's message. */
static void reset_errmsg(void) {
    ws_options_t *o;
    if (ws_options_new(&o) == WS_OK) {
        ws_options_set_int(o, 9999, 1);
        ws_options_free(o);
    }
}

/* Connects a raw socket to an inline or threaded server hub it polls
 * meanwhile (an inline hub answers handshakes only while polled); fills
 * *open with a copy of the open event (strings copied into the buffers)
 * and returns the socket after the 101, or -1. */
typedef struct {
    uint64_t conn;
    uint32_t listener;
    int error;
    char peer[64], path[256], protocol[64], headers[2048];
} open_info;

static void copy_field(char *dst, size_t cap, const char *src, size_t len) {
    if (len >= cap) len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = 0;
}

static int raw_open(ws_hub_t *srv, int port, const char *path, const char *extra, open_info *open) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n",
                     path, extra);
    if (write(fd, req, (size_t)n) != n) return -1;
    ws_event_t ev[8];
    int got = 0;
    double deadline = now_s() + 10;
    while (!got && now_s() < deadline) {
        int k = ws_hub_poll(srv, ev, 8, 50);
        for (int i = 0; i < k; i++) {
            if (ev[i].type != WS_EVENT_OPEN) continue;
            got = 1;
            open->conn = ev[i].conn;
            open->listener = ev[i].listener;
            open->error = ev[i].error;
            copy_field(open->peer, sizeof open->peer, ev[i].peer, strlen(ev[i].peer));
            copy_field(open->path, sizeof open->path, ev[i].path, strlen(ev[i].path));
            copy_field(open->protocol, sizeof open->protocol, ev[i].protocol, strlen(ev[i].protocol));
            copy_field(open->headers, sizeof open->headers, (const char *)ev[i].data, ev[i].len);
        }
    }
    char buf[1024];
    ssize_t r = read(fd, buf, sizeof buf - 1);
    if (!got || r <= 0 || strncmp(buf, "HTTP/1.1 101", 12) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Writes one masked client frame (key 0: the payload goes as it is). */
static int send_frame(int fd, uint8_t first, const void *data, size_t len) {
    uint8_t f[8 + 125];
    if (len > 125) return -1;
    f[0] = first;
    f[1] = (uint8_t)(0x80 | len);
    memset(f + 2, 0, 4);
    memcpy(f + 6, data, len);
    return write(fd, f, 6 + len) == (ssize_t)(6 + len) ? 0 : -1;
}

/* Reads one unmasked server frame of at most 125 bytes; returns the first
 * header byte, or -1. */
static int read_frame(int fd, uint8_t *payload, size_t *len) {
    uint8_t h[2];
    if (read_full(fd, h, 2) != 0 || (h[1] & 0x7F) > 125) return -1;
    *len = h[1] & 0x7F;
    if (read_full(fd, payload, *len) != 0) return -1;
    return h[0];
}

/* Polls srv until an event of type arrives for conn (copied to *out). */
static int wait_event(ws_hub_t *srv, uint64_t conn, int type, ws_event_t *out, double secs) {
    ws_event_t ev[16];
    double deadline = now_s() + secs;
    while (now_s() < deadline) {
        int n = ws_hub_poll(srv, ev, 16, 20);
        for (int i = 0; i < n; i++) {
            if (ev[i].conn == conn && ev[i].type == type) {
                *out = ev[i];
                return 1;
            }
        }
    }
    return 0;
}

static int new_server(ws_hub_t **srv, int *port) {
    ws_options_t *o;
    if (ws_options_new(&o) != WS_OK) return -1;
    int rc = ws_options_set_int(o, WS_OPT_HUB_THREADED, threaded);
    if (rc == WS_OK) rc = ws_options_set_str(o, WS_OPT_SUBPROTOCOLS, "chat");
    if (rc == WS_OK) rc = ws_hub_new(srv, o);
    ws_options_free(o);
    if (rc != WS_OK) return -1;
    return ws_hub_listen(*srv, "127.0.0.1", 0, NULL, port);
}

/* The open event's fields are decoded from their lengths (defect 6): a
 * path, subprotocol and headers arrive as sent. */
static void test_open_fields(void) {
    ws_hub_t *srv;
    int port = 0;
    int lid = new_server(&srv, &port);
    CHECK(lid > 0, "server: %d", lid);
    if (lid <= 0) return;
    open_info o;
    int fd = raw_open(srv, port, "/chat?room=1", "Sec-WebSocket-Protocol: x, chat\r\nX-Test: yes\r\n", &o);
    CHECK(fd >= 0, "raw open");
    if (fd >= 0) {
        CHECK(strcmp(o.path, "/chat?room=1") == 0, "path '%s'", o.path);
        CHECK(strcmp(o.protocol, "chat") == 0, "protocol '%s'", o.protocol);
        CHECK(strncmp(o.peer, "127.0.0.1:", 10) == 0, "peer '%s'", o.peer);
        CHECK(strstr(o.headers, "X-Test: yes\r\n") != NULL, "headers '%s'", o.headers);
        CHECK(o.listener == (uint32_t)lid && o.error == 0, "listener %u error %d", o.listener, o.error);
        close(fd);
    }
    ws_hub_free(srv);
}

/* Defect 10: calls naming a connection agree on ids that never existed
 * and on ids that are gone; ws_hub_close checks like ws_close; timeouts
 * below -1 are refused; every failure sets both messages. */
static void test_abi_checks(void) {
    ws_hub_t *srv;
    int port = 0;
    CHECK(new_server(&srv, &port) > 0, "server");
    open_info o;
    int fd = raw_open(srv, port, "/", "", &o);
    CHECK(fd >= 0, "raw open");
    if (fd < 0) {
        ws_hub_free(srv);
        return;
    }
    uint64_t id = o.conn;
    ws_event_t ev[4], e;
    uint8_t rec[WS_RECORD_HEADER + 128];

    /* Never handed out: 0 and an id above every one seen. */
    uint64_t unknown[] = {0, id + 1000};
    for (int i = 0; i < 2; i++) {
        uint64_t u = unknown[i];
        reset_errmsg();
        CHECK(ws_hub_send(srv, u, WS_OP_TEXT, "x", 1) == WS_EINVAL && failed_with(srv, "unknown connection"), "send %llu: %s", (unsigned long long)u, ws_errmsg());
        reset_errmsg();
        CHECK(ws_hub_close(srv, u, 1000, "x") == WS_EINVAL && failed_with(srv, "unknown connection"), "close %llu: %s", (unsigned long long)u, ws_errmsg());
        reset_errmsg();
        CHECK(ws_hub_terminate(srv, u) == WS_EINVAL && failed_with(srv, "unknown connection"), "terminate %llu: %s", (unsigned long long)u, ws_errmsg());
        reset_errmsg();
        CHECK(ws_hub_buffered_amount(srv, u) == WS_EINVAL && failed_with(srv, "unknown connection"), "buffered_amount %llu: %s", (unsigned long long)u, ws_errmsg());
        reset_errmsg();
        CHECK(ws_hub_pause(srv, u) == WS_EINVAL && failed_with(srv, "unknown connection"), "pause %llu", (unsigned long long)u);
        CHECK(ws_hub_resume(srv, u) == WS_EINVAL, "resume %llu", (unsigned long long)u);
        ws_send_t item = {u, WS_OP_TEXT, "x", 1};
        CHECK(ws_hub_send_batch(srv, &item, 1) == WS_EINVAL, "batch %llu", (unsigned long long)u);
        put_record(rec, WS_CMD_TERMINATE, 0, 0, u, NULL, 0);
        reset_errmsg();
        CHECK(ws_hub_send_raw(srv, rec, WS_RECORD_HEADER) == WS_EINVAL && failed_with(srv, "offset 0"), "raw %llu: %s", (unsigned long long)u, ws_errmsg());
    }

    /* Close codes and reasons as ws_close checks them; nothing is sent. */
    int bad_codes[] = {1005, 1006, 1015, 999, 2000, 5000, -1, 65536 + 1000};
    for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
        reset_errmsg();
        CHECK(ws_hub_close(srv, id, bad_codes[i], "x") == WS_EINVAL && failed_with(srv, "close code"), "close code %d: %s", bad_codes[i], ws_errmsg());
        put_record(rec, WS_CMD_CLOSE, 0, bad_codes[i] & 0xFFFF, id, "x", 1);
        if (bad_codes[i] >= 0 && bad_codes[i] <= 0xFFFF)
            CHECK(ws_hub_send_raw(srv, rec, WS_RECORD_HEADER + 8) == WS_EINVAL, "close record code %d", bad_codes[i]);
    }
    reset_errmsg();
    CHECK(ws_hub_close(srv, id, 1000, "bad \xff utf-8") == WS_EINVAL && failed_with(srv, "UTF-8"), "invalid UTF-8 reason");
    put_record(rec, WS_CMD_CLOSE, 0, 1000, id, "\xc3", 1);
    CHECK(ws_hub_send_raw(srv, rec, WS_RECORD_HEADER + 8) == WS_EINVAL, "close record with invalid UTF-8");
    reset_errmsg();
    CHECK(ws_hub_close(srv, id, 0, "reason") == WS_EINVAL && failed_with(srv, "close code"), "reason without code");

    /* Timeouts below -1. */
    reset_errmsg();
    CHECK(ws_hub_poll(srv, ev, 4, -2) == WS_EINVAL && failed_with(srv, "timeout_ms"), "poll -2: %s", ws_errmsg());
    uint8_t raw[256];
    reset_errmsg();
    CHECK(ws_hub_poll_raw(srv, raw, sizeof raw, -100) == WS_EINVAL && failed_with(srv, "timeout_ms"), "poll_raw -100");
    reset_errmsg();
    CHECK(ws_hub_send(srv, id, 0x3, "x", 1) == WS_EINVAL && failed_with(srv, "opcode"), "bad opcode message");

    /* The connection is untouched by all that: it echoes. */
    CHECK(send_frame(fd, 0x81, "still", 5) == 0, "client send");
    CHECK(wait_event(srv, id, WS_EVENT_MESSAGE, &e, 5) && e.len == 5 && e.error == 0, "message");
    CHECK(ws_hub_send(srv, id, WS_OP_TEXT, "still", 5) == WS_OK, "reply");
    uint8_t payload[128];
    size_t len = 0;
    CHECK(read_frame(fd, payload, &len) == 0x81 && len == 5 && memcmp(payload, "still", 5) == 0, "echo arrives");
    CHECK(ws_hub_buffered_amount(srv, id) == 0, "nothing buffered");

    /* A valid close goes out as given; the peer's reply ends it. */
    CHECK(ws_hub_close(srv, id, 4000, "bye") == WS_OK, "close 4000");
    CHECK(read_frame(fd, payload, &len) == 0x88 && len == 5 && (payload[0] << 8 | payload[1]) == 4000 && memcmp(payload + 2, "bye", 3) == 0, "close frame 4000 bye");
    uint8_t reply[2] = {0x0F, 0xA0};
    CHECK(send_frame(fd, 0x88, reply, 2) == 0, "close reply");
    CHECK(wait_event(srv, id, WS_EVENT_CLOSE, &e, 5) && e.code == 4000, "close event");
    CHECK(ws_hub_poll(srv, ev, 4, 0) >= 0, "poll acknowledges");

    /* Gone: quietly dropped, nothing buffered. */
    CHECK(ws_hub_send(srv, id, WS_OP_TEXT, "late", 4) == WS_OK, "send to a gone conn");
    CHECK(ws_hub_close(srv, id, 1000, NULL) == WS_OK, "close a gone conn");
    CHECK(ws_hub_terminate(srv, id) == WS_OK, "terminate a gone conn");
    CHECK(ws_hub_pause(srv, id) == WS_OK && ws_hub_resume(srv, id) == WS_OK, "pause/resume a gone conn");
    CHECK(ws_hub_buffered_amount(srv, id) == 0, "buffered_amount of a gone conn");
    close(fd);

    reset_errmsg();
    CHECK(ws_hub_send(BOGUS_HUB, 1, WS_OP_TEXT, "x", 1) == WS_EBADHANDLE && strstr(ws_errmsg(), "ws_hub_t") != NULL, "bad handle message");
    /* Each call names itself in the message of a bad handle. */
    reset_errmsg();
    CHECK(ws_hub_fd(BOGUS_HUB) == WS_EBADHANDLE && strstr(ws_errmsg(), "ws_hub_fd") != NULL, "fd: %s", ws_errmsg());
    reset_errmsg();
    CHECK(ws_hub_poll(BOGUS_HUB, ev, 4, 0) == WS_EBADHANDLE && strstr(ws_errmsg(), "ws_hub_poll") != NULL, "poll: %s", ws_errmsg());
    reset_errmsg();
    CHECK(ws_hub_pause(BOGUS_HUB, 1) == WS_EBADHANDLE && strstr(ws_errmsg(), "ws_hub_pause") != NULL, "pause: %s", ws_errmsg());
    reset_errmsg();
    CHECK(ws_hub_buffered_amount(BOGUS_HUB, 1) == WS_EBADHANDLE && strstr(ws_errmsg(), "ws_hub_buffered_amount") != NULL, "buffered_amount: %s", ws_errmsg());
    reset_errmsg();
    CHECK(ws_hub_shutdown(srv, -1) == WS_EINVAL && failed_with(srv, "timeout_ms"), "shutdown -1: %s", ws_errmsg());
    reset_errmsg();
    CHECK(ws_hub_listen(srv, "127.0.0.1", 70000, NULL, NULL) == WS_EINVAL && failed_with(srv, "port"), "listen port: %s", ws_errmsg());
    reset_errmsg();
    CHECK(ws_hub_listen(srv, "256.1.1.1", 0, NULL, NULL) == WS_EIO && failed_with(srv, "ws_hub_listen"), "listen bad host: %s", ws_errmsg());
    reset_errmsg();
    CHECK(ws_hub_connect(srv, NULL, NULL, NULL) == WS_EINVAL && failed_with(srv, "ws_hub_connect"), "connect NULL: %s", ws_errmsg());
    ws_hub_free(srv);
}

/* Error events carry their WS_E* class (record offset 20, ws_event_t.error),
 * both through ws_hub_poll and ws_hub_poll_raw. */
static void test_error_status(int raw_poll) {
    ws_hub_t *srv;
    int port = 0;
    CHECK(new_server(&srv, &port) > 0, "server");
    open_info o;
    int fd = raw_open(srv, port, "/", "", &o);
    CHECK(fd >= 0, "raw open");
    if (fd < 0) {
        ws_hub_free(srv);
        return;
    }
    CHECK(send_frame(fd, 0x80 | 0x40 | 0x1, "rsv1", 4) == 0, "frame with RSV1");
    int status = 1, code = 0, closed = 0;
    double deadline = now_s() + 10;
    static uint8_t buf[1 << 16];
    while (!closed && now_s() < deadline) {
        if (raw_poll) {
            int n = ws_hub_poll_raw(srv, buf, sizeof buf, 20);
            for (int off = 0; off < n;) {
                uint8_t *r = buf + off;
                if (r[0] == WS_EVENT_ERROR) {
                    status = (int32_t)le32(r + 20);
                    code = r[2] | r[3] << 8;
                }
                closed |= r[0] == WS_EVENT_CLOSE;
                off += WS_RECORD_HEADER + (int)((le32(r + 4) + 7) & ~7u);
            }
        } else {
            ws_event_t ev[8];
            int n = ws_hub_poll(srv, ev, 8, 20);
            for (int i = 0; i < n; i++) {
                if (ev[i].type == WS_EVENT_ERROR) {
                    status = ev[i].error;
                    code = ev[i].code;
                }
                closed |= ev[i].type == WS_EVENT_CLOSE;
            }
        }
    }
    CHECK(closed && status == WS_EPROTO && code == 1002, "raw %d: closed %d status %d code %d", raw_poll, closed, status, code);
    close(fd);
    ws_hub_free(srv);
}

/* The buffer limits reach the hub through their options: a client that
 * never reads is failed with 1008 and error WS_EPOLICY, by the
 * per-connection cap or by the hub-wide one (WS_OPT_HUB_MAX_TOTAL_BUFFERED,
 * with two such clients whose sum passes it, each under its own cap). */
static void test_buffer_limits(int hub_wide) {
    ws_hub_t *srv;
    ws_options_t *o;
    int port = 0;
    if (ws_options_new(&o) != WS_OK) return;
    CHECK(ws_options_set_int(o, WS_OPT_HUB_THREADED, threaded) == WS_OK, "threaded");
    CHECK(ws_options_set_int(o, hub_wide ? WS_OPT_HUB_MAX_TOTAL_BUFFERED : WS_OPT_HUB_MAX_BUFFERED, 2 << 20) == WS_OK, "limit");
    CHECK(ws_hub_new(&srv, o) == WS_OK, "hub");
    ws_options_free(o);
    CHECK(ws_hub_listen(srv, "127.0.0.1", 0, NULL, &port) > 0, "listen");
    enum { N = 2 };
    open_info info[N];
    int fd[N];
    for (int i = 0; i < N; i++) {
        fd[i] = raw_open(srv, port, "/", "", &info[i]);
        CHECK(fd[i] >= 0, "raw open %d", i);
        int small = 4096;
        if (fd[i] >= 0) setsockopt(fd[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    static uint8_t chunk[64 << 10];
    int failed_1008 = 0, status = 0, closes = 0;
    double deadline = now_s() + 20;
    /* Hub-wide: 16 MiB to each, far under its own cap (64 MiB) and far
     * over the sum of 2 MiB plus what the kernel's buffers take. */
    int sent = 0, cap = hub_wide ? 256 : 1024;
    while (closes < (hub_wide ? 1 : N) && now_s() < deadline) {
        for (int i = 0; i < N && sent < cap; i++) ws_hub_send(srv, info[i].conn, WS_OP_BINARY, chunk, sizeof chunk);
        if (sent < cap) sent++;
        ws_event_t ev[16];
        int n = ws_hub_poll(srv, ev, 16, sent < cap ? 0 : 20);
        for (int k = 0; k < n; k++) {
            if (ev[k].type == WS_EVENT_ERROR) {
                failed_1008 += ev[k].code == 1008;
                status = ev[k].error;
            }
            closes += ev[k].type == WS_EVENT_CLOSE;
        }
    }
    CHECK(failed_1008 >= 1 && status == WS_EPOLICY && closes >= 1, "hub-wide %d: 1008 errors %d status %d closes %d (sent %d x 64 KiB each)", hub_wide, failed_1008, status, closes, sent);
    for (int i = 0; i < N; i++)
        if (fd[i] >= 0) close(fd[i]);
    ws_hub_free(srv);
}

/* A paused connection's messages wait in the socket until it is resumed. */
static void test_pause(void) {
    ws_hub_t *srv;
    int port = 0;
    CHECK(new_server(&srv, &port) > 0, "server");
    open_info o;
    int fd = raw_open(srv, port, "/", "", &o);
    CHECK(fd >= 0, "raw open");
    if (fd < 0) {
        ws_hub_free(srv);
        return;
    }
    ws_event_t e;
    CHECK(ws_hub_pause(srv, o.conn) == WS_OK, "pause");
    CHECK(ws_hub_pause(srv, o.conn) == WS_OK, "pause again");
    usleep(100 * 1000); /* a threaded hub's loop takes the command */
    CHECK(send_frame(fd, 0x81, "held", 4) == 0, "send while paused");
    CHECK(!wait_event(srv, o.conn, WS_EVENT_MESSAGE, &e, 0.5), "no message while paused");
    uint8_t rec[WS_RECORD_HEADER];
    put_record(rec, WS_CMD_RESUME, 0, 0, o.conn, NULL, 0);
    CHECK(ws_hub_send_raw(srv, rec, sizeof rec) == 1, "resume record");
    CHECK(wait_event(srv, o.conn, WS_EVENT_MESSAGE, &e, 5) && e.len == 4 && memcmp(e.data, "held", 4) == 0, "message after resume");
    close(fd);
    ws_hub_free(srv);
}

int main(void) {
    for (threaded = 0; threaded <= 1; threaded++) {
        echo_server s;
        pthread_t t;
        int port = start_server(&s, &t);
        CHECK(port > 0, "server start");
        test_errors();
        test_many_clients(port, 1000, 5);
        test_raw(port);
        test_pipelined(port);
        test_abrupt(&s, port);
        test_backpressure(&s, port);
        stop_server(&s, t);
        test_shutdown();
        test_open_fields();
        test_abi_checks();
        test_error_status(0);
        test_error_status(1);
        test_pause();
        test_buffer_limits(0);
        test_buffer_limits(1);
    }
    printf("test_hub: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
