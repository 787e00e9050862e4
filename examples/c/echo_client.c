/*
 * echo_client URL [MESSAGE]
 *
 * Connects to a ws:// or wss:// URL, sends MESSAGE (default "Hello, libws!")
 * as a text message, prints the reply, and closes cleanly.
 */
#include <ws.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s URL [MESSAGE]\n", argv[0]);
        return 2;
    }
    const char *text = argc == 3 ? argv[2] : "Hello, libws!";

    ws_conn_t *c;
    if (ws_connect(&c, argv[1], NULL) != WS_OK) {
        fprintf(stderr, "echo_client: %s\n", ws_errmsg());
        return 1;
    }
    ws_frame_t reply;
    int rc = ws_write_message(c, WS_OP_TEXT, (const uint8_t *)text, strlen(text));
    if (rc == WS_OK)
        rc = ws_read_message(c, &reply);
    if (rc != WS_OK) {
        fprintf(stderr, "echo_client: %s\n", ws_conn_errmsg(c));
        ws_conn_free(c);
        return 1;
    }
    printf("%.*s\n", (int)reply.len, (const char *)reply.data);
    rc = ws_close(c, WS_CLOSE_NORMAL, "bye");
    if (rc != WS_OK && rc != WS_ECLOSED)
        fprintf(stderr, "echo_client: close: %s\n", ws_conn_errmsg(c));
    ws_conn_free(c);
    return 0;
}
