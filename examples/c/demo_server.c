/* demo_server PORT [WEBROOT]: the demo behind ./build.sh run. Serves the
 * page in WEBROOT (default examples/web) over HTTP and WebSockets on the same
 * port: text starting with '#' is chat, published to the topic every
 * connection is subscribed to (the sender gets it back too); anything else
 * is echoed to its sender. One thread, on the event hub. */
#include <stdio.h>
#include <stdlib.h>

#include "ws.h"

#define BATCH 256

/* Every connection joins the chat topic when it opens, and leaves it when it
 * ends; the hub builds a chat message's frame once for all of them rather
 * than once per send. */
#define CHAT_TOPIC "chat"

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [WEBROOT]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    const char *webroot = argc == 3 ? argv[2] : "examples/web";
    ws_options_t *opts;
    ws_hub_t *hub;
    int rc = ws_options_new(&opts);
    if (rc == WS_OK) rc = ws_options_set_str(opts, WS_OPT_HUB_STATIC_DIR, webroot);
    /* Browsers offer permessage-deflate; accept it. */
    if (rc == WS_OK) rc = ws_options_set_int(opts, WS_OPT_COMPRESSION, 1);
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
    printf("libws demo: open http://127.0.0.1:%d/ in a browser (WebSocket at ws://127.0.0.1:%d/)\n", port, port);
    fflush(stdout);
    ws_event_t events[BATCH];
    for (;;) {
        int n = ws_hub_poll(hub, events, BATCH, -1);
        if (n < 0) break;
        for (int i = 0; i < n; i++) {
            ws_event_t *e = &events[i];
            switch (e->type) {
            case WS_EVENT_OPEN: ws_hub_subscribe(hub, e->conn, CHAT_TOPIC); break;
            case WS_EVENT_MESSAGE:
                if (e->opcode == WS_OP_TEXT && e->len > 0 && e->data[0] == '#') {
                    ws_hub_publish(hub, CHAT_TOPIC, WS_OP_TEXT, e->data, e->len, 0);
                } else {
                    ws_hub_send(hub, e->conn, e->opcode, e->data, e->len);
                }
                break;
            }
        }
    }
    ws_hub_free(hub);
    return 0;
}
