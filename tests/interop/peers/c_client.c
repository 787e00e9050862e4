/*
 * c_client URL: the interop script run by a libws C client (ws_connect,
 * ws_write_frame, ws_read_message, ws_ping, ws_close). One connection; one
 * JSON line per step on stdout:
 *     {"step":"text-ascii","ok":true,"detail":""}
 * Payload formulas are those of tests/interop/lib.mjs. Built by
 * tests/interop/run.sh (and matrix.mjs) against build/lib/libws.so.
 */
#include <ws.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ws_conn_t *conn;
static int failures;

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static void report(const char *step, int ok, const char *detail) {
    printf("{\"step\":\"%s\",\"ok\":%s,\"detail\":", step, ok ? "true" : "false");
    json_str(detail ? detail : "");
    printf("}\n");
    fflush(stdout);
    if (!ok) failures++;
}

static uint8_t *binary_payload(size_t n) {
    uint8_t *b = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)((i * 31 + 7) & 255);
    return b;
}

static uint8_t *text_payload(size_t n) {
    static const char unit[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* aé€😀: 10 bytes */
    uint8_t *b = malloc(n ? n : 1);
    memset(b, 'x', n);
    size_t whole = n / 10 * 10;
    for (size_t i = 0; i < whole; i += 10) memcpy(b + i, unit, 10);
    return b;
}

/* Reads one message and compares it with want/len/opcode. */
static void expect_echo(const char *step, int opcode, const uint8_t *want, size_t len) {
    char detail[256];
    ws_frame_t m;
    int rc = ws_read_message(conn, &m);
    if (rc != WS_OK) {
        snprintf(detail, sizeof detail, "read: %s (%s)", ws_strerror(rc), ws_conn_errmsg(conn));
        report(step, 0, detail);
        return;
    }
    if (m.opcode != opcode) {
        snprintf(detail, sizeof detail, "opcode %d, want %d", m.opcode, opcode);
        report(step, 0, detail);
    } else if (m.len != len) {
        snprintf(detail, sizeof detail, "length %zu, want %zu", m.len, len);
        report(step, 0, detail);
    } else if (len && memcmp(m.data, want, len) != 0) {
        size_t i = 0;
        while (m.data[i] == want[i]) i++;
        snprintf(detail, sizeof detail, "first difference at byte %zu", i);
        report(step, 0, detail);
    } else {
        report(step, 1, "");
    }
}

static void echo(const char *step, int opcode, const uint8_t *data, size_t len) {
    int rc = ws_write_message(conn, opcode, data, len);
    if (rc != WS_OK) {
        char detail[256];
        snprintf(detail, sizeof detail, "write: %s (%s)", ws_strerror(rc), ws_conn_errmsg(conn));
        report(step, 0, detail);
        return;
    }
    expect_echo(step, opcode, data, len);
}

static void echo_sized(const char *step, int opcode, size_t n) {
    uint8_t *p = opcode == WS_OP_TEXT ? text_payload(n) : binary_payload(n);
    echo(step, opcode, p, n);
    free(p);
}

/* Sends data in fragments cut at cuts[0..ncuts) (ascending, inside data). */
static void fragmented(const char *step, int opcode, const uint8_t *data, size_t len, const size_t *cuts,
                       int ncuts) {
    size_t from = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        int rc = ws_write_frame(conn, i == 0 ? opcode : WS_OP_CONTINUATION, i == ncuts, data + from, to - from);
        if (rc != WS_OK) {
            char detail[256];
            snprintf(detail, sizeof detail, "write fragment %d: %s (%s)", i, ws_strerror(rc), ws_conn_errmsg(conn));
            report(step, 0, detail);
            return;
        }
        from = to;
    }
    expect_echo(step, opcode, data, len);
}

