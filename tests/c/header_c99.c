/* ws.h compiles as strict C99 with -pedantic-errors -Wall -Wextra -Werror. */
#include <ws.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    ws_header_t h;
    ws_frame_t f;
    memset(&h, 0, sizeof h);
    memset(&f, 0, sizeof f);
    if (strcmp(ws_version(), WS_VERSION_STRING) != 0 || ws_version_number() != WS_VERSION_NUMBER) {
        printf("header_c99: 0 passed, 1 failed\n");
        return 1;
    }
    printf("header_c99: 1 passed, 0 failed\n");
    return 0;
}
