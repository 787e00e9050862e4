/*
 * echo_server PORT [threaded]
 *
 * A WebSocket echo server on 127.0.0.1:PORT (0 picks a free port; the
 * first line printed says which): every message comes back as it came,
 * text as text and binary as binary, fragments joined, permessage-deflate
 * accepted. Pings are answered and closes completed by libws itself.
 *
 * It runs on the event hub: one thread serves every connection. Each
 * ws_hub_poll returns a batch of events, and the echoes of a batch leave in
 * one ws_hub_send_batch call, before the next poll: that is the hub's
 * ordering rule (ws.h), which makes the echoes of messages that arrived
 * together with the client's close, or with a frame that breaks the
 * protocol, leave before the hub's close frame. With "threaded" the hub
 * serves its sockets on a thread of its own (WS_OPT_HUB_THREADED).
 * (threaded_echo_server.c is the same server with blocking calls and a
 * thread per connection: simpler, and about a third of the throughput.)
 * Also built as hub_echo_server. Runs until killed.
 */
#include <ws.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 256

int main(int argc, char **argv) {
    int threaded = argc == 3 && strcmp(argv[2], "threaded") == 0;
    if (argc != 2 && !threaded) {
        fprintf(stderr, "usage: %s PORT [threaded]\n", argv[0]);
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "echo_server: bad port '%s'\n", argv[1]);
        return 2;
    }

    ws_hub_t *hub;
    ws_options_t *opts;
    /* Accept everything a browser may negotiate: permessage-deflate. */
    int rc = ws_options_new(&opts);
    if (rc == WS_OK) rc = ws_options_set_int(opts, WS_OPT_COMPRESSION, 1);
    if (rc == WS_OK) rc = ws_options_set_int(opts, WS_OPT_HUB_THREADED, threaded);
    if (rc == WS_OK) rc = ws_hub_new(&hub, opts);
    ws_options_free(opts);
    if (rc != WS_OK) {
        fprintf(stderr, "echo_server: %s\n", ws_errmsg());
        return 1;
    }
    int bound;
    rc = ws_hub_listen(hub, "127.0.0.1", (int)port, NULL, &bound);
    if (rc < 0) {
        fprintf(stderr, "echo_server: listen on 127.0.0.1:%ld: %s\n", port, ws_hub_errmsg(hub));
        ws_hub_free(hub);
        return 1;
    }
    printf("echo_server: listening on ws://127.0.0.1:%d/\n", bound);
    fflush(stdout);

    ws_event_t events[BATCH];
    ws_send_t echoes[BATCH];
    for (;;) {
        /* Polling again acknowledges the previous batch's close and error
         * events: its echoes went out below, so they precede the close. */
        int n = ws_hub_poll(hub, events, BATCH, -1);
        if (n < 0) {
            fprintf(stderr, "echo_server: ws_hub_poll: %s\n", ws_strerror(n));
            break;
        }
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (events[i].type != WS_EVENT_MESSAGE) continue;
            /* events[i].data is valid until the next poll: send first
             * (and the ordering rule wants the replies out before it). */
            echoes[k].conn = events[i].conn;
            echoes[k].opcode = events[i].opcode;
            echoes[k].data = events[i].data;
            echoes[k].len = events[i].len;
            k++;
        }
        if (k > 0 && (rc = ws_hub_send_batch(hub, echoes, k)) < 0)
            fprintf(stderr, "echo_server: ws_hub_send_batch: %s\n", ws_strerror(rc));
    }
    ws_hub_free(hub);
    return 0;
}