static void ping(void) {
    const char *payload = "ping \xe2\x9c\x93"; /* "ping ✓" */
    size_t len = strlen(payload);
    char detail[256];
    int rc = ws_ping(conn, (const uint8_t *)payload, len);
    if (rc != WS_OK) {
        snprintf(detail, sizeof detail, "ping: %s (%s)", ws_strerror(rc), ws_conn_errmsg(conn));
        report("ping", 0, detail);
        return;
    }
    for (int i = 0; i < 16; i++) {
        ws_frame_t f;
        rc = ws_read_frame(conn, &f);
        if (rc != WS_OK) {
            snprintf(detail, sizeof detail, "read: %s (%s)", ws_strerror(rc), ws_conn_errmsg(conn));
            report("ping", 0, detail);
            return;
        }
        if (f.opcode != WS_OP_PONG) continue;
        if (f.len == len && memcmp(f.data, payload, len) == 0) report("ping", 1, "");
        else report("ping", 0, "pong payload differs");
        return;
    }
    report("ping", 0, "no pong among the next 16 frames");
}

static void close_4000(void) {
    char detail[256], reason[128];
    int code = 0;
    int rc = ws_close(conn, 4000, "bye \xe2\x80\x94 \xe2\x9c\x93"); /* "bye — ✓" */
    if (rc != WS_OK) {
        snprintf(detail, sizeof detail, "ws_close: %s (%s)", ws_strerror(rc), ws_conn_errmsg(conn));
        report("close-4000", 0, detail);
        return;
    }
    if (ws_close_status(conn, &code, reason, sizeof reason) != 1) {
        report("close-4000", 0, "no close status after ws_close");
        return;
    }
    snprintf(detail, sizeof detail, "peer replied %d \"%s\"", code, reason);
    report("close-4000", code == 4000, detail);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 2;
    }
    ws_options_t *o;
    ws_options_new(&o);
    ws_options_set_int(o, WS_OPT_TIMEOUT_MS, 10000);
    ws_options_set_int(o, WS_OPT_READ_TIMEOUT_MS, 15000);
    ws_options_set_int(o, WS_OPT_WRITE_TIMEOUT_MS, 15000);
    ws_options_set_int(o, WS_OPT_CLOSE_TIMEOUT_MS, 5000);
    int rc = ws_connect(&conn, argv[1], o);
    ws_options_free(o);
    if (rc != WS_OK) {
        report("connect", 0, ws_errmsg());
        return 1;
    }

    const char *ascii = "Hello, libws!";
    const char *utf8 = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 \xe4\xbd\xa0\xe5\xa5\xbd, \xd0\xbc\xd0\xb8\xd1\x80 "
                       "\xf0\x9f\x8c\x8d\xf0\x9f\x9a\x80 \xf4\x8f\xbf\xbf"; /* héllo wörld — 你好, мир 🌍🚀 U+10FFFF */
    echo("text-ascii", WS_OP_TEXT, (const uint8_t *)ascii, strlen(ascii));
    echo("text-utf8", WS_OP_TEXT, (const uint8_t *)utf8, strlen(utf8));
    echo_sized("binary-256", WS_OP_BINARY, 256);
    echo("text-empty", WS_OP_TEXT, (const uint8_t *)"", 0);
    echo("binary-empty", WS_OP_BINARY, (const uint8_t *)"", 0);
    static const size_t sizes[] = {125, 126, 65535, 65536};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char step[32];
        snprintf(step, sizeof step, "text-%zu", sizes[i]);
        echo_sized(step, WS_OP_TEXT, sizes[i]);
        snprintf(step, sizeof step, "binary-%zu", sizes[i]);
        echo_sized(step, WS_OP_BINARY, sizes[i]);
    }
    echo_sized("binary-1MiB", WS_OP_BINARY, 1 << 20);
    /* 'é' is bytes 1..2 of utf8: cut inside it, and inside the emoji. */
    size_t tcuts[] = {2, 9, strlen(utf8) - 2};
    fragmented("frag-text", WS_OP_TEXT, (const uint8_t *)utf8, strlen(utf8), tcuts, 3);
    uint8_t *bin = binary_payload(200000);
    size_t bcuts[] = {1, 70000};
    fragmented("frag-binary", WS_OP_BINARY, bin, 200000, bcuts, 2);
    free(bin);
    ping();
    close_4000();
    ws_conn_free(conn);
    return failures ? 1 : 0;
}
