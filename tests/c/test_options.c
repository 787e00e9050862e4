/* The options handle. */
#include "harness.h"

static void test_new_free(void) {
    ws_options_t *o = NULL;
    CHECK_EQ(ws_options_new(NULL), WS_EINVAL);
    CHECK_EQ(ws_options_new(&o), WS_OK);
    CHECK(o != NULL);
    CHECK_STR(ws_options_errmsg(o), "");
    ws_options_free(o);
    ws_options_free(o); /* double free: no-op */
    ws_options_free(NULL);
    ws_options_free(BOGUS(ws_options_t));
}

static void test_defaults(void) {
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    struct {
        int opt;
        int64_t def;
    } d[] = {{WS_OPT_MAX_FRAME_SIZE, 0},     {WS_OPT_MAX_MESSAGE_SIZE, 0},
             {WS_OPT_AUTO_PONG, 1},          {WS_OPT_AUTO_CLOSE, 1},
             {WS_OPT_TIMEOUT_MS, 10000},     {WS_OPT_CLOSE_TIMEOUT_MS, 5000},
             {WS_OPT_TLS_VERIFY, 1},         {WS_OPT_READ_TIMEOUT_MS, 0},
             {WS_OPT_WRITE_TIMEOUT_MS, 0},   {WS_OPT_READ_BUFFER_SIZE, 0},
             {WS_OPT_WRITE_BUFFER_SIZE, 0}};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        int64_t v = -42;
        CHECK_EQ(ws_options_get_int(o, d[i].opt, &v), WS_OK);
        CHECK_EQ(v, d[i].def);
    }
    ws_options_free(o);
}

static void test_set_int(void) {
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    int64_t v;
    CHECK_EQ(ws_options_set_int(o, WS_OPT_MAX_MESSAGE_SIZE, 1 << 20), WS_OK);
    CHECK_EQ(ws_options_get_int(o, WS_OPT_MAX_MESSAGE_SIZE, &v), WS_OK);
    CHECK_EQ(v, 1 << 20);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_MAX_MESSAGE_SIZE, -1), WS_EINVAL);
    CHECK(strstr(ws_options_errmsg(o), "WS_OPT_MAX_MESSAGE_SIZE") != NULL);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_AUTO_PONG, 2), WS_EINVAL);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_AUTO_PONG, 0), WS_OK);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_CLOSE_TIMEOUT_MS, 0), WS_EINVAL);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_TIMEOUT_MS, 0), WS_OK);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_READ_BUFFER_SIZE, 1), WS_EINVAL);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_READ_BUFFER_SIZE, 63), WS_EINVAL);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_WRITE_BUFFER_SIZE, 63), WS_EINVAL);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_READ_BUFFER_SIZE, 64), WS_OK);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_READ_BUFFER_SIZE, 0), WS_OK); /* back to pooled */
    /* Refused when set, not later by the constructor that reads it. */
    for (int bits = 1; bits < 8; bits++) {
        CHECK_EQ(ws_options_set_int(o, WS_OPT_COMPRESSION_MAX_WINDOW_BITS, bits), WS_EINVAL);
        CHECK(strstr(ws_errmsg(), "WS_OPT_COMPRESSION_MAX_WINDOW_BITS") != NULL);
    }
    CHECK_EQ(ws_options_get_int(o, WS_OPT_COMPRESSION_MAX_WINDOW_BITS, &v), WS_OK);
    CHECK_EQ(v, 0);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_COMPRESSION_MAX_WINDOW_BITS, 8), WS_OK);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_COMPRESSION_MAX_WINDOW_BITS, 0), WS_OK);
    /* The hub-wide cap on unsent bytes: 256 MiB unless set, at least 1. */
    CHECK_EQ(ws_options_get_int(o, WS_OPT_HUB_MAX_TOTAL_BUFFERED, &v), WS_OK);
    CHECK_EQ(v, 256 << 20);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_HUB_MAX_TOTAL_BUFFERED, 0), WS_EINVAL);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_HUB_MAX_TOTAL_BUFFERED, 1 << 30), WS_OK);
    /* unknown options, and the wrong kind */
    CHECK_EQ(ws_options_set_int(o, 0, 1), WS_EINVAL);
    CHECK_EQ(ws_options_set_int(o, 49, 1), WS_EINVAL);
    CHECK_EQ(ws_options_set_int(o, 999, 1), WS_EINVAL);
    CHECK_EQ(ws_options_set_int(o, -1, 1), WS_EINVAL);
    CHECK(strstr(ws_options_errmsg(o), "unknown option") != NULL);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_ORIGIN, 1), WS_EINVAL);
    CHECK(strstr(ws_errmsg(), "string") != NULL);
    CHECK_EQ(ws_options_get_int(o, WS_OPT_ORIGIN, &v), WS_EINVAL);
    CHECK_EQ(ws_options_get_int(o, 999, &v), WS_EINVAL);
    CHECK_EQ(ws_options_get_int(o, WS_OPT_AUTO_PONG, NULL), WS_EINVAL);
    ws_options_free(o);
}

