/* Frame primitives, version and error functions. */
#include "harness.h"

#include <pthread.h>
#include <stdint.h>

static void test_version(void) {
    CHECK_STR(ws_version(), WS_VERSION_STRING);
    CHECK_EQ(ws_version_number(), WS_VERSION_NUMBER);
    CHECK_EQ(WS_VERSION_NUMBER, WS_VERSION_MAJOR * 10000 + WS_VERSION_MINOR * 100 + WS_VERSION_PATCH);
}

static void test_strerror(void) {
    int codes[] = {WS_OK, WS_EINVAL, WS_EBADHANDLE, WS_ENOMEM, WS_EPROTO, WS_EUTF8, WS_ETOOBIG,
                   WS_ECLOSED, WS_ETIMEDOUT, WS_EIO, WS_EHANDSHAKE, WS_ETLS, WS_ENOSPACE,
                   WS_EAGAIN, WS_EINTERNAL, WS_EPOLICY};
    int n = (int)(sizeof codes / sizeof codes[0]);
    for (int i = 0; i < n; i++) {
        const char *s = ws_strerror(codes[i]);
        CHECK(s != NULL && s[0] != '\0' && strcmp(s, "unknown error") != 0);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(s, ws_strerror(codes[j])) != 0);
    }
    CHECK_STR(ws_strerror(-999), "unknown error");
    CHECK_STR(ws_strerror(12345), "unknown error");
    CHECK(ws_strerror(WS_EINVAL) == ws_strerror(WS_EINVAL)); /* static */
}

static void test_parse_basic(void) {
    ws_header_t h;
    static const uint8_t hello[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    CHECK_EQ(ws_parse_header(hello, sizeof hello, &h), 2);
    CHECK_EQ(h.fin, 1);
    CHECK_EQ(h.opcode, WS_OP_TEXT);
    CHECK_EQ(h.masked, 0);
    CHECK_EQ(h.rsv, 0);
    CHECK_EQ(h.length, 5);

    static const uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    CHECK_EQ(ws_parse_header(masked, sizeof masked, &h), 6);
    CHECK_EQ(h.masked, 1);
    CHECK_MEM(h.mask, 4, "\x37\xfa\x21\x3d", 4);
    uint8_t payload[5];
    memcpy(payload, masked + 6, 5);
    CHECK_EQ(ws_mask(payload, 5, h.mask, 0), 1);
    CHECK_MEM(payload, 5, "Hello", 5);

    static const uint8_t b256[] = {0x82, 0x7E, 0x01, 0x00};
    CHECK_EQ(ws_parse_header(b256, sizeof b256, &h), 4);
    CHECK_EQ(h.length, 256);
    CHECK_EQ(h.opcode, WS_OP_BINARY);

    static const uint8_t b64k[] = {0x02, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 9, 8, 7, 6};
    CHECK_EQ(ws_parse_header(b64k, sizeof b64k, &h), 14);
    CHECK_EQ(h.length, 65536);
    CHECK_EQ(h.fin, 0);
    CHECK_EQ(h.masked, 1);
    CHECK_MEM(h.mask, 4, "\x09\x08\x07\x06", 4);

    static const uint8_t rsv[] = {0xC1, 0x00}; /* RSV1: allowed by parse_header */
    CHECK_EQ(ws_parse_header(rsv, sizeof rsv, &h), 2);
    CHECK_EQ(h.rsv, WS_RSV1);

    static const uint8_t close0[] = {0x88, 0x00};
    CHECK_EQ(ws_parse_header(close0, 2, &h), 2);
    CHECK_EQ(h.opcode, WS_OP_CLOSE);
    static const uint8_t ping125[] = {0x89, 0x7D};
    CHECK_EQ(ws_parse_header(ping125, 2, &h), 2);
    CHECK_EQ(h.length, 125);
}

static void test_parse_truncated(void) {
    ws_header_t h;
    static const uint8_t b64k[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 9, 8, 7, 6};
    for (size_t n = 0; n < sizeof b64k; n++)
        CHECK_EQ(ws_parse_header(b64k, n, &h), 0);
    static const uint8_t b256[] = {0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4};
    for (size_t n = 0; n < sizeof b256; n++)
        CHECK_EQ(ws_parse_header(b256, n, &h), 0);
    CHECK_EQ(ws_parse_header(NULL, 0, &h), 0);
    /* Only the header is read, however long the buffer says it is. */
    CHECK_EQ(ws_parse_header(b64k, (size_t)1 << 40, &h), 14);
}

static void test_parse_malformed(void) {
    ws_header_t h;
    static const uint8_t reserved[][2] = {{0x83, 0}, {0x87, 0}, {0x8B, 0}, {0x8F, 0}};
    for (int i = 0; i < 4; i++)
        CHECK_EQ(ws_parse_header(reserved[i], 2, &h), WS_EPROTO);
    static const uint8_t frag_ping[] = {0x09, 0x00};
    CHECK_EQ(ws_parse_header(frag_ping, 2, &h), WS_EPROTO);
    CHECK(strstr(ws_errmsg(), "fragmented control") != NULL);
    static const uint8_t long_close[] = {0x88, 0x7E, 0x00, 0x7E};
    CHECK_EQ(ws_parse_header(long_close, 4, &h), WS_EPROTO);
    static const uint8_t ping126[] = {0x89, 0x7E, 0x00, 0x7E};
    CHECK_EQ(ws_parse_header(ping126, 2, &h), 0); /* the length is not known yet */
    CHECK_EQ(ws_parse_header(ping126, 4, &h), WS_EPROTO);
    static const uint8_t top_bit[] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1};
    CHECK_EQ(ws_parse_header(top_bit, sizeof top_bit, &h), WS_EPROTO);

    /* NULL arguments */
    CHECK_EQ(ws_parse_header(frag_ping, 2, NULL), WS_EINVAL);
    CHECK_EQ(ws_parse_header(NULL, 2, &h), WS_EINVAL);
    CHECK(strlen(ws_errmsg()) > 0);
}

