/* Built against an installed or embedded libws: prints the version and
 * round-trips one frame through the parser. */
#include <ws.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    ws_parser_t *client = NULL, *server = NULL;
    const uint8_t *out;
    size_t outlen;
    ws_frame_t f;
    int ok = 0;
    if (ws_parser_new(&client, WS_ROLE_CLIENT, NULL) == WS_OK &&
        ws_parser_new(&server, WS_ROLE_SERVER, NULL) == WS_OK &&
        ws_parser_write(client, WS_OP_TEXT, 1, (const uint8_t *)"hi", 2) == WS_OK &&
        ws_parser_output(client, &out, &outlen) == WS_OK &&
        ws_parser_feed(server, out, outlen) == WS_OK &&
        ws_parser_next(server, &f, 1, 0) == 1 && f.len == 2 && memcmp(f.data, "hi", 2) == 0)
        ok = 1;
    ws_parser_free(client);
    ws_parser_free(server);
    printf("consumer: libws %s, round trip %s\n", ws_version(), ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
