/* A tiny test harness: CHECK macros count passes and failures, each test
 * binary ends with "NAME: N passed, N failed". */
#ifndef LIBWS_TEST_HARNESS_H
#define LIBWS_TEST_HARNESS_H

#include <ws.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int h_passed, h_failed;
static const char *h_test = "";

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (cond) {                                                                          \
            h_passed++;                                                                      \
        } else {                                                                             \
            h_failed++;                                                                      \
            fprintf(stderr, "%s:%d: [%s] CHECK(%s) failed (last error: %s)\n", __FILE__,     \
                    __LINE__, h_test, #cond, ws_errmsg());                                   \
        }                                                                                    \
    } while (0)

#define CHECK_EQ(a, b)                                                                       \
    do {                                                                                     \
        long long h_a = (long long)(a), h_b = (long long)(b);                                \
        if (h_a == h_b) {                                                                    \
            h_passed++;                                                                      \
        } else {                                                                             \
            h_failed++;                                                                      \
            fprintf(stderr, "%s:%d: [%s] %s == %s failed: %lld != %lld (last error: %s)\n",  \
                    __FILE__, __LINE__, h_test, #a, #b, h_a, h_b, ws_errmsg());              \
        }                                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                      \
    do {                                                                                     \
        const char *h_a = (a), *h_b = (b);                                                   \
        if (h_a && h_b && strcmp(h_a, h_b) == 0) {                                           \
            h_passed++;                                                                      \
        } else {                                                                             \
            h_failed++;                                                                      \
            fprintf(stderr, "%s:%d: [%s] %s == %s failed: \"%s\" != \"%s\"\n", __FILE__,     \
                    __LINE__, h_test, #a, #b, h_a ? h_a : "(null)", h_b ? h_b : "(null)");   \
        }                                                                                    \
    } while (0)

#define CHECK_MEM(p, n, q, m)                                                                \
    CHECK((size_t)(n) == (size_t)(m) && memcmp((p), (q), (size_t)(n)) == 0)

/* Stops the test binary: for setup steps the rest depends on. */
#define REQUIRE(cond)                                                                        \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: [%s] REQUIRE(%s) failed (last error: %s)\n", __FILE__,   \
                    __LINE__, h_test, #cond, ws_errmsg());                                   \
            h_failed++;                                                                      \
            printf("%s: %d passed, %d failed\n", h_name, h_passed, h_failed);                \
            exit(1);                                                                         \
        }                                                                                    \
        h_passed++;                                                                          \
    } while (0)

static const char *h_name = "test";

#define RUN(fn)                                                                              \
    do {                                                                                     \
        int h_before = h_failed;                                                             \
        h_test = #fn;                                                                        \
        fn();                                                                                \
        printf("  %-40s %s\n", #fn, h_failed == h_before ? "ok" : "FAILED");                 \
        fflush(stdout);                                                                      \
    } while (0)

static int h_report(void) {
    printf("%s: %d passed, %d failed\n", h_name, h_passed, h_failed);
    return h_failed ? 1 : 0;
}

/* A pointer that was never a handle. */
static char h_bogus_storage[16] __attribute__((unused));
#define BOGUS(type) ((type *)(void *)&h_bogus_storage[3])

#endif
