// ws.h compiles as C++ (extern "C" linkage) with -pedantic-errors.
#include <ws.h>
#include <cstdio>
#include <cstring>

int main() {
    ws_options_t *o = nullptr;
    int ok = ws_options_new(&o) == WS_OK && ws_options_set_int(o, WS_OPT_AUTO_PONG, 1) == WS_OK &&
             std::strcmp(ws_version(), WS_VERSION_STRING) == 0;
    ws_options_free(o);
    std::printf("header_cxx: %d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
