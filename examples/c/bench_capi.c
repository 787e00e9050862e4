/*
 * bench_capi [SECONDS_PER_CASE]
 *
 * The cost of the frame primitives called from C through the Go exports:
 * ns per ws_parse_header call and ns per call / GB/s of ws_mask at 20 B,
 * 1 KiB and 64 KiB, with a plain C byte loop and word loop for reference.
 * Each figure is the best of 5 timed runs.
 *
 * Then the event hub: median ns of a ws_hub_poll() call that returns 1 and
 * 64 events already waiting (20-byte messages a client hub sent, which
 * the round's first poll read from the socket, so that the timed calls
 * only hand events over: decoding and copying the event structs), and the
 * best mean ns of a ws_hub_poll() that finds nothing (timeout 0; on an
 * inline hub that includes one turn of the loop with its epoll_wait).
 */
#include <ws.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static volatile size_t sink;
static double budget = 0.2; /* seconds per timed run */

typedef void (*bench_fn)(size_t iters, void *arg);

/* Best ns per iteration over 5 runs of about `budget` seconds each. */
static double measure(bench_fn fn, void *arg) {
    size_t iters = 1000;
    for (;;) { /* calibrate */
        double t0 = now();
        fn(iters, arg);
        double dt = now() - t0;
        if (dt > budget / 4)
            break;
        iters *= 4;
    }
    double best = 1e30;
    for (int run = 0; run < 5; run++) {
        double t0 = now();
        fn(iters, arg);
        double ns = (now() - t0) * 1e9 / iters;
        if (ns < best)
            best = ns;
    }
    return best;
}

struct parse_case {
    uint8_t frame[14];
    size_t len;
};

static void bench_parse(size_t iters, void *arg) {
    struct parse_case *c = arg;
    ws_header_t h;
    size_t acc = 0;
    for (size_t i = 0; i < iters; i++)
        acc += (size_t)ws_parse_header(c->frame, c->len, &h) + (size_t)h.length;
    sink = acc;
}

struct mask_case {
    uint8_t *buf;
    size_t len;
};

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

static void bench_mask(size_t iters, void *arg) {
    struct mask_case *c = arg;
    size_t acc = 0;
    for (size_t i = 0; i < iters; i++)
        acc += ws_mask(c->buf, c->len, key, i);
    sink = acc;
}

static void bench_c_bytes(size_t iters, void *arg) {
    struct mask_case *c = arg;
    for (size_t i = 0; i < iters; i++) {
        uint8_t *volatile b = c->buf; /* keep the compiler from vectorising */
        for (size_t j = 0; j < c->len; j++)
            b[j] ^= key[(j + i) & 3];
    }
}

static void bench_c_words(size_t iters, void *arg) {
    struct mask_case *c = arg;
    for (size_t i = 0; i < iters; i++) {
        uint32_t k32;
        memcpy(&k32, key, 4);
        uint64_t k = (uint64_t)k32 << 32 | k32;
        size_t j = 0;
        for (; j + 8 <= c->len; j += 8) {
            uint64_t w;
            memcpy(&w, c->buf + j, 8);
            w ^= k;
            memcpy(c->buf + j, &w, 8);
        }
        for (; j < c->len; j++)
            c->buf[j] ^= key[j & 3];
    }
}

/* ---------------------------------------------------------------- hub */

enum { HUB_BATCH = 2000, HUB_MSG = 20 };

struct hub_pair {
    ws_hub_t *srv, *cli;
    uint64_t conn; /* the client's connection */
    ws_event_t ev[64];
};

static int hub_pair_open(struct hub_pair *p, int threaded) {
    ws_options_t *o;
    int port = 0;
    if (ws_options_new(&o) != WS_OK) return -1;
    ws_options_set_int(o, WS_OPT_HUB_THREADED, threaded);
    int rc = ws_hub_new(&p->srv, o);
    ws_options_free(o);
    if (rc != WS_OK || ws_hub_listen(p->srv, "127.0.0.1", 0, NULL, &port) <= 0) return -1;
    if (ws_hub_new(&p->cli, NULL) != WS_OK) return -1;
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    if (ws_hub_connect(p->cli, url, NULL, &p->conn) != WS_OK) return -1;
    int opened = 0, accepted = 0;
    double deadline = now() + 5;
    while ((!opened || !accepted) && now() < deadline) {
        int n = ws_hub_poll(p->cli, p->ev, 64, 1);
        for (int i = 0; i < n; i++) opened |= p->ev[i].type == WS_EVENT_OPEN;
        n = ws_hub_poll(p->srv, p->ev, 64, 1);
        for (int i = 0; i < n; i++) accepted |= p->ev[i].type == WS_EVENT_OPEN;
    }
    return opened && accepted ? 0 : -1;
}

