/*
 * bench_capi [SECONDS_PER_CASE]
 *
 * The cost of the frame primitives called from C through the Go exports:
 * ns per ws_parse_header call and ns per call / GB/s of ws_mask at 20 B,
 * 1 KiB and 64 KiB, with a plain C byte loop and word loop for reference.
 * Each figure is the best of 5 timed runs.
 */
#include <ws.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    return 0;
}
