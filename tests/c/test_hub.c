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
#include <signal.h>
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
    /* The hub stops reading a connection backed up above the high-water
     * mark, so these writes block once the kernel's buffers are full:
     * bounded, they end the loop instead of hanging it. */
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
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

/* Every event of a connection carries the user value set for it, up to
 * its close event; 0 clears it; ids never handed out are refused. */
static void test_user_data(void) {
    ws_hub_t *srv;
    int port = 0;
    CHECK(new_server(&srv, &port) > 0, "server");
    open_info o[3];
    int fd[3];
    for (int i = 0; i < 3; i++) {
        fd[i] = raw_open(srv, port, "/", "", &o[i]);
        CHECK(fd[i] >= 0, "raw open %d", i);
        if (fd[i] < 0) {
            ws_hub_free(srv);
            return;
        }
        CHECK(ws_hub_set_user(srv, o[i].conn, 0xABC000u + (uint64_t)i) == WS_OK, "set user %d", i);
    }
    CHECK(ws_hub_set_user(srv, o[1].conn, 0) == WS_OK, "clear user 1");
    uint64_t u = 1;
    CHECK(ws_hub_user(srv, o[2].conn, &u) == WS_OK && u == 0xABC002u, "user read back: %llx", (unsigned long long)u);
    CHECK(ws_hub_user(srv, o[1].conn, &u) == WS_OK && u == 0, "cleared: %llx", (unsigned long long)u);
    CHECK(ws_hub_set_user(srv, 0, 1) == WS_EINVAL, "conn 0");
    CHECK(ws_hub_set_user(srv, o[2].conn + 1000, 1) == WS_EINVAL, "unknown conn");
    CHECK(ws_hub_user(srv, o[2].conn, NULL) == WS_EINVAL, "NULL out");
    CHECK(ws_hub_set_user(NULL, 1, 1) == WS_EBADHANDLE, "bad hub");
    ws_event_t e;
    for (int i = 0; i < 3; i++) {
        CHECK(send_frame(fd[i], 0x81, "hi", 2) == 0, "send %d", i);
        uint64_t want = i == 1 ? 0 : 0xABC000u + (uint64_t)i;
        CHECK(wait_event(srv, o[i].conn, WS_EVENT_MESSAGE, &e, 5) && e.user == want, "message %d user %llx", i, (unsigned long long)e.user);
    }
    close(fd[0]);
    CHECK(wait_event(srv, o[0].conn, WS_EVENT_CLOSE, &e, 5) && e.user == 0xABC000u, "close carries user %llx", (unsigned long long)e.user);
    ws_event_t ev[4];
    ws_hub_poll(srv, ev, 4, 0); /* acknowledges the close: the value is forgotten */
    CHECK(ws_hub_user(srv, o[0].conn, &u) == WS_OK && u == 0, "forgotten after the close: %llx", (unsigned long long)u);
    /* Many values: the table grows and keeps them apart. */
    for (uint64_t c = 1; c <= 500; c++) ws_hub_set_user(srv, o[2].conn, c);
    CHECK(ws_hub_user(srv, o[2].conn, &u) == WS_OK && u == 500, "last value wins: %llu", (unsigned long long)u);
    close(fd[1]);
    close(fd[2]);

    /* Many connections (client ids, known at once): values set, read
     * back, half of them cleared, the rest intact. */
    ws_hub_t *cli;
    CHECK(new_hub(&cli) == WS_OK, "client hub");
    enum { MANY = 300 };
    static uint64_t ids[MANY];
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    int ok = 1;
    for (int i = 0; i < MANY; i++) ok &= ws_hub_connect(cli, url, NULL, &ids[i]) == WS_OK && ws_hub_set_user(cli, ids[i], 1000 + (uint64_t)i) == WS_OK;
    CHECK(ok, "connect and set %d", MANY);
    for (int i = 0; i < MANY; i += 2) ok &= ws_hub_set_user(cli, ids[i], 0) == WS_OK;
    int wrong = 0;
    for (int i = 0; i < MANY; i++) {
        uint64_t v = 1;
        ws_hub_user(cli, ids[i], &v);
        wrong += v != (i % 2 ? 1000 + (uint64_t)i : 0);
    }
    CHECK(ok && wrong == 0, "%d of %d values wrong after clearing half", wrong, MANY);
    ws_hub_free(cli);
    ws_hub_free(srv);
}