static void test_encode(void) {
    uint64_t lengths[] = {0, 1, 125, 126, 65535, 65536, (uint64_t)1 << 40, INT64_MAX};
    int sizes[] = {2, 2, 2, 4, 4, 10, 10, 10};
    for (int i = 0; i < 8; i++) {
        for (int m = 0; m < 2; m++) {
            ws_header_t h = {.fin = (uint8_t)(i & 1), .rsv = WS_RSV2, .opcode = WS_OP_BINARY,
                             .masked = (uint8_t)m, .mask = {0xde, 0xad, 0xbe, 0xef},
                             .length = lengths[i]};
            uint8_t buf[WS_MAX_HEADER_SIZE];
            int n = ws_encode_header(&h, buf, sizeof buf);
            CHECK_EQ(n, sizes[i] + 4 * m);
            ws_header_t g;
            CHECK_EQ(ws_parse_header(buf, (size_t)n, &g), n);
            CHECK_EQ(g.length, h.length);
            CHECK_EQ(g.fin, h.fin);
            CHECK_EQ(g.rsv, h.rsv);
            CHECK_EQ(g.opcode, h.opcode);
            CHECK_EQ(g.masked, h.masked);
            if (m)
                CHECK_MEM(g.mask, 4, h.mask, 4);
            /* One byte short */
            CHECK_EQ(ws_encode_header(&h, buf, (size_t)n - 1), WS_ENOSPACE);
        }
    }
    ws_header_t h = {.fin = 1, .opcode = 16};
    uint8_t buf[WS_MAX_HEADER_SIZE];
    CHECK_EQ(ws_encode_header(&h, buf, sizeof buf), WS_EINVAL);
    h.opcode = WS_OP_TEXT;
    h.rsv = 8;
    CHECK_EQ(ws_encode_header(&h, buf, sizeof buf), WS_EINVAL);
    h.rsv = 0;
    h.length = (uint64_t)1 << 63;
    CHECK_EQ(ws_encode_header(&h, buf, sizeof buf), WS_EINVAL);
    h.length = 3;
    CHECK_EQ(ws_encode_header(NULL, buf, sizeof buf), WS_EINVAL);
    CHECK_EQ(ws_encode_header(&h, NULL, 14), WS_EINVAL);
    CHECK_EQ(ws_encode_header(&h, NULL, 0), WS_ENOSPACE);
    CHECK_EQ(ws_encode_header(&h, buf, 0), WS_ENOSPACE);
    /* Reserved opcodes can be encoded (to build invalid frames in tests). */
    h.opcode = 3;
    CHECK_EQ(ws_encode_header(&h, buf, sizeof buf), 2);
    CHECK_EQ(buf[0], 0x83);
}

static void ref_mask(uint8_t *b, size_t n, const uint8_t key[4], size_t off) {
    for (size_t i = 0; i < n; i++)
        b[i] ^= key[(off + i) & 3];
}

