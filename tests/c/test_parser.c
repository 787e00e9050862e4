/* The bring-your-own-I/O parser. */
#include "harness.h"

#include <stdint.h>

/* Encode one frame into out (masked with a fixed key when masked). */
static size_t frame(uint8_t *out, int fin, int op, const void *payload, size_t n, int masked) {
    ws_header_t h = {.fin = (uint8_t)fin, .opcode = (uint8_t)op, .masked = (uint8_t)masked,
                     .mask = {0xa1, 0xb2, 0xc3, 0xd4}, .length = n};
    int hn = ws_encode_header(&h, out, WS_MAX_HEADER_SIZE);
    if (n)
        memcpy(out + hn, payload, n);
    if (masked)
        ws_mask(out + hn, n, h.mask, 0);
    return (size_t)hn + n;
}

/* Take the parser's whole output into buf; returns its length. */
static size_t drain(ws_parser_t *p, uint8_t *buf, size_t cap) {
    const uint8_t *d;
    size_t n;
    if (ws_parser_output(p, &d, &n) != WS_OK || n > cap)
        return (size_t)-1;
    memcpy(buf, d, n);
    ws_parser_consume(p, n);
    return n;
}

static ws_parser_t *server(const ws_options_t *o) {
    ws_parser_t *p = NULL;
    REQUIRE(ws_parser_new(&p, WS_ROLE_SERVER, o) == WS_OK);
    return p;
}

static void test_new(void) {
    ws_parser_t *p = NULL;
    CHECK_EQ(ws_parser_new(NULL, WS_ROLE_SERVER, NULL), WS_EINVAL);
    CHECK_EQ(ws_parser_new(&p, 7, NULL), WS_EINVAL);
    CHECK(p == NULL);
    CHECK_EQ(ws_parser_new(&p, WS_ROLE_CLIENT, NULL), WS_OK);
    CHECK_STR(ws_parser_errmsg(p), "");
    ws_parser_free(p);
    ws_parser_free(NULL);
}

static void test_single_frame(void) {
    ws_parser_t *p = server(NULL);
    uint8_t buf[64];
    size_t n = frame(buf, 1, WS_OP_TEXT, "Hello", 5, 1);
    ws_frame_t f[4];
    CHECK_EQ(ws_parser_next(p, f, 4, 0), 0); /* nothing fed */
    CHECK_EQ(ws_parser_feed(p, buf, n), WS_OK);
    CHECK_EQ(ws_parser_next(p, f, 4, 0), 1);
    CHECK_EQ(f[0].opcode, WS_OP_TEXT);
    CHECK_EQ(f[0].fin, 1);
    CHECK_EQ(f[0].rsv, 0);
    CHECK_MEM(f[0].data, f[0].len, "Hello", 5);
    CHECK_EQ(ws_parser_next(p, f, 4, 0), 0);
    /* Empty payload: data is not NULL */
    n = frame(buf, 1, WS_OP_BINARY, NULL, 0, 1);
    ws_parser_feed(p, buf, n);
    CHECK_EQ(ws_parser_next(p, f, 4, 0), 1);
    CHECK_EQ(f[0].len, 0);
    CHECK(f[0].data != NULL);
    ws_parser_free(p);
}

static void test_byte_by_byte(void) {
    ws_parser_t *p = server(NULL);
    uint8_t buf[400], payload[300];
    for (int i = 0; i < 300; i++)
        payload[i] = (uint8_t)i;
    size_t n = frame(buf, 1, WS_OP_BINARY, payload, 300, 1);
    ws_frame_t f;
    int got = 0, early = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(ws_parser_feed(p, buf + i, 1), WS_OK);
        int rc = ws_parser_next(p, &f, 1, 0);
        if (rc == 1) {
            got++;
            if (i != n - 1)
                early++;
            CHECK_MEM(f.data, f.len, payload, 300);
        } else if (rc != 0) {
            early++;
        }
    }
    CHECK_EQ(got, 1);
    CHECK_EQ(early, 0);
    ws_parser_free(p);
}