/* Sends HUB_BATCH messages and waits until the server hub has them all
 * queued: the first poll (max 1) takes the first event. */
static int hub_fill(struct hub_pair *p) {
    static uint8_t msg[HUB_MSG];
    static ws_send_t items[HUB_BATCH];
    for (int i = 0; i < HUB_BATCH; i++) items[i] = (ws_send_t){p->conn, WS_OP_BINARY, msg, sizeof msg};
    if (ws_hub_send_batch(p->cli, items, HUB_BATCH) != HUB_BATCH) return -1;
    usleep(20000); /* let them all reach the server's socket */
    return ws_hub_poll(p->srv, p->ev, 1, 1000) == 1 ? 1 : -1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median ns of the poll calls that returned `max` waiting events. Calls
 * that found the queue short (a round's end, or data the first read did
 * not take yet) ran the loop and are left out: they measure I/O. */
static double hub_poll_ns(struct hub_pair *p, int max) {
    enum { ROUNDS = 20 };
    static double t[ROUNDS * HUB_BATCH];
    size_t nt = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int got = hub_fill(p);
        if (got < 0) return -1;
        for (;;) {
            double t0 = now();
            int n = ws_hub_poll(p->srv, p->ev, max, 0);
            double dt = now() - t0;
            if (n <= 0) break;
            got += n;
            if (n == max) t[nt++] = dt * 1e9;
        }
        if (got != HUB_BATCH) return -1; /* all were waiting */
    }
    if (nt == 0) return -1;
    qsort(t, nt, sizeof t[0], cmp_double);
    return t[nt / 2];
}

static void bench_idle_poll(size_t iters, void *arg) {
    struct hub_pair *p = arg;
    for (size_t i = 0; i < iters; i++) sink += (size_t)ws_hub_poll(p->srv, p->ev, 64, 0);
}

static void bench_hub(void) {
    printf("\n%-34s %10s %10s %10s\n", "ws_hub_poll (median)", "1 event", "64 events", "none");
    for (int threaded = 0; threaded <= 1; threaded++) {
        struct hub_pair p;
        memset(&p, 0, sizeof p);
        if (hub_pair_open(&p, threaded) != 0) {
            printf("  hub set-up failed\n");
            return;
        }
        double one = hub_poll_ns(&p, 1), many = hub_poll_ns(&p, 64);
        double none = measure(bench_idle_poll, &p);
        printf("  %-32s %10.1f %10.1f %10.1f  ns/call\n", threaded ? "threaded hub" : "inline hub", one, many, none);
        ws_hub_free(p.cli);
        ws_hub_free(p.srv);
    }
}

int main(int argc, char **argv) {
    if (argc > 1)
        budget = atof(argv[1]);
    printf("libws %s C ABI micro-benchmark (best of 5, %.2f s per run)\n\n", ws_version(), budget);

    /* Masked client frames as a server parses them. */
    struct parse_case p20 = {{0x82, 0x80 | 20, 1, 2, 3, 4}, 6};
    struct parse_case p1k = {{0x82, 0x80 | 126, 0x04, 0x00, 1, 2, 3, 4}, 8};
    struct parse_case p64k = {{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4}, 14};
    struct parse_case *pcs[] = {&p20, &p1k, &p64k};
    const char *names[] = {"20 B", "1 KiB", "64 KiB"};
    printf("%-34s %10s\n", "ws_parse_header (masked frame of)", "ns/call");
    for (int i = 0; i < 3; i++)
        printf("  %-32s %10.1f\n", names[i], measure(bench_parse, pcs[i]));

    size_t sizes[] = {20, 1024, 65536};
    uint8_t *buf = aligned_alloc(64, 65536 + 64);
    memset(buf, 'x', 65536 + 64);
    printf("\n%-34s %10s %10s\n", "mask", "ns/call", "GB/s");
    for (int i = 0; i < 3; i++) {
        struct mask_case mc = {buf, sizes[i]};
        double ns = measure(bench_mask, &mc);
        double cb = measure(bench_c_bytes, &mc);
        double cw = measure(bench_c_words, &mc);
        printf("  ws_mask %-24s %10.1f %10.2f\n", names[i], ns, sizes[i] / ns);
        printf("  C byte loop %-20s %10.1f %10.2f\n", names[i], cb, sizes[i] / cb);
        printf("  C 8-byte word loop %-13s %10.1f %10.2f\n", names[i], cw, sizes[i] / cw);
    }
    free(buf);
    bench_hub();
    return 0;
}