/* Keepalive: a raw peer that never answers pings is closed within
 * interval + timeout with 1011 "keepalive ping timeout" (WS_ETIMEDOUT);
 * one that answers stays open and its pong reports the round trip. */
static int new_keepalive_server(ws_hub_t **srv, int *port) {
    ws_options_t *o;
    if (ws_options_new(&o) != WS_OK) return -1;
    int rc = ws_options_set_int(o, WS_OPT_HUB_THREADED, threaded);
    if (rc == WS_OK) rc = ws_options_set_int(o, WS_OPT_HUB_PING_INTERVAL_MS, 200);
    if (rc == WS_OK) rc = ws_options_set_int(o, WS_OPT_HUB_PONG_TIMEOUT_MS, 300);
    if (rc == WS_OK) rc = ws_hub_new(srv, o);
    ws_options_free(o);
    if (rc != WS_OK) return -1;
    return ws_hub_listen(*srv, "127.0.0.1", 0, NULL, port);
}

/* Polls srv until conn's close event, noting whether an error event with
 * code and status came before it; returns 1 if the close came. */
static int wait_close_after_error(ws_hub_t *srv, uint64_t conn, int code, int status, int *saw_error, double secs) {
    ws_event_t ev[16];
    double deadline = now_s() + secs;
    *saw_error = 0;
    while (now_s() < deadline) {
        int n = ws_hub_poll(srv, ev, 16, 20);
        for (int i = 0; i < n; i++) {
            if (ev[i].conn != conn) continue;
            if (ev[i].type == WS_EVENT_ERROR && ev[i].code == code && ev[i].error == status) *saw_error = 1;
            if (ev[i].type == WS_EVENT_CLOSE) return 1;
        }
    }
    return 0;
}

/* Reads one frame as read_frame does, polling srv (an inline hub sends
 * only while polled) until fd is readable. */
static int read_frame_polling(ws_hub_t *srv, int fd, uint8_t *payload, size_t *len) {
    ws_event_t ev[16];
    double deadline = now_s() + 5;
    while (now_s() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) == 1) return read_frame(fd, payload, len);
        ws_hub_poll(srv, ev, 16, 20);
    }
    return -1;
}

/* Reads len bytes from fd, polling srv meanwhile (an inline hub writes
 * only while it is polled). */
static int read_full_polling(ws_hub_t *srv, int fd, uint8_t *buf, size_t len) {
    ws_event_t ev[16];
    double deadline = now_s() + 10;
    for (size_t got = 0; got < len;) {
        if (now_s() > deadline) return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) != 1) {
            ws_hub_poll(srv, ev, 16, 5);
            continue;
        }
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    return 0;
}

/* Events of one turn that outgrow the room the hub keeps for them (big
 * messages on several connections at once), taken one per poll: each
 * arrives whole and in its connection's order, and its data stays valid
 * while the host echoes it, before the next poll. */