/* Many frames per call; every pointer of a batch stays valid until the
 * next call. */
static void test_batch(void) {
    ws_parser_t *p = server(NULL);
    enum { N = 100 };
    static uint8_t buf[N * 1100];
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        uint8_t payload[1000];
        size_t len = (size_t)(i * 37) % 1000;
        memset(payload, 'a' + i % 26, len);
        n += frame(buf + n, 1, WS_OP_BINARY, payload, len, 1);
    }
    /* Feed in two uneven pieces */
    CHECK_EQ(ws_parser_feed(p, buf, n / 3), WS_OK);
    CHECK_EQ(ws_parser_feed(p, buf + n / 3, n - n / 3), WS_OK);
    memset(buf, 0, sizeof buf); /* the parser copied what it was fed */
    ws_frame_t f[64];
    int total = 0, bad = 0;
    for (int round = 0; round < 3; round++) {
        int k = ws_parser_next(p, f, 64, 0);
        CHECK(k >= 0);
        /* Check every entry only after the call: all must still be intact. */
        for (int j = 0; j < k; j++) {
            int i = total + j;
            size_t len = (size_t)(i * 37) % 1000;
            if (f[j].len != len || f[j].opcode != WS_OP_BINARY)
                bad++;
            for (size_t b = 0; b < f[j].len; b++)
                if (f[j].data[b] != 'a' + i % 26) {
                    bad++;
                    break;
                }
        }
        if (round == 0)
            CHECK_EQ(k, 64);
        if (round == 1)
            CHECK_EQ(k, N - 64);
        if (round == 2)
            CHECK_EQ(k, 0);
        total += k > 0 ? k : 0;
    }
    CHECK_EQ(total, N);
    CHECK_EQ(bad, 0);
    ws_parser_free(p);
}

static void test_messages_and_fragments(void) {
    ws_parser_t *p = server(NULL);
    uint8_t buf[256];
    size_t n = 0;
    n += frame(buf + n, 0, WS_OP_TEXT, "Hel", 3, 1);
    n += frame(buf + n, 1, WS_OP_PING, "p", 1, 1);
    n += frame(buf + n, 0, WS_OP_CONTINUATION, "l", 1, 1);
    n += frame(buf + n, 1, WS_OP_CONTINUATION, "o", 1, 1);
    n += frame(buf + n, 1, WS_OP_BINARY, "\x01\x02", 2, 1);
    ws_frame_t f[8];
    /* Raw frames */
    ws_parser_feed(p, buf, n);
    CHECK_EQ(ws_parser_next(p, f, 8, 0), 5);
    CHECK_EQ(f[0].opcode, WS_OP_TEXT);
    CHECK_EQ(f[0].fin, 0);
    CHECK_EQ(f[1].opcode, WS_OP_PING);
    CHECK_EQ(f[2].opcode, WS_OP_CONTINUATION);
    CHECK_EQ(f[3].fin, 1);
    CHECK_MEM(f[3].data, f[3].len, "o", 1);
    ws_parser_free(p);

    /* Whole messages: the ping between fragments comes first. */
    p = server(NULL);
    ws_parser_feed(p, buf, n);
    CHECK_EQ(ws_parser_next(p, f, 8, WS_MESSAGES), 3);
    CHECK_EQ(f[0].opcode, WS_OP_PING);
    CHECK_MEM(f[0].data, f[0].len, "p", 1);
    CHECK_EQ(f[1].opcode, WS_OP_TEXT);
    CHECK_EQ(f[1].fin, 1);
    CHECK_MEM(f[1].data, f[1].len, "Hello", 5);
    CHECK_EQ(f[2].opcode, WS_OP_BINARY);
    CHECK_MEM(f[2].data, f[2].len, "\x01\x02", 2);
    /* The ping was answered: an unmasked pong "p" is in the output. */
    uint8_t out[64];
    size_t on = drain(p, out, sizeof out);
    CHECK_MEM(out, on, "\x8a\x01p", 3);
    ws_parser_free(p);
}

