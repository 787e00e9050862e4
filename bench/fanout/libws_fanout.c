/* libws_fanout PORT: the libws C side of the benchmark's fan-out scenario
 * (loadgen -fanout). Every connection is subscribed to topic "t" when it
 * opens; each text message a connection sends is published to "t",
 * excluding nobody. One thread, on the event hub: the hub frames a
 * message once per publish, not once per subscriber.
 *
 * The publishes of one poll batch go to the hub together, as
 * WS_CMD_PUBLISH records of one ws_hub_send_raw call, so that a
 * subscriber gets them in one writev; a ws_hub_publish call per message
 * costs a writev per subscriber each (measured: one writev per delivery,
 * against one per batch of about 8 with records).
 *
 * LIBWS_FANOUT_DEFLATE=1 accepts permessage-deflate (libws's defaults);
 * LIBWS_FANOUT_BROKER=redis://host:port/db joins every server given the
 * same URL into one set of topics (the scale-out figure: a publish on one
 * reaches the subscribers of all). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

#define BATCH 256
#define TOPIC "t"

typedef struct {
    uint8_t *p;
    size_t len, cap;
} buf_t;

/* Appends a WS_CMD_PUBLISH record of data to b (docs/hub-contract.md:
 * 24-byte header, payload u16 topic length LE | topic | message, padded to
 * 8 bytes). Returns 0, or -1 when out of memory. */
static int append_publish(buf_t *b, const uint8_t *data, size_t n) {
    size_t tlen = sizeof TOPIC - 1;
    size_t plen = 2 + tlen + n;
    size_t need = WS_RECORD_HEADER + ((plen + 7) & ~(size_t)7);
    if (plen > UINT32_MAX) return -1;
    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->len + need) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL) return -1;
        b->p = p;
        b->cap = cap;
    }
    uint8_t *r = b->p + b->len;
    memset(r, 0, need);
    uint32_t len32 = (uint32_t)plen;
    r[0] = WS_CMD_PUBLISH;
    r[1] = WS_OP_TEXT;
    memcpy(r + 4, &len32, 4); /* little-endian hosts: the hub's byte order */
    /* conn (bytes 8..15) = 0: exclude nobody */
    r[WS_RECORD_HEADER] = (uint8_t)tlen;
    r[WS_RECORD_HEADER + 1] = (uint8_t)(tlen >> 8);
    memcpy(r + WS_RECORD_HEADER + 2, TOPIC, tlen);
    if (n) memcpy(r + WS_RECORD_HEADER + 2 + tlen, data, n);
    b->len += need;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    ws_options_t *opts;
    ws_hub_t *hub;
    int rc = ws_options_new(&opts);
    /* Subscribers that read slowly are buffered up to the default limits;
     * loadgen keeps a bounded number of messages in flight. */
    const char *broker = getenv("LIBWS_FANOUT_BROKER");
    if (rc == WS_OK && getenv("LIBWS_FANOUT_DEFLATE") != NULL) rc = ws_options_set_int(opts, WS_OPT_COMPRESSION, 1);
    if (rc == WS_OK && broker != NULL && *broker) rc = ws_options_set_str(opts, WS_OPT_HUB_BROKER, broker);
    if (rc != WS_OK) {
        fprintf(stderr, "options: %s\n", ws_strerror(rc));
        return 1;
    }
    rc = ws_hub_new(&hub, opts);
    ws_options_free(opts);
    if (rc != WS_OK) {
        fprintf(stderr, "ws_hub_new: %s\n", ws_strerror(rc));
        return 1;
    }
    if (ws_hub_listen(hub, "127.0.0.1", port, NULL, NULL) < 0) {
        fprintf(stderr, "listen on 127.0.0.1:%d: %s\n", port, ws_hub_errmsg(hub));
        ws_hub_free(hub);
        return 1;
    }
    ws_event_t events[BATCH];
    buf_t out = {0};
    for (;;) {
        int n = ws_hub_poll(hub, events, BATCH, -1);
        if (n < 0) break;
        for (int i = 0; i < n; i++) {
            ws_event_t *e = &events[i];
            if (e->type == WS_EVENT_OPEN) {
                ws_hub_subscribe(hub, e->conn, TOPIC);
            } else if (e->type == WS_EVENT_BROKER) {
                /* An outage loses the other servers' deliveries: loadgen
                 * fails the run, and the log says why. */
                fprintf(stderr, "broker %s: %.*s\n", e->code == WS_BROKER_UP ? "up" : "down", (int)e->len, (const char *)e->data);
            } else if (e->type == WS_EVENT_MESSAGE && e->opcode == WS_OP_TEXT) {
                if (append_publish(&out, e->data, e->len) < 0) {
                    /* Out of memory: this message alone, unbatched. */
                    ws_hub_publish(hub, TOPIC, WS_OP_TEXT, e->data, e->len, 0);
                }
            }
        }
        if (out.len > 0) {
            rc = ws_hub_send_raw(hub, out.p, out.len);
            if (rc < 0 && rc != WS_ECLOSED) fprintf(stderr, "ws_hub_send_raw: %s\n", ws_strerror(rc));
            out.len = 0;
        }
    }
    free(out.p);
    ws_hub_free(hub);
    return 0;
}