static void test_set_str(void) {
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_SUBPROTOCOLS, "chat, superchat"), WS_OK);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_SUBPROTOCOLS, "chat, bad token"), WS_EINVAL);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_SUBPROTOCOLS, NULL), WS_OK);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_HEADERS, "X-A: 1\r\nX-B: two words\r\n"), WS_OK);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_HEADERS, "X-A: 1\nAuthorization: Bearer x"), WS_OK);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_HEADERS, "no colon here"), WS_EINVAL);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_HEADERS, "Bad Name: x"), WS_EINVAL);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_HEADERS, "X-A: a\x01" "b"), WS_EINVAL);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_HEADERS, "Host: example.com"), WS_EINVAL);
    CHECK(strstr(ws_options_errmsg(o), "Host") != NULL);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_HEADERS, "Sec-WebSocket-Key: x"), WS_EINVAL);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_ORIGIN, "http://example.com"), WS_OK);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_ORIGIN, "http://a\r\nX: y"), WS_EINVAL);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_TLS_CERT_FILE, "/nonexistent"), WS_OK); /* read at use */
    CHECK_EQ(ws_options_set_str(o, WS_OPT_TLS_SERVER_NAME, "localhost"), WS_OK);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_AUTO_PONG, "1"), WS_EINVAL);
    CHECK_EQ(ws_options_set_str(o, 98, "x"), WS_EINVAL);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_ORIGIN, ""), WS_OK);
    ws_options_free(o);
}

static void test_bad_handles(void) {
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_free(o);
    int64_t v;
    ws_options_t *bad[] = {NULL, o, BOGUS(ws_options_t)};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(ws_options_set_int(bad[i], WS_OPT_AUTO_PONG, 1), WS_EBADHANDLE);
        CHECK_EQ(ws_options_set_str(bad[i], WS_OPT_ORIGIN, "x"), WS_EBADHANDLE);
        CHECK_EQ(ws_options_get_int(bad[i], WS_OPT_AUTO_PONG, &v), WS_EBADHANDLE);
        CHECK(ws_options_errmsg(bad[i]) == NULL);
        ws_options_free(bad[i]);
    }
    CHECK(strstr(ws_errmsg(), "ws_options_t") != NULL);
    /* A freed options handle given to a constructor */
    ws_parser_t *p = NULL;
    CHECK_EQ(ws_parser_new(&p, WS_ROLE_SERVER, o), WS_EBADHANDLE);
    CHECK(p == NULL);
    ws_conn_t *c = NULL;
    CHECK_EQ(ws_connect(&c, "ws://127.0.0.1:1/", o), WS_EBADHANDLE);
    ws_listener_t *l = NULL;
    CHECK_EQ(ws_listen(&l, "127.0.0.1", 0, o), WS_EBADHANDLE);
    /* A handle of another type */
    ws_parser_t *other;
    REQUIRE(ws_parser_new(&other, WS_ROLE_SERVER, NULL) == WS_OK);
    CHECK_EQ(ws_options_set_int((ws_options_t *)(void *)other, WS_OPT_AUTO_PONG, 1), WS_EBADHANDLE);
    ws_options_free((ws_options_t *)(void *)other); /* no-op: not an options handle */
    CHECK_EQ(ws_parser_feed(other, (const uint8_t *)"", 0), WS_OK);
    ws_parser_free(other);
}

/* Options are copied at use: freeing them right after the constructor is fine. */
static void test_copied_at_use(void) {
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    ws_options_set_int(o, WS_OPT_MAX_MESSAGE_SIZE, 4);
    ws_parser_t *p;
    REQUIRE(ws_parser_new(&p, WS_ROLE_CLIENT, o) == WS_OK);
    ws_options_set_int(o, WS_OPT_MAX_MESSAGE_SIZE, 1000); /* does not affect p */
    ws_options_free(o);
    static const uint8_t five[] = {0x82, 0x05, 1, 2, 3, 4, 5};
    ws_frame_t f;
    CHECK_EQ(ws_parser_feed(p, five, sizeof five), WS_OK);
    CHECK_EQ(ws_parser_next(p, &f, 1, 0), WS_ETOOBIG);
    ws_parser_free(p);
}

static void test_many_handles(void) {
    /* Create and free many: handles are never confused, nothing leaks. */
    ws_options_t *hs[300];
    for (int i = 0; i < 300; i++)
        REQUIRE(ws_options_new(&hs[i]) == WS_OK);
    for (int i = 0; i < 300; i += 2)
        ws_options_free(hs[i]);
    int ok = 0;
    for (int i = 0; i < 300; i++) {
        int rc = ws_options_set_int(hs[i], WS_OPT_AUTO_PONG, 0);
        ok += (i % 2) ? rc == WS_OK : rc == WS_EBADHANDLE;
    }
    CHECK_EQ(ok, 300);
    for (int i = 1; i < 300; i += 2)
        ws_options_free(hs[i]);
}

int main(void) {
    h_name = "test_options";
    RUN(test_new_free);
    RUN(test_defaults);
    RUN(test_set_int);
    RUN(test_set_str);
    RUN(test_bad_handles);
    RUN(test_copied_at_use);
    RUN(test_many_handles);
    return h_report();
}
