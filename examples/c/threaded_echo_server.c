/*
 * threaded_echo_server PORT
 *
 * echo_server.c written with the blocking calls: ws_listen, ws_accept, and
 * a thread per connection that reads and writes. The simplest server to
 * write, and the costliest to run: every message puts its thread to sleep
 * and wakes it, which takes most of the server's time; echo_server.c, on
 * the event hub, spends about 0.4 times the CPU per 20-byte message
 * (bench/README.md, "The blocking C API").
 *
 * A WebSocket echo server on 127.0.0.1:PORT (0 picks a free port; the
 * first line printed says which): every message comes back as it came,
 * text as text and binary as binary, fragments joined. Pings are answered
 * and closes completed by libws itself. One thread per connection; runs
 * until killed.
 */
#include <ws.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *serve(void *arg) {
    ws_conn_t *c = arg;
    ws_frame_t msg;
    int rc;
    /* msg.data is borrowed until the next read: echo it before reading on. */
    while ((rc = ws_read_message(c, &msg)) == WS_OK) {
        if ((rc = ws_write_message(c, msg.opcode, msg.data, msg.len)) != WS_OK)
            break;
    }
    /* WS_ECLOSED is the normal end: the peer closed and libws answered.
     * On a protocol violation libws has already sent the close frame. */
    if (rc != WS_ECLOSED)
        fprintf(stderr, "threaded_echo_server: connection ended: %s (%s)\n", ws_strerror(rc),
                ws_conn_errmsg(c));
    ws_conn_free(c);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "threaded_echo_server: bad port '%s'\n", argv[1]);
        return 2;
    }

    ws_listener_t *l;
    ws_options_t *opts;
    /* Accept everything a browser may negotiate: permessage-deflate. */
    int rc = ws_options_new(&opts);
    if (rc == WS_OK) rc = ws_options_set_int(opts, WS_OPT_COMPRESSION, 1);
    if (rc == WS_OK) rc = ws_listen(&l, "127.0.0.1", (int)port, opts);
    ws_options_free(opts);
    if (rc != WS_OK) {
        fprintf(stderr, "threaded_echo_server: %s\n", ws_errmsg());
        return 1;
    }
    printf("threaded_echo_server: listening on ws://127.0.0.1:%d/\n", ws_listener_port(l));
    fflush(stdout);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        ws_conn_t *c;
        rc = ws_accept(l, &c, -1);
        if (rc == WS_ECLOSED)
            break;
        if (rc != WS_OK) {
            fprintf(stderr, "threaded_echo_server: accept: %s\n", ws_errmsg());
            continue;
        }
        pthread_t t;
        if (pthread_create(&t, &attr, serve, c) != 0) {
            fprintf(stderr, "threaded_echo_server: no thread for a new connection\n");
            ws_close(c, WS_CLOSE_INTERNAL_ERROR, "server busy");
            ws_conn_free(c);
        }
    }
    pthread_attr_destroy(&attr);
    ws_listener_free(l);
    return 0;
}
