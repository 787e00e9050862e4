/* ws.h compiles as strict C99 with -pedantic-errors -Wall -Wextra -Werror. */
#include <ws.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    ws_header_t h;
    ws_frame_t f;
    memset(&h, 0, sizeof h);
    memset(&f, 0, sizeof f);
    ws_event_t ev;
    memset(&ev, 0, sizeof ev);
    /* The contract's constants (docs/hub-contract.md) as C sees them. */
    if (strcmp(ws_version(), WS_VERSION_STRING) != 0 || ws_version_number() != WS_VERSION_NUMBER ||
        WS_RECORD_MAX_LEN != 2147483648u - 64 || WS_CMD_PAUSE != 6 || WS_CMD_RESUME != 7 ||
        WS_EPOLICY != -15 || WS_OPT_HUB_MAX_TOTAL_BUFFERED != 106 || ev.error != 0 ||
        strcmp(ws_strerror(WS_EPOLICY), ws_strerror(-99)) == 0) {
        printf("header_c99: 0 passed, 1 failed\n");
        return 1;
    }
    printf("header_c99: 1 passed, 0 failed\n");
    return 0;
}