/* Two fragmented messages in one batch: both whole and intact. */
static void test_two_messages_one_batch(void) {
    ws_parser_t *p = server(NULL);
    uint8_t buf[8192], a[1000], b[1500];
    memset(a, 'A', sizeof a);
    memset(b, 'B', sizeof b);
    size_t n = 0;
    n += frame(buf + n, 0, WS_OP_BINARY, a, 500, 1);
    n += frame(buf + n, 1, WS_OP_CONTINUATION, a + 500, 500, 1);
    n += frame(buf + n, 0, WS_OP_BINARY, b, 700, 1);
    n += frame(buf + n, 1, WS_OP_CONTINUATION, b + 700, 800, 1);
    ws_parser_feed(p, buf, n);
    ws_frame_t f[4];
    CHECK_EQ(ws_parser_next(p, f, 4, WS_MESSAGES), 2);
    CHECK_MEM(f[0].data, f[0].len, a, sizeof a);
    CHECK_MEM(f[1].data, f[1].len, b, sizeof b);
    ws_parser_free(p);
}

static int close_code_of(const uint8_t *out, size_t n, int masked) {
    ws_header_t h;
    int hn = ws_parse_header(out, n, &h);
    if (hn <= 0 || h.opcode != WS_OP_CLOSE || h.length < 2 || (size_t)hn + h.length > n ||
        h.masked != masked)
        return -1;
    uint8_t p[2] = {out[hn], out[hn + 1]};
    if (masked)
        ws_mask(p, 2, h.mask, 0);
    return p[0] << 8 | p[1];
}

static void expect_violation(const char *what, const uint8_t *in, size_t n, const ws_options_t *o,
                             int role, int want_rc, int want_code) {
    ws_parser_t *p;
    REQUIRE(ws_parser_new(&p, role, o) == WS_OK);
    ws_frame_t f[4];
    ws_parser_feed(p, in, n);
    int rc = ws_parser_next(p, f, 4, WS_MESSAGES);
    if (rc != want_rc)
        fprintf(stderr, "  violation case: %s\n", what);
    CHECK_EQ(rc, want_rc);
    CHECK(strlen(ws_parser_errmsg(p)) > 0);
    uint8_t out[256];
    size_t on = drain(p, out, sizeof out);
    CHECK_EQ(close_code_of(out, on, role == WS_ROLE_CLIENT), want_code);
    /* Sticky */
    CHECK_EQ(ws_parser_next(p, f, 4, WS_MESSAGES), want_rc);
    CHECK_EQ(ws_parser_close(p, 1000, NULL), WS_ECLOSED);
    ws_parser_free(p);
}