static void test_poll_one_at_a_time(void) {
    enum { CONNS = 6, MSGS = 2, SIZE = 60000 };
    ws_hub_t *srv;
    int port = 0;
    int lid = new_server(&srv, &port);
    CHECK(lid > 0, "server: %d", lid);
    if (lid <= 0) return;
    int fds[CONNS];
    uint64_t ids[CONNS];
    static uint8_t frame[8 + SIZE], want[SIZE], got[SIZE];
    for (int c = 0; c < CONNS; c++) {
        open_info o;
        fds[c] = raw_open(srv, port, "/", "", &o);
        ids[c] = o.conn;
        CHECK(fds[c] >= 0, "raw open %d", c);
        if (fds[c] < 0) return;
    }
    /* Everything is written before the server polls again: its next turns
     * find every connection readable. */
    for (int c = 0; c < CONNS; c++) {
        for (int m = 0; m < MSGS; m++) {
            frame[0] = 0x82;
            frame[1] = 0x80 | 126;
            frame[2] = SIZE >> 8;
            frame[3] = SIZE & 0xFF;
            memset(frame + 4, 0, 4);
            fill(frame + 8, SIZE, (uint64_t)(c * MSGS + m));
            CHECK(write(fds[c], frame, 8 + SIZE) == 8 + SIZE, "write %d/%d", c, m);
        }
    }
    int next[CONNS] = {0}, total = 0, bad = 0;
    double deadline = now_s() + 10;
    while (total < CONNS * MSGS && now_s() < deadline) {
        ws_event_t ev;
        if (ws_hub_poll(srv, &ev, 1, 20) != 1 || ev.type != WS_EVENT_MESSAGE) continue;
        int c = 0;
        while (c < CONNS && ids[c] != ev.conn) c++;
        if (c == CONNS || next[c] >= MSGS) {
            bad++;
            continue;
        }
        fill(want, SIZE, (uint64_t)(c * MSGS + next[c]));
        if (ev.len != SIZE || memcmp(ev.data, want, SIZE) != 0) bad++;
        CHECK(ws_hub_send(srv, ev.conn, ev.opcode, ev.data, ev.len) == WS_OK, "echo");
        next[c]++;
        total++;
    }
    CHECK(total == CONNS * MSGS && bad == 0, "%d of %d messages, %d wrong", total, CONNS * MSGS, bad);
    for (int c = 0; c < CONNS; c++) {
        for (int m = 0; m < MSGS && bad == 0; m++) {
            uint8_t h[4];
            fill(want, SIZE, (uint64_t)(c * MSGS + m));
            if (read_full_polling(srv, fds[c], h, 4) != 0 || h[0] != 0x82 || h[1] != 126 || (h[2] << 8 | h[3]) != SIZE ||
                read_full_polling(srv, fds[c], got, SIZE) != 0 || memcmp(got, want, SIZE) != 0)
                bad++;
        }
        close(fds[c]);
    }
    CHECK(bad == 0, "an echo came back wrong or missing");
    ws_hub_free(srv);
}

static void test_keepalive(void) {
    ws_hub_t *srv;
    int port = 0;
    CHECK(new_keepalive_server(&srv, &port) > 0, "server");
    open_info o;
    int fd = raw_open(srv, port, "/", "", &o);
    CHECK(fd >= 0, "raw open");
    if (fd < 0) {
        ws_hub_free(srv);
        return;
    }
    double start = now_s();
    ws_event_t e;
    int saw_error;
    CHECK(wait_close_after_error(srv, o.conn, 1011, WS_ETIMEDOUT, &saw_error, 5) && saw_error, "keepalive error %d, then close", saw_error);
    double took = now_s() - start;
    CHECK(took < 2.0, "closed after %.2f s (interval + timeout: 0.5 s)", took);
    /* The peer got the ping, then the close frame 1011. */
    uint8_t payload[125];
    size_t len;
    int first = read_frame(fd, payload, &len);
    CHECK(first == 0x89 && len == 8, "ping first: %x len %zu", first, len);
    first = read_frame(fd, payload, &len);
    CHECK(first == 0x88 && len >= 2 && (payload[0] << 8 | payload[1]) == 1011, "close 1011: %x", first);
    close(fd);

    /* A peer that answers: the pong event carries the round trip. */
    fd = raw_open(srv, port, "/", "", &o);
    CHECK(fd >= 0, "raw open 2");
    if (fd >= 0) {
        first = read_frame_polling(srv, fd, payload, &len);
        CHECK(first == 0x89, "ping: %x", first);
        usleep(3000);
        CHECK(send_frame(fd, 0x8A, payload, len) == 0, "pong");
        CHECK(wait_event(srv, o.conn, WS_EVENT_PONG, &e, 5) && e.latency_us >= 3000 && e.latency_us < 5000000,
              "pong latency %u us", e.latency_us);
        int64_t lat = ws_hub_latency(srv, o.conn);
        CHECK(lat >= 3000 && lat == (int64_t)e.latency_us, "ws_hub_latency %lld", (long long)lat);
        /* An unsolicited pong answers no keepalive ping. */
        CHECK(send_frame(fd, 0x8A, "x", 1) == 0, "unsolicited pong");
        CHECK(wait_event(srv, o.conn, WS_EVENT_PONG, &e, 5) && e.latency_us == 0, "no latency %u", e.latency_us);
        CHECK(ws_hub_latency(srv, 0) == WS_EINVAL, "latency of conn 0");
        CHECK(ws_hub_latency(NULL, o.conn) == WS_EBADHANDLE, "latency bad hub");
        close(fd);
    }
    ws_hub_free(srv);
}

/* ---- Handshake control (WS_OPT_HUB_HANDSHAKE_CONTROL) ---- */

/* Connects a raw socket and writes an upgrade request offering "x, chat"
 * and an extension; returns the socket or -1. */
