/*
 * frames: the frame primitives of libws on literal bytes, no network.
 * Parses the example frames of RFC 6455 section 5.7 and a few broken ones,
 * unmasks a payload in two pieces, encodes a header, validates UTF-8 and
 * computes a Sec-WebSocket-Accept value.
 */
#include <ws.h>

#include <stdio.h>
#include <string.h>

static const char *opname(int op) {
    switch (op) {
    case WS_OP_CONTINUATION: return "continuation";
    case WS_OP_TEXT: return "text";
    case WS_OP_BINARY: return "binary";
    case WS_OP_CLOSE: return "close";
    case WS_OP_PING: return "ping";
    case WS_OP_PONG: return "pong";
    }
    return "reserved";
}

static void show(const char *what, const uint8_t *b, size_t n) {
    ws_header_t h;
    int rc = ws_parse_header(b, n, &h);
    printf("%-28s ", what);
    if (rc < 0) {
        printf("error %d (%s): %s\n", rc, ws_strerror(rc), ws_errmsg());
        return;
    }
    if (rc == 0) {
        printf("incomplete: need more bytes\n");
        return;
    }
    printf("%d-byte header: %s fin=%d rsv=%d masked=%d length=%llu", rc, opname(h.opcode), h.fin,
           h.rsv, h.masked, (unsigned long long)h.length);
    if (h.masked && n >= (size_t)rc + h.length) {
        uint8_t payload[256];
        size_t len = (size_t)h.length;
        memcpy(payload, b + rc, len);
        /* Unmask in two pieces to show the key offset carrying over. */
        size_t off = ws_mask(payload, len / 2, h.mask, 0);
        ws_mask(payload + len / 2, len - len / 2, h.mask, off);
        printf(" payload=\"%.*s\"", (int)len, (const char *)payload);
    } else if (!h.masked && n >= (size_t)rc + h.length && h.length < 64) {
        printf(" payload=\"%.*s\"", (int)h.length, (const char *)b + rc);
    }
    printf("\n");
}

int main(void) {
    /* RFC 6455 section 5.7 */
    static const uint8_t unmasked_hello[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    static const uint8_t masked_hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                           0x9f, 0x4d, 0x51, 0x58};
    static const uint8_t frag1[] = {0x01, 0x03, 'H', 'e', 'l'};
    static const uint8_t frag2[] = {0x80, 0x02, 'l', 'o'};
    static const uint8_t ping[] = {0x89, 0x05, 'H', 'e', 'l', 'l', 'o'};
    static const uint8_t bin256[] = {0x82, 0x7E, 0x01, 0x00};
    static const uint8_t bin64k[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0};
    /* Broken or incomplete */
    static const uint8_t truncated[] = {0x82, 0x7E, 0x01};
    static const uint8_t reserved_op[] = {0x83, 0x00};
    static const uint8_t fragmented_ping[] = {0x09, 0x00};
    static const uint8_t huge_length[] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0};

    show("unmasked text (5.7)", unmasked_hello, sizeof unmasked_hello);
    show("masked text (5.7)", masked_hello, sizeof masked_hello);
    show("first fragment", frag1, sizeof frag1);
    show("last fragment", frag2, sizeof frag2);
    show("ping", ping, sizeof ping);
    show("256-byte binary header", bin256, sizeof bin256);
    show("64 KiB binary header", bin64k, sizeof bin64k);
    show("truncated header", truncated, sizeof truncated);
    show("reserved opcode 3", reserved_op, sizeof reserved_op);
    show("fragmented ping", fragmented_ping, sizeof fragmented_ping);
    show("length with top bit set", huge_length, sizeof huge_length);

    ws_header_t h = {.fin = 1, .opcode = WS_OP_BINARY, .masked = 1,
                     .mask = {1, 2, 3, 4}, .length = 70000};
    uint8_t hdr[WS_MAX_HEADER_SIZE];
    int n = ws_encode_header(&h, hdr, sizeof hdr);
    printf("%-28s %d bytes:", "encoded 70000-byte header", n);
    for (int i = 0; i < n; i++)
        printf(" %02x", hdr[i]);
    printf("\n");

    static const uint8_t good[] = "h\xc3\xa9llo \xe2\x82\xac";
    static const uint8_t bad[] = {'a', 0xed, 0xa0, 0x80}; /* a surrogate */
    printf("%-28s %d\n", "utf8 \"h\xc3\xa9llo \xe2\x82\xac\" valid", ws_utf8_valid(good, sizeof good - 1));
    printf("%-28s %d\n", "utf8 with surrogate valid", ws_utf8_valid(bad, sizeof bad));

    char accept[29];
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept);
    printf("%-28s %s\n", "accept key (RFC example)", accept);
    return 0;
}
