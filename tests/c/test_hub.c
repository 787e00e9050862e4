/* Event hub tests: a server hub and a client hub in one process, over real
 * loopback TCP; plus raw sockets for misbehaving peers. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    CHECK(ws_hub_send(hub, 12345, WS_OP_TEXT, "x", 1) == WS_OK, "send to unknown conn is dropped");
    CHECK(ws_hub_close(hub, 1, 1000, NULL) == WS_OK, "close unknown");
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

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void put_record(uint8_t *p, int kind, int opcode, int code, uint64_t conn, const void *data, uint32_t len) {
    memset(p, 0, WS_RECORD_HEADER + ((len + 7) & ~7u));
    p[0] = (uint8_t)kind;
    p[1] = (uint8_t)opcode;
    p[2] = (uint8_t)code;
    p[3] = (uint8_t)(code >> 8);
    for (int i = 0; i < 4; i++) p[4 + i] = (uint8_t)(len >> (8 * i));
    for (int i = 0; i < 8; i++) p[8 + i] = (uint8_t)(conn >> (8 * i));
    memcpy(p + WS_RECORD_HEADER, data, len);
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
    }
    printf("test_hub: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