static int raw_request(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    const char *req = "GET /room?id=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Protocol: x, chat\r\nSec-WebSocket-Extensions: x-test\r\nAuthorization: Bearer t\r\n\r\n";
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Events read_polling took while it polled, for the checks after it. */
static struct {
    int type, code;
    uint64_t conn;
    char protocol[32];
    char data[32];
    size_t len;
} stash[64];
static int nstash;

static void stash_events(const ws_event_t *ev, int n) {
    for (int i = 0; i < n && nstash < 64; i++) {
        stash[nstash].type = ev[i].type;
        stash[nstash].code = ev[i].code;
        stash[nstash].conn = ev[i].conn;
        stash[nstash].protocol[0] = 0;
        if (ev[i].type == WS_EVENT_OPEN) copy_field(stash[nstash].protocol, 32, ev[i].protocol, strlen(ev[i].protocol));
        stash[nstash].len = ev[i].len;
        copy_field(stash[nstash].data, 32, (const char *)ev[i].data, ev[i].len);
        nstash++;
    }
}

/* Polls srv, stashing its events, until conn's event of type is in the
 * stash; returns its index or -1. */
static int wait_stash(ws_hub_t *srv, uint64_t conn, int type) {
    ws_event_t ev[16];
    double deadline = now_s() + 5;
    do {
        for (int i = 0; i < nstash; i++)
            if (stash[i].conn == conn && stash[i].type == type) return i;
        stash_events(ev, ws_hub_poll(srv, ev, 16, 20));
    } while (now_s() < deadline);
    return -1;
}

/* Finds conn's event of type in the stash, or polls for it. */
static int stashed_or_wait(ws_hub_t *srv, uint64_t conn, int type, int *code, char *protocol) {
    for (int i = 0; i < nstash; i++) {
        if (stash[i].conn == conn && stash[i].type == type) {
            *code = stash[i].code;
            strcpy(protocol, stash[i].protocol);
            return 1;
        }
    }
    ws_event_t e;
    if (!wait_event(srv, conn, type, &e, 5)) return 0;
    *code = e.code;
    copy_field(protocol, 32, e.protocol ? e.protocol : "", e.protocol ? strlen(e.protocol) : 0);
    return 1;
}

/* Reads what fd gives into buf (NUL-terminated), polling srv meanwhile,
 * until the response head is in (until_eof: until EOF); returns the
 * length, or -1 on timeout. */
static int read_polling(ws_hub_t *srv, int fd, char *buf, size_t cap, int until_eof) {
    size_t len = 0;
    ws_event_t ev[16];
    double deadline = now_s() + 5;
    buf[0] = 0;
    while (now_s() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) == 1) {
            ssize_t r = read(fd, buf + len, cap - 1 - len);
            if (r <= 0) return until_eof ? (int)len : -1;
            len += (size_t)r;
            buf[len] = 0;
            if (!until_eof && strstr(buf, "\r\n\r\n")) return (int)len;
            continue;
        }
        stash_events(ev, ws_hub_poll(srv, ev, 16, 20));
    }
    return -1;
}

/* Polls until the request event; copies it into *e (strings into o). */
static int wait_request(ws_hub_t *srv, ws_event_t *e, open_info *o, char *method, char *ext) {
    ws_event_t ev[16];
    double deadline = now_s() + 5;
    while (now_s() < deadline) {
        int n = ws_hub_poll(srv, ev, 16, 20);
        for (int i = 0; i < n; i++) {
            if (ev[i].type != WS_EVENT_REQUEST) continue;
            *e = ev[i];
            o->conn = ev[i].conn;
            o->listener = ev[i].listener;
            copy_field(o->peer, sizeof o->peer, ev[i].peer, strlen(ev[i].peer));
            copy_field(o->path, sizeof o->path, ev[i].path, strlen(ev[i].path));
            copy_field(o->protocol, sizeof o->protocol, ev[i].protocol, strlen(ev[i].protocol));
            copy_field(o->headers, sizeof o->headers, (const char *)ev[i].data, ev[i].len);
            copy_field(method, 16, ev[i].method, strlen(ev[i].method));
            copy_field(ext, 64, ev[i].extensions, strlen(ev[i].extensions));
            return 1;
        }
    }
    return 0;
}