static void test_mask(void) {
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    size_t big = 65536 + 37;
    uint8_t *a = malloc(big + 8), *b = malloc(big + 8);
    REQUIRE(a && b);
    for (size_t i = 0; i < big + 8; i++)
        a[i] = (uint8_t)(i * 131 + 7);
    int bad = 0;
    size_t lens[] = {0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 127, 128, 129,
                     255, 256, 300, 1000, 1024, 4099, 65536, 65536 + 37};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        for (size_t align = 0; align < 8; align += 3) {
            for (size_t off = 0; off < 6; off++) {
                size_t n = lens[li];
                memcpy(b, a, big + 8);
                size_t next = ws_mask(b + align, n, key, off);
                ref_mask(a + align, n, key, off);
                if (next != ((off + n) & 3) || memcmp(a, b, big + 8) != 0)
                    bad++;
                ref_mask(a + align, n, key, off); /* restore */
            }
        }
    }
    CHECK_EQ(bad, 0);
    /* In pieces == at once, and masking twice restores. */
    memcpy(b, a, big);
    size_t off = 0;
    size_t cuts[] = {1, 6, 100, 1000, 4096, 60000};
    size_t pos = 0;
    for (int i = 0; i < 6; i++) {
        off = ws_mask(b + pos, cuts[i] - pos, key, off);
        pos = cuts[i];
    }
    off = ws_mask(b + pos, big - pos, key, off);
    CHECK_EQ(off, big & 3);
    ref_mask(a, big, key, 0);
    CHECK(memcmp(a, b, big) == 0);
    ws_mask(b, big, key, 0);
    ref_mask(a, big, key, 0);
    CHECK(memcmp(a, b, big) == 0);
    /* NULL: nothing happens, the offset comes back */
    CHECK_EQ(ws_mask(NULL, 10, key, 6), 2);
    CHECK_EQ(ws_mask(b, 10, NULL, 3), 3);
    CHECK_EQ(ws_mask(b, 0, key, 1), 1);
    free(a);
    free(b);
}

static void test_accept_key(void) {
    char out[29];
    memset(out, 'x', sizeof out);
    CHECK_EQ(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), WS_OK);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK_EQ(ws_accept_key(NULL, out), WS_EINVAL);
    CHECK_EQ(ws_accept_key("x", NULL), WS_EINVAL);
    CHECK_EQ(ws_accept_key("", out), WS_OK);
    CHECK_EQ(strlen(out), 28);
}

static void test_utf8(void) {
    struct {
        const char *s;
        size_t n;
        int valid;
    } cases[] = {
        {"", 0, 1},
        {"hello", 5, 1},
        {"h\xc3\xa9llo", 6, 1},
        {"\xe2\x82\xac", 3, 1},
        {"\xf0\x9f\x98\x80", 4, 1},
        {"\xf4\x8f\xbf\xbf", 4, 1},           /* U+10FFFF */
        {"\xc0\x80", 2, 0},                   /* overlong NUL */
        {"\xe0\x80\xaf", 3, 0},               /* overlong */
        {"\xed\xa0\x80", 3, 0},               /* surrogate */
        {"\xf4\x90\x80\x80", 4, 0},           /* > U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\xe2\x82", 2, 0},                   /* truncated */
        {"\x80", 1, 0},                       /* lone continuation */
        {"abc\xff", 4, 0},
        {"\x00", 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_EQ(ws_utf8_valid((const uint8_t *)cases[i].s, cases[i].n), cases[i].valid);
    /* Long ASCII with one bad byte near the end */
    uint8_t big[5000];
    memset(big, 'a', sizeof big);
    CHECK_EQ(ws_utf8_valid(big, sizeof big), 1);
    big[4990] = 0xff;
    CHECK_EQ(ws_utf8_valid(big, sizeof big), 0);
    CHECK_EQ(ws_utf8_valid(NULL, 0), 1);
    CHECK_EQ(ws_utf8_valid(NULL, 1), WS_EINVAL);
}

/* ws_errmsg is per thread. */
static char other_msg[600];
static void *fail_in_thread(void *arg) {
    (void)arg;
    ws_header_t h;
    ws_parse_header(NULL, 5, &h);
    snprintf(other_msg, sizeof other_msg, "%s", ws_errmsg());
    return NULL;
}

static void test_errmsg_thread_local(void) {
    static const uint8_t frag_ping[] = {0x09, 0x00};
    ws_header_t h;
    CHECK_EQ(ws_parse_header(frag_ping, 2, &h), WS_EPROTO);
    char mine[600];
    snprintf(mine, sizeof mine, "%s", ws_errmsg());
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, fail_in_thread, NULL) == 0);
    pthread_join(t, NULL);
    CHECK(strstr(other_msg, "NULL") != NULL);
    CHECK_STR(ws_errmsg(), mine); /* unchanged by the other thread */
    /* Success leaves the message alone */
    CHECK_EQ(ws_utf8_valid((const uint8_t *)"a", 1), 1);
    CHECK_STR(ws_errmsg(), mine);
}

int main(void) {
    h_name = "test_frames";
    RUN(test_version);
    RUN(test_strerror);
    RUN(test_parse_basic);
    RUN(test_parse_truncated);
    RUN(test_parse_malformed);
    RUN(test_encode);
    RUN(test_mask);
    RUN(test_accept_key);
    RUN(test_utf8);
    RUN(test_errmsg_thread_local);
    return h_report();
}
