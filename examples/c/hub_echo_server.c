/* hub_echo_server PORT: the echo server on the event hub, one thread.
 * Each poll returns a batch of events; the echoes of one batch leave in one
 * ws_hub_send_batch call. Runs until killed. */
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
    ws_hub_t *hub;
    ws_options_t *opts;
    /* Accept everything a browser may negotiate: permessage-deflate. */
    int rc = ws_options_new(&opts);
    if (rc == WS_OK) rc = ws_options_set_int(opts, WS_OPT_COMPRESSION, 1);
    if (rc == WS_OK) rc = ws_hub_new(&hub, opts);
    ws_options_free(opts);
    if (rc != WS_OK) {
        fprintf(stderr, "ws_hub_new: %s\n", ws_strerror(rc));
        return 1;
    }
    rc = ws_hub_listen(hub, "127.0.0.1", port, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "listen on 127.0.0.1:%d: %s\n", port, ws_hub_errmsg(hub));
        ws_hub_free(hub);
        return 1;
    }
    printf("hub echo server on ws://127.0.0.1:%d/\n", port);
    fflush(stdout);
    ws_event_t events[BATCH];
    ws_send_t echoes[BATCH];
    for (;;) {
        int n = ws_hub_poll(hub, events, BATCH, -1);
        if (n < 0) {
            fprintf(stderr, "ws_hub_poll: %s\n", ws_strerror(n));
            break;
        }
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (events[i].type != WS_EVENT_MESSAGE) continue;
            echoes[k].conn = events[i].conn;
            echoes[k].opcode = events[i].opcode;
            echoes[k].data = events[i].data;
            echoes[k].len = events[i].len;
            k++;
        }
        if (k > 0 && (rc = ws_hub_send_batch(hub, echoes, k)) < 0) {
            fprintf(stderr, "ws_hub_send_batch: %s\n", ws_strerror(rc));
        }
    }
    ws_hub_free(hub);
    return 0;
}