static int new_control_server(ws_hub_t **srv, int *port) {
    ws_options_t *o;
    if (new_hub(srv) != WS_OK || ws_options_new(&o) != WS_OK) return -1;
    int rc = ws_options_set_int(o, WS_OPT_HUB_HANDSHAKE_CONTROL, 1);
    if (rc == WS_OK) rc = ws_options_set_str(o, WS_OPT_SUBPROTOCOLS, "chat");
    if (rc == WS_OK) rc = ws_hub_listen(*srv, "127.0.0.1", 0, o, port);
    ws_options_free(o);
    return rc;
}

static void test_handshake_control(void) {
    ws_hub_t *srv;
    int port = 0;
    int lid = new_control_server(&srv, &port);
    CHECK(lid > 0, "server %d", lid);
    if (lid <= 0) return;
    char buf[4096], method[16], ext[64];
    ws_event_t e;
    open_info o;
    nstash = 0;

    /* Accepted, from a later poll than the request's, with the host's
     * subprotocol and a header. */
    int fd = raw_request(port);
    CHECK(fd >= 0 && wait_request(srv, &e, &o, method, ext), "request event");
    CHECK(strcmp(method, "GET") == 0 && strcmp(o.path, "/room?id=7") == 0 && strcmp(o.protocol, "x, chat") == 0 &&
              strcmp(ext, "x-test") == 0 && strncmp(o.peer, "127.0.0.1:", 10) == 0 && o.listener == (uint32_t)lid &&
              strstr(o.headers, "Authorization: Bearer t\r\n") != NULL,
          "request fields: %s %s '%s' '%s' %s", method, o.path, o.protocol, ext, o.peer);
    ws_event_t ev[8];
    CHECK(ws_hub_poll(srv, ev, 8, 100) == 0, "nothing until the answer");
    CHECK(ws_hub_accept(srv, o.conn, "x", "X-Auth: ok\r\n") == WS_OK, "accept");
    CHECK(read_polling(srv, fd, buf, sizeof buf, 0) > 0 && strncmp(buf, "HTTP/1.1 101", 12) == 0 &&
              strstr(buf, "Sec-WebSocket-Protocol: x\r\n") && strstr(buf, "X-Auth: ok\r\n"),
          "101: %s", buf);
    int code;
    char proto[32];
    CHECK(stashed_or_wait(srv, o.conn, WS_EVENT_OPEN, &code, proto) && strcmp(proto, "x") == 0, "open, protocol x");
    close(fd);

    /* Rejected with 401, headers and a body; the close event follows. */
    fd = raw_request(port);
    CHECK(fd >= 0 && wait_request(srv, &e, &o, method, ext), "request event 2");
    CHECK(ws_hub_reject(srv, o.conn, 401, "WWW-Authenticate: Bearer\r\n", "nope", 4) == WS_OK, "reject");
    int n = read_polling(srv, fd, buf, sizeof buf, 1);
    CHECK(n > 0 && strncmp(buf, "HTTP/1.1 401 Unauthorized\r\n", 27) == 0 && strcasestr(buf, "WWW-Authenticate: Bearer\r\n") &&
              strstr(buf, "\r\n\r\nnope") && strstr(buf, "Content-Length: 4\r\n"),
          "401: %s", buf);
    CHECK(stashed_or_wait(srv, o.conn, WS_EVENT_CLOSE, &code, proto) && code == 1006, "close after reject");
    close(fd);

    /* A subprotocol the client did not offer: 500, WS_EINVAL, close. */
    fd = raw_request(port);
    CHECK(fd >= 0 && wait_request(srv, &e, &o, method, ext), "request event 3");
    CHECK(ws_hub_accept(srv, o.conn, "other", NULL) == WS_OK, "accept other");
    n = read_polling(srv, fd, buf, sizeof buf, 1);
    CHECK(n > 0 && strncmp(buf, "HTTP/1.1 500", 12) == 0, "500: %s", buf);
    close(fd);

    /* A raw WS_CMD_REJECT record, as bindings send it. */
    fd = raw_request(port);
    CHECK(fd >= 0 && wait_request(srv, &e, &o, method, ext), "request event 4");
    uint8_t raw[WS_RECORD_HEADER + 24];
    const uint8_t fields[] = {0, 0, 0, 0, 0, 4, 0, 0, 0, 'g', 'o', 'n', 'e', 0};
    put_record(raw, WS_CMD_REJECT, 0, 410, o.conn, fields, sizeof fields);
    CHECK(ws_hub_send_raw(srv, raw, WS_RECORD_HEADER + 16) == 1, "reject record");
    n = read_polling(srv, fd, buf, sizeof buf, 1);
    CHECK(n > 0 && strncmp(buf, "HTTP/1.1 410 Gone\r\n", 19) == 0 && strstr(buf, "\r\n\r\ngone"), "410: %s", buf);
    close(fd);

    /* Arguments the C ABI refuses at once. */
    CHECK(ws_hub_reject(srv, o.conn, 99, NULL, NULL, 0) == WS_EINVAL && failed_with(srv, "200..599"), "status 99");
    CHECK(ws_hub_reject(srv, o.conn, 403, NULL, NULL, 3) == WS_EINVAL, "NULL body");
    CHECK(ws_hub_accept(srv, o.conn, "a\r\nb", NULL) == WS_EINVAL, "CRLF in subprotocol");
    CHECK(ws_hub_accept(srv, o.conn, NULL, "X-A: 1\nX-B: 2\r\n") == WS_EINVAL, "bare LF in headers");
    CHECK(ws_hub_accept(srv, 0, NULL, NULL) == WS_EINVAL, "conn 0");
    CHECK(ws_hub_accept(NULL, o.conn, NULL, NULL) == WS_EBADHANDLE, "bad hub");
    uint8_t rec[WS_RECORD_HEADER + 8];
    put_record(rec, WS_CMD_ACCEPT, 0, 0, o.conn, "\x09\0\0\0abc", 8);
    CHECK(ws_hub_send_raw(srv, rec, sizeof rec) == WS_EINVAL, "malformed accept record");
    ws_hub_free(srv);
}

