/* libws_fanout PORT: the libws C side of the benchmark's fan-out scenario
 * (loadgen -fanout). Every connection is subscribed to topic "t" when it
 * opens; each text message a connection sends is published to "t",
 * excluding nobody. One thread, on the event hub: the hub frames a
 * message once per publish, not once per subscriber. */
#include <stdio.h>
#include <stdlib.h>

#include "ws.h"

#define BATCH 256

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
    if (rc == WS_OK && getenv("LIBWS_FANOUT_DEFLATE") != NULL) rc = ws_options_set_int(opts, WS_OPT_COMPRESSION, 1);
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
    for (;;) {
        int n = ws_hub_poll(hub, events, BATCH, -1);
        if (n < 0) break;
        for (int i = 0; i < n; i++) {
            ws_event_t *e = &events[i];
            if (e->type == WS_EVENT_OPEN) {
                ws_hub_subscribe(hub, e->conn, "t");
            } else if (e->type == WS_EVENT_MESSAGE && e->opcode == WS_OP_TEXT) {
                ws_hub_publish(hub, "t", WS_OP_TEXT, e->data, e->len, 0);
            }
        }
    }
    ws_hub_free(hub);
    return 0;
}