static void test_violations(void) {
    uint8_t buf[512];
    size_t n;
    /* invalid UTF-8 -> 1007 */
    n = frame(buf, 1, WS_OP_TEXT, "a\xff", 2, 1);
    expect_violation("bad utf8", buf, n, NULL, WS_ROLE_SERVER, WS_EUTF8, 1007);
    /* invalid UTF-8 split over fragments, caught at the bad frame */
    n = frame(buf, 0, WS_OP_TEXT, "\xe2\x82", 2, 1);
    n += frame(buf + n, 1, WS_OP_CONTINUATION, "x", 1, 1);
    expect_violation("bad utf8 across fragments", buf, n, NULL, WS_ROLE_SERVER, WS_EUTF8, 1007);
    /* unmasked frame to a server -> 1002 */
    n = frame(buf, 1, WS_OP_TEXT, "hi", 2, 0);
    expect_violation("unmasked", buf, n, NULL, WS_ROLE_SERVER, WS_EPROTO, 1002);
    /* masked frame to a client -> 1002, the client's close is masked */
    n = frame(buf, 1, WS_OP_TEXT, "hi", 2, 1);
    expect_violation("masked to client", buf, n, NULL, WS_ROLE_CLIENT, WS_EPROTO, 1002);
    /* reserved opcode, RSV bits, continuation without start, new message mid-fragment */
    n = frame(buf, 1, 3, "", 0, 1);
    expect_violation("reserved opcode", buf, n, NULL, WS_ROLE_SERVER, WS_EPROTO, 1002);
    n = frame(buf, 1, WS_OP_TEXT, "x", 1, 1);
    buf[0] |= 0x40;
    expect_violation("rsv1", buf, n, NULL, WS_ROLE_SERVER, WS_EPROTO, 1002);
    n = frame(buf, 1, WS_OP_CONTINUATION, "x", 1, 1);
    expect_violation("lone continuation", buf, n, NULL, WS_ROLE_SERVER, WS_EPROTO, 1002);
    n = frame(buf, 0, WS_OP_TEXT, "x", 1, 1);
    n += frame(buf + n, 1, WS_OP_TEXT, "y", 1, 1);
    expect_violation("text during fragments", buf, n, NULL, WS_ROLE_SERVER, WS_EPROTO, 1002);
    /* close with a 1-byte payload, or a forbidden code */
    n = frame(buf, 1, WS_OP_CLOSE, "\x03", 1, 1);
    expect_violation("1-byte close", buf, n, NULL, WS_ROLE_SERVER, WS_EPROTO, 1002);
    n = frame(buf, 1, WS_OP_CLOSE, "\x03\xed", 2, 1); /* 1005 */
    expect_violation("close 1005", buf, n, NULL, WS_ROLE_SERVER, WS_EPROTO, 1002);

    /* size limits -> 1009 */
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_int(o, WS_OPT_MAX_MESSAGE_SIZE, 10);
    n = frame(buf, 1, WS_OP_BINARY, "01234567890", 11, 1);
    expect_violation("message too big", buf, n, o, WS_ROLE_SERVER, WS_ETOOBIG, 1009);
    n = frame(buf, 0, WS_OP_BINARY, "012345", 6, 1);
    n += frame(buf + n, 1, WS_OP_CONTINUATION, "012345", 6, 1);
    expect_violation("fragments too big", buf, n, o, WS_ROLE_SERVER, WS_ETOOBIG, 1009);
    ws_options_set_int(o, WS_OPT_MAX_MESSAGE_SIZE, 1000);
    ws_options_set_int(o, WS_OPT_MAX_FRAME_SIZE, 4);
    n = frame(buf, 1, WS_OP_BINARY, "01234", 5, 1);
    expect_violation("frame too big", buf, n, o, WS_ROLE_SERVER, WS_ETOOBIG, 1009);
    /* A header announcing 2^62 bytes fails at once, before any payload */
    static const uint8_t huge[] = {0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    expect_violation("huge length", huge, sizeof huge, NULL, WS_ROLE_SERVER, WS_ETOOBIG, 1009);
    ws_options_free(o);
}

/* Good frames before a violation come first; the error with the next call. */
static void test_violation_after_frames(void) {
    ws_parser_t *p = server(NULL);
    uint8_t buf[128];
    size_t n = 0;
    n += frame(buf + n, 1, WS_OP_TEXT, "one", 3, 1);
    n += frame(buf + n, 1, WS_OP_TEXT, "two", 3, 1);
    n += frame(buf + n, 1, WS_OP_TEXT, "\xc0\x80", 2, 1);
    ws_parser_feed(p, buf, n);
    ws_frame_t f[8];
    CHECK_EQ(ws_parser_next(p, f, 8, 0), 2);
    CHECK_MEM(f[1].data, f[1].len, "two", 3);
    CHECK_EQ(ws_parser_next(p, f, 8, 0), WS_EUTF8);
    ws_parser_free(p);
}

static void test_peer_close(void) {
    ws_parser_t *p = server(NULL);
    uint8_t buf[256];
    size_t n = 0;
    n += frame(buf + n, 1, WS_OP_TEXT, "last", 4, 1);
    n += frame(buf + n, 1, WS_OP_CLOSE, "\x03\xe8" "bye \xc3\xa9t\xc3\xa9", 2 + 9, 1);
    n += frame(buf + n, 1, WS_OP_TEXT, "after", 5, 1); /* ignored */
    ws_parser_feed(p, buf, n);
    int code = -1;
    char reason[64];
    CHECK_EQ(ws_parser_close_status(p, &code, reason, sizeof reason), 0);
    CHECK_EQ(code, 0);
    CHECK_STR(reason, "");
    ws_frame_t f[8];
    CHECK_EQ(ws_parser_next(p, f, 8, WS_MESSAGES), 2);
    CHECK_EQ(f[1].opcode, WS_OP_CLOSE);
    CHECK_EQ(f[1].len, 11);
    CHECK_EQ(ws_parser_next(p, f, 8, WS_MESSAGES), WS_ECLOSED);
    CHECK_EQ(ws_parser_close_status(p, &code, reason, sizeof reason), 1);
    CHECK_EQ(code, 1000);
    CHECK_STR(reason, "bye \xc3\xa9t\xc3\xa9");
    /* Cut at a character boundary: "bye \xc3" would split the é */
    char small[6];
    CHECK_EQ(ws_parser_close_status(p, NULL, small, sizeof small), 1);
    CHECK_STR(small, "bye ");
    CHECK_EQ(ws_parser_close_status(p, &code, NULL, 0), 1);
    /* The automatic reply echoes the code */
    uint8_t out[64];
    size_t on = drain(p, out, sizeof out);
    CHECK_EQ(close_code_of(out, on, 0), 1000);
    CHECK_EQ(ws_parser_close(p, 1000, NULL), WS_ECLOSED);
    CHECK_EQ(ws_parser_write(p, WS_OP_TEXT, 1, (const uint8_t *)"x", 1), WS_ECLOSED);
    ws_parser_free(p);

    /* Close without a status code: 1005 reported, reply without a code */
    p = server(NULL);
    n = frame(buf, 1, WS_OP_CLOSE, NULL, 0, 1);
    ws_parser_feed(p, buf, n);
    CHECK_EQ(ws_parser_next(p, f, 8, 0), 1);
    CHECK_EQ(ws_parser_close_status(p, &code, NULL, 0), 1);
    CHECK_EQ(code, WS_CLOSE_NO_STATUS);
    on = drain(p, out, sizeof out);
    CHECK_MEM(out, on, "\x88\x00", 2);
    ws_parser_free(p);
}

static void test_auto_options(void) {
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_int(o, WS_OPT_AUTO_PONG, 0);
    ws_options_set_int(o, WS_OPT_AUTO_CLOSE, 0);
    ws_parser_t *p = server(o);
    ws_options_free(o);
    uint8_t buf[64], out[64];
    size_t n = frame(buf, 1, WS_OP_PING, "x", 1, 1);
    n += frame(buf + n, 1, WS_OP_CLOSE, "\x03\xe8", 2, 1);
    ws_parser_feed(p, buf, n);
    ws_frame_t f[4];
    CHECK_EQ(ws_parser_next(p, f, 4, 0), 2);
    CHECK_EQ(drain(p, out, sizeof out), 0); /* no pong, no close reply */
    CHECK_EQ(ws_parser_close(p, 1000, "ok"), WS_OK); /* the application replies */
    CHECK_EQ(close_code_of(out, drain(p, out, sizeof out), 0), 1000);
    ws_parser_free(p);
}

static void test_write_and_output(void) {
    ws_parser_t *p = server(NULL);
    const uint8_t *d;
    size_t n;
    CHECK_EQ(ws_parser_output(p, &d, &n), WS_OK);
    CHECK_EQ(n, 0);
    CHECK(d != NULL);
    CHECK_EQ(ws_parser_write(p, WS_OP_TEXT, 1, (const uint8_t *)"hi", 2), WS_OK);
    CHECK_EQ(ws_parser_write(p, WS_OP_BINARY, 0, (const uint8_t *)"a", 1), WS_OK);
    CHECK_EQ(ws_parser_write(p, WS_OP_CONTINUATION, 1, NULL, 0), WS_OK);
    CHECK_EQ(ws_parser_write(p, WS_OP_PING, 1, (const uint8_t *)"p", 1), WS_OK);
    CHECK_EQ(ws_parser_write(p, WS_OP_PONG, 1, NULL, 0), WS_OK);
    CHECK_EQ(ws_parser_output(p, &d, &n), WS_OK);
    static const uint8_t want[] = {0x81, 2, 'h', 'i', 0x02, 1, 'a', 0x80, 0, 0x89, 1, 'p', 0x8a, 0};
    CHECK_MEM(d, n, want, sizeof want);
    /* Partial consumption */
    CHECK_EQ(ws_parser_consume(p, 4), WS_OK);
    CHECK_EQ(ws_parser_output(p, &d, &n), WS_OK);
    CHECK_MEM(d, n, want + 4, sizeof want - 4);
    CHECK_EQ(ws_parser_consume(p, n + 1), WS_EINVAL);
    CHECK_EQ(ws_parser_consume(p, 0), WS_OK);
    CHECK_EQ(ws_parser_consume(p, n), WS_OK);
    CHECK_EQ(ws_parser_output(p, &d, &n), WS_OK);
    CHECK_EQ(n, 0);

    /* Invalid writes */
    uint8_t big[200] = {0};
    CHECK_EQ(ws_parser_write(p, WS_OP_PING, 1, big, 126), WS_EINVAL);
    CHECK_EQ(ws_parser_write(p, WS_OP_PING, 0, big, 1), WS_EINVAL);
    CHECK_EQ(ws_parser_write(p, WS_OP_CLOSE, 1, big, 2), WS_EINVAL);
    CHECK(strstr(ws_parser_errmsg(p), "close") != NULL);
    CHECK_EQ(ws_parser_write(p, 3, 1, big, 1), WS_EINVAL);
    CHECK_EQ(ws_parser_write(p, -1, 1, big, 1), WS_EINVAL);
    CHECK_EQ(ws_parser_write(p, 0x101, 1, big, 1), WS_EINVAL);
    CHECK_EQ(ws_parser_write(p, WS_OP_TEXT, 1, NULL, 1), WS_EINVAL);
    CHECK_EQ(ws_parser_output(p, NULL, &n), WS_EINVAL);
    CHECK_EQ(ws_parser_output(p, &d, NULL), WS_EINVAL);

    /* Close: bad codes and reasons, then once only */
    CHECK_EQ(ws_parser_close(p, 1005, NULL), WS_EINVAL);
    CHECK_EQ(ws_parser_close(p, 1006, NULL), WS_EINVAL);
    CHECK_EQ(ws_parser_close(p, 999, NULL), WS_EINVAL);
    CHECK_EQ(ws_parser_close(p, 70000, NULL), WS_EINVAL);
    CHECK_EQ(ws_parser_close(p, 0, "reason without code"), WS_EINVAL);
    CHECK_EQ(ws_parser_close(p, 1000, "\xff"), WS_EINVAL);
    CHECK_EQ(ws_parser_close(p, 4000, "custom"), WS_OK);
    CHECK_EQ(ws_parser_output(p, &d, &n), WS_OK);
    CHECK_MEM(d, n, "\x88\x08\x0f\xa0" "custom", 10);
    CHECK_EQ(ws_parser_close(p, 1000, NULL), WS_ECLOSED);
    CHECK_EQ(ws_parser_write(p, WS_OP_TEXT, 1, (const uint8_t *)"x", 1), WS_ECLOSED);
    ws_parser_free(p);

    /* A long reason is cut to 123 bytes at a character boundary */
    p = server(NULL);
    char reason[300];
    for (int i = 0; i < 100; i++)
        memcpy(reason + 2 * i, "\xc3\xa9", 2);
    reason[200] = '\0';
    CHECK_EQ(ws_parser_close(p, 1000, reason), WS_OK);
    CHECK_EQ(ws_parser_output(p, &d, &n), WS_OK);
    CHECK_EQ(n, 2 + 2 + 122);
    /* Code 0: an empty close frame */
    ws_parser_free(p);
    p = server(NULL);
    CHECK_EQ(ws_parser_close(p, 0, NULL), WS_OK);
    CHECK_EQ(ws_parser_output(p, &d, &n), WS_OK);
    CHECK_MEM(d, n, "\x88\x00", 2);
    ws_parser_free(p);
}

/* A client parser's output is a valid masked stream for a server parser. */
static void test_round_trip(void) {
    ws_parser_t *c, *s;
    REQUIRE(ws_parser_new(&c, WS_ROLE_CLIENT, NULL) == WS_OK);
    REQUIRE(ws_parser_new(&s, WS_ROLE_SERVER, NULL) == WS_OK);
    size_t big = 1 << 20;
    uint8_t *msg = malloc(big);
    REQUIRE(msg != NULL);
    for (size_t i = 0; i < big; i++)
        msg[i] = (uint8_t)(i * 7);
    CHECK_EQ(ws_parser_write(c, WS_OP_BINARY, 0, msg, big / 2), WS_OK);
    CHECK_EQ(ws_parser_write(c, WS_OP_PING, 1, (const uint8_t *)"mid", 3), WS_OK);
    CHECK_EQ(ws_parser_write(c, WS_OP_CONTINUATION, 1, msg + big / 2, big - big / 2), WS_OK);
    CHECK_EQ(ws_parser_close(c, 1001, "going"), WS_OK);
    const uint8_t *d;
    size_t n;
    CHECK_EQ(ws_parser_output(c, &d, &n), WS_OK);
    CHECK(n > big);
    ws_header_t h;
    CHECK(ws_parse_header(d, n, &h) > 0 && h.masked == 1);
    /* Send it over in odd-sized pieces, as a socket would */
    size_t pos = 0, step = 1;
    int messages = 0, pings = 0, closes = 0;
    ws_frame_t f[8];
    while (pos < n) {
        size_t k = n - pos < step ? n - pos : step;
        CHECK_EQ(ws_parser_feed(s, d + pos, k), WS_OK);
        pos += k;
        step = step * 3 + 1;
        int got;
        while ((got = ws_parser_next(s, f, 8, WS_MESSAGES)) > 0) {
            for (int i = 0; i < got; i++) {
                if (f[i].opcode == WS_OP_BINARY) {
                    messages++;
                    CHECK_MEM(f[i].data, f[i].len, msg, big);
                } else if (f[i].opcode == WS_OP_PING) {
                    pings++;
                    CHECK_MEM(f[i].data, f[i].len, "mid", 3);
                } else if (f[i].opcode == WS_OP_CLOSE) {
                    closes++;
                }
            }
        }
        if (got == WS_ECLOSED)
            break;
        CHECK_EQ(got, 0);
    }
    CHECK_EQ(messages, 1);
    CHECK_EQ(pings, 1);
    CHECK_EQ(closes, 1);
    int code;
    char reason[124];
    CHECK_EQ(ws_parser_close_status(s, &code, reason, sizeof reason), 1);
    CHECK_EQ(code, 1001);
    CHECK_STR(reason, "going");
    /* The server's output (pong + close reply) is valid input for the client */
    CHECK_EQ(ws_parser_output(s, &d, &n), WS_OK);
    CHECK_EQ(ws_parser_feed(c, d, n), WS_OK);
    CHECK_EQ(ws_parser_next(c, f, 8, 0), 2);
    CHECK_EQ(f[0].opcode, WS_OP_PONG);
    CHECK_EQ(f[1].opcode, WS_OP_CLOSE);
    free(msg);
    ws_parser_free(c);
    ws_parser_free(s);
}

/* Defect 10: a length no memory can hold is an error code, not Go's fatal
 * out-of-memory; the bytes are not read (buf is far shorter than that). */
static void test_huge_lengths(void) {
    ws_parser_t *p;
    REQUIRE(ws_parser_new(&p, WS_ROLE_SERVER, NULL) == WS_OK);
    static const uint8_t buf[16];
    size_t huge = (size_t)1 << 40;
    int rc = ws_parser_feed(p, buf, huge);
    CHECK(rc == WS_ENOMEM || rc == WS_ETOOBIG || rc == WS_EINVAL);
    CHECK(strstr(ws_parser_errmsg(p), "ws_parser_feed") != NULL);
    rc = ws_parser_write(p, WS_OP_BINARY, 1, buf, huge);
    CHECK(rc == WS_ENOMEM || rc == WS_ETOOBIG || rc == WS_EINVAL);
    CHECK(strstr(ws_errmsg(), "ws_parser_write") != NULL);
    CHECK(ws_parser_feed(p, buf, SIZE_MAX) < 0);
    CHECK(ws_parser_write(p, WS_OP_BINARY, 1, buf, SIZE_MAX) < 0);
    /* The parser is unharmed. */
    const uint8_t *out;
    size_t n;
    CHECK_EQ(ws_parser_output(p, &out, &n), WS_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(ws_parser_write(p, WS_OP_TEXT, 1, (const uint8_t *)"ok", 2), WS_OK);
    CHECK_EQ(ws_parser_output(p, &out, &n), WS_OK);
    CHECK_EQ(n, 4);
    ws_parser_free(p);
}

static void test_args_and_handles(void) {
    ws_parser_t *p = server(NULL);
    ws_frame_t f;
    CHECK_EQ(ws_parser_feed(p, NULL, 0), WS_OK);
    CHECK_EQ(ws_parser_feed(p, NULL, 3), WS_EINVAL);
    CHECK_EQ(ws_parser_next(p, NULL, 1, 0), WS_EINVAL);
    CHECK_EQ(ws_parser_next(p, &f, 0, 0), WS_EINVAL);
    CHECK_EQ(ws_parser_next(p, &f, -5, 0), WS_EINVAL);
    CHECK_EQ(ws_parser_next(p, &f, 1, 0x80), WS_EINVAL);
    CHECK(strstr(ws_parser_errmsg(p), "flags") != NULL);
    ws_parser_free(p);

    /* Freed, made-up and wrong-type handles */
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_parser_t *bad[] = {NULL, p, BOGUS(ws_parser_t), (ws_parser_t *)(void *)o};
    const uint8_t *d;
    size_t n;
    int code;
    char reason[8];
    for (int i = 0; i < 4; i++) {
        ws_parser_t *b = bad[i];
        CHECK_EQ(ws_parser_feed(b, (const uint8_t *)"x", 1), WS_EBADHANDLE);
        CHECK_EQ(ws_parser_next(b, &f, 1, 0), WS_EBADHANDLE);
        CHECK_EQ(ws_parser_write(b, WS_OP_TEXT, 1, (const uint8_t *)"x", 1), WS_EBADHANDLE);
        CHECK_EQ(ws_parser_close(b, 1000, NULL), WS_EBADHANDLE);
        CHECK_EQ(ws_parser_output(b, &d, &n), WS_EBADHANDLE);
        CHECK_EQ(ws_parser_consume(b, 0), WS_EBADHANDLE);
        CHECK_EQ(ws_parser_close_status(b, &code, reason, sizeof reason), WS_EBADHANDLE);
        CHECK(ws_parser_errmsg(b) == NULL);
        ws_parser_free(b); /* no-op */
    }
    CHECK(strstr(ws_errmsg(), "ws_parser_t") != NULL);
    /* The options handle survived being passed as a parser */
    CHECK_EQ(ws_options_set_int(o, WS_OPT_AUTO_PONG, 1), WS_OK);
    ws_options_free(o);
}

int main(void) {
    h_name = "test_parser";
    RUN(test_new);
    RUN(test_single_frame);
    RUN(test_byte_by_byte);
    RUN(test_batch);
    RUN(test_messages_and_fragments);
    RUN(test_two_messages_one_batch);
    RUN(test_violations);
    RUN(test_violation_after_frames);
    RUN(test_peer_close);
    RUN(test_auto_options);
    RUN(test_write_and_output);
    RUN(test_round_trip);
    RUN(test_huge_lengths);
    RUN(test_args_and_handles);
    return h_report();
}