/* Handshake control on a TLS listener, with a hub client as the peer: an
 * accepted request opens with the host's subprotocol; a rejected one is
 * an opening-handshake error for the client. */
static void test_handshake_control_tls(void) {
    const char *dir = getenv("LIBWS_TEST_DATA");
    char cert[512], key[512], ca[512], url[64];
    snprintf(cert, sizeof cert, "%s/server.pem", dir ? dir : LIBWS_TEST_DATA_DIR);
    snprintf(key, sizeof key, "%s/server.key", dir ? dir : LIBWS_TEST_DATA_DIR);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir ? dir : LIBWS_TEST_DATA_DIR);
    ws_hub_t *srv, *cli;
    CHECK(new_hub(&srv) == WS_OK && new_hub(&cli) == WS_OK, "hubs");
    ws_options_t *lo, *co;
    ws_options_new(&lo);
    ws_options_new(&co);
    ws_options_set_int(lo, WS_OPT_HUB_HANDSHAKE_CONTROL, 1);
    ws_options_set_str(lo, WS_OPT_TLS_CERT_FILE, cert);
    ws_options_set_str(lo, WS_OPT_TLS_KEY_FILE, key);
    ws_options_set_str(co, WS_OPT_TLS_CA_FILE, ca);
    ws_options_set_str(co, WS_OPT_SUBPROTOCOLS, "x, chat");
    int port = 0;
    CHECK(ws_hub_listen(srv, "127.0.0.1", 0, lo, &port) > 0, "TLS listener");
    snprintf(url, sizeof url, "wss://localhost:%d/tls", port);
    uint64_t c1, c2;
    CHECK(ws_hub_connect(cli, url, co, &c1) == WS_OK, "connect 1");
    ws_event_t e;
    open_info o;
    char method[16], ext[64];
    CHECK(wait_request(srv, &e, &o, method, ext) && strcmp(o.protocol, "x, chat") == 0 && strcmp(o.path, "/tls") == 0,
          "TLS request: '%s' %s", o.protocol, o.path);
    CHECK(ws_hub_accept(srv, o.conn, "chat", "X-Tls: yes\r\n") == WS_OK, "accept");
    CHECK(wait_event(cli, c1, WS_EVENT_OPEN, &e, 10) && strcmp(e.protocol, "chat") == 0 && e.data && e.len > 0 &&
              memmem(e.data, e.len, "X-Tls: yes", 10) != NULL,
          "client open with chat and the header");
    CHECK(ws_hub_connect(cli, url, co, &c2) == WS_OK, "connect 2");
    CHECK(wait_request(srv, &e, &o, method, ext), "TLS request 2");
    CHECK(ws_hub_reject(srv, o.conn, 403, NULL, "no", 2) == WS_OK, "reject");
    int saw_error;
    CHECK(wait_close_after_error(cli, c2, 403, WS_EHANDSHAKE, &saw_error, 10) && saw_error, "client: handshake error with the HTTP status %d, then close", saw_error);
    ws_options_free(lo);
    ws_options_free(co);
    ws_hub_free(cli);
    ws_hub_free(srv);
}

