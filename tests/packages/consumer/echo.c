/* echo URL MESSAGE: connects to an echo server with libws, sends MESSAGE as
 * text, and prints the library's version and what came back:
 *     VERSION REPLY
 * Built against an installed libws (pkg-config or find_package), nothing of
 * the source tree. */
#include <ws.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: echo URL MESSAGE\n");
        return 2;
    }
    if (strcmp(ws_version(), WS_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", WS_VERSION_STRING, ws_version());
        return 1;
    }
    ws_conn_t *c;
    if (ws_connect(&c, argv[1], NULL) != WS_OK) {
        fprintf(stderr, "connect: %s\n", ws_errmsg());
        return 1;
    }
    ws_frame_t reply;
    int rc = ws_write_message(c, WS_OP_TEXT, (const uint8_t *)argv[2], strlen(argv[2]));
    if (rc == WS_OK)
        rc = ws_read_message(c, &reply);
    if (rc != WS_OK) {
        fprintf(stderr, "echo: %s\n", ws_errmsg());
        ws_conn_free(c);
        return 1;
    }
    printf("%s %.*s\n", ws_version(), (int)reply.len, (const char *)reply.data);
    ws_close(c, WS_CLOSE_NORMAL, "bye");
    ws_conn_free(c);
    return 0;
}