/* ---- ws_hub_adopt: a C program that reads the request itself ---- */

/* Accepts one connection on ln and reads from it until the request head
 * is in (and whatever came with it); returns the socket, its bytes in
 * buf, *n their count. */
static int c_server_read_head(int ln, char *buf, size_t cap, size_t *n) {
    int fd = accept(ln, NULL, NULL);
    *n = 0;
    if (fd < 0) return -1;
    while (*n < cap - 1) {
        ssize_t r = read(fd, buf + *n, cap - 1 - *n);
        if (r <= 0) break;
        *n += (size_t)r;
        buf[*n] = 0;
        if (strstr(buf, "\r\n\r\n")) return fd;
    }
    close(fd);
    return -1;
}

static void test_adopt(void) {
    ws_hub_t *srv;
    nstash = 0;
    if (new_hub(&srv) != WS_OK) {
        CHECK(0, "hub");
        return;
    }
    int ln = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    CHECK(bind(ln, (struct sockaddr *)&a, sizeof a) == 0 && listen(ln, 8) == 0 && getsockname(ln, (struct sockaddr *)&a, &alen) == 0, "listen");

    /* The request and a first frame in one write: the C server reads both
     * and hands them over. */
    int cl = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(cl, (struct sockaddr *)&a, sizeof a) == 0, "connect");
    char req[512];
    int rn = snprintf(req, sizeof req,
                      "GET /adopted HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    uint8_t frame[8] = {0x81, 0x82, 0, 0, 0, 0, 'h', 'i'};
    memcpy(req + rn, frame, sizeof frame);
    CHECK(write(cl, req, (size_t)rn + sizeof frame) == rn + (ssize_t)sizeof frame, "client request");
    usleep(50 * 1000); /* let both arrive, so the server reads the frame too */
    char buf[2048];
    size_t n;
    int fd = c_server_read_head(ln, buf, sizeof buf, &n);
    CHECK(fd >= 0, "C server read the head");
    uint64_t conn = 0;
    CHECK(ws_hub_adopt(srv, fd, (const uint8_t *)buf, n, NULL, &conn) == WS_OK && conn != 0, "adopt");
    ws_event_t e;
    CHECK(wait_stash(srv, conn, WS_EVENT_OPEN) >= 0, "open of the adopted connection");
    int m = wait_stash(srv, conn, WS_EVENT_MESSAGE);
    CHECK(m >= 0 && stash[m].len == 2 && memcmp(stash[m].data, "hi", 2) == 0, "its first message");
    CHECK(ws_hub_send(srv, conn, WS_OP_TEXT, "yo", 2) == WS_OK, "reply");
    char resp[256];
    struct timeval tv = {.tv_sec = 5};
    setsockopt(cl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK(read_polling(srv, cl, resp, sizeof resp, 0) > 0 && strncmp(resp, "HTTP/1.1 101", 12) == 0, "101: %s", resp);
    close(cl);

    /* With handshake control: the host refuses it. */
    cl = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(cl, (struct sockaddr *)&a, sizeof a) == 0, "connect 2");
    CHECK(write(cl, req, (size_t)rn) == rn, "request 2");
    fd = c_server_read_head(ln, buf, sizeof buf, &n);
    ws_options_t *o;
    ws_options_new(&o);
    ws_options_set_int(o, WS_OPT_HUB_HANDSHAKE_CONTROL, 1);
    CHECK(fd >= 0 && ws_hub_adopt(srv, fd, (const uint8_t *)buf, n, o, &conn) == WS_OK, "adopt 2");
    ws_options_free(o);
    open_info oi;
    char method[16], ext[64];
    CHECK(wait_request(srv, &e, &oi, method, ext) && oi.conn == conn && oi.listener == 0 && strcmp(oi.path, "/adopted") == 0, "request event");
    CHECK(ws_hub_reject(srv, conn, 403, NULL, "no", 2) == WS_OK, "reject");
    CHECK(read_polling(srv, cl, resp, sizeof resp, 1) > 0 && strncmp(resp, "HTTP/1.1 403", 12) == 0, "403: %s", resp);
    close(cl);

    /* Refusals leave the fd to the caller. */
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    CHECK(ws_hub_adopt(srv, p[0], NULL, 0, NULL, &conn) == WS_EINVAL, "a pipe is refused");
    CHECK(write(p[1], "x", 1) == 1, "the pipe is still open");
    close(p[0]);
    close(p[1]);
    CHECK(ws_hub_adopt(srv, -1, NULL, 0, NULL, &conn) == WS_EINVAL, "fd -1");
    CHECK(ws_hub_adopt(srv, 0, NULL, 5, NULL, &conn) == WS_EINVAL, "NULL head with len");
    CHECK(ws_hub_adopt(NULL, 0, NULL, 0, NULL, &conn) == WS_EBADHANDLE, "bad hub");
    close(ln);
    ws_hub_free(srv);
}

/* A signal handled while ws_hub_poll waits ends the wait with WS_EINTR,
 * whether the handler was installed with SA_RESTART or not, so a Ctrl-C
 * flag is seen without short timeouts. */
static volatile sig_atomic_t got_signal;
static void on_signal(int sig) {
    (void)sig;
    got_signal = 1;
}

typedef struct {
    pthread_t target;
    int ms;
    int sig;
} kick;

static void *kick_later(void *arg) {
    kick *k = arg;
    usleep((useconds_t)k->ms * 1000);
    pthread_kill(k->target, k->sig);
    return NULL;
}

/* SIGURG is the Go runtime's preemption signal: one that reaches a thread
 * after it returned from Go to C must not end its wait. */
static void test_sigurg_is_not_eintr(void) {
    ws_hub_t *srv;
    int port = 0;
    CHECK(new_server(&srv, &port) > 0, "server");
    kick k = {pthread_self(), 100, SIGURG};
    pthread_t t;
    pthread_create(&t, NULL, kick_later, &k);
    ws_event_t ev[4];
    double start = now_s();
    int rc = ws_hub_poll(srv, ev, 4, 600);
    double took = now_s() - start;
    pthread_join(t, NULL);
    CHECK(rc == 0 && took >= 0.5, "poll with a SIGURG: %d after %.2f s, want 0 after the timeout", rc, took);
    ws_hub_free(srv);
}

static void test_eintr(int sa_restart, int raw) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = sa_restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    ws_hub_t *srv;
    int port = 0;
    CHECK(new_server(&srv, &port) > 0, "server");
    got_signal = 0;
    kick k = {pthread_self(), 200, SIGUSR1};
    pthread_t t;
    pthread_create(&t, NULL, kick_later, &k);
    double start = now_s();
    int rc;
    if (raw) {
        uint8_t buf[256];
        rc = ws_hub_poll_raw(srv, buf, sizeof buf, 8000);
    } else {
        ws_event_t ev[4];
        rc = ws_hub_poll(srv, ev, 4, 8000);
    }
    double took = now_s() - start;
    pthread_join(t, NULL);
    CHECK(rc == WS_EINTR, "poll%s (SA_RESTART %d): %d, want WS_EINTR", raw ? "_raw" : "", sa_restart, rc);
    CHECK(got_signal && took < 4, "handler ran %d, returned after %.2f s", (int)got_signal, took);
    CHECK(strcmp(ws_strerror(WS_EINTR), "interrupted by a signal") == 0, "strerror '%s'", ws_strerror(WS_EINTR));
    /* The hub works on: the next poll serves a client. */
    open_info o;
    int fd = raw_open(srv, port, "/", "", &o);
    CHECK(fd >= 0, "open after WS_EINTR");
    if (fd >= 0) close(fd);
    ws_hub_free(srv);
    sigaction(SIGUSR1, &old, NULL);
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
        test_poll_one_at_a_time();
        test_abi_checks();
        test_error_status(0);
        test_error_status(1);
        test_pause();
        test_buffer_limits(0);
        test_buffer_limits(1);
        test_user_data();
        test_keepalive();
        test_handshake_control();
        test_handshake_control_tls();
        test_adopt();
        test_sigurg_is_not_eintr();
        for (int r = 0; r <= 1; r++) {
            test_eintr(r, 0);
            test_eintr(r, 1);
        }
    }
    printf("test_hub: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
