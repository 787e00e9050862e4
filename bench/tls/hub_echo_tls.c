/*
 * hub_echo_tls PORT: examples/c/echo_server.c (the libws C hub echo server)
 * serving wss:// for the bench suite's TLS section. The example takes no
 * TLS options, so this file compiles it unchanged with its ws_hub_listen
 * call routed through bench_listen, which adds WS_OPT_TLS_CERT_FILE and
 * WS_OPT_TLS_KEY_FILE from BENCH_TLS_CERT and BENCH_TLS_KEY (PEM files):
 * the echo loop measured is the example's own.
 *
 * Build (bench/run.sh does): cc -O2 -Iinclude -o build/bench/hub-echo-tls
 *   bench/tls/hub_echo_tls.c -Lbuild/lib -lws -Wl,-rpath,$PWD/build/lib
 */
#include <ws.h>

#include <stdio.h>
#include <stdlib.h>

static int bench_listen(ws_hub_t *hub, const char *host, int port, const ws_options_t *unused, int *out_port) {
    (void)unused; /* the example passes NULL */
    const char *cert = getenv("BENCH_TLS_CERT"), *key = getenv("BENCH_TLS_KEY");
    if (!cert || !*cert || !key || !*key) {
        fprintf(stderr, "hub_echo_tls: BENCH_TLS_CERT and BENCH_TLS_KEY must name PEM files\n");
        exit(2);
    }
    ws_options_t *opts;
    int rc = ws_options_new(&opts);
    if (rc == WS_OK) rc = ws_options_set_str(opts, WS_OPT_TLS_CERT_FILE, cert);
    if (rc == WS_OK) rc = ws_options_set_str(opts, WS_OPT_TLS_KEY_FILE, key);
    if (rc == WS_OK) rc = ws_hub_listen(hub, host, port, opts, out_port);
    ws_options_free(opts);
    return rc;
}

#define ws_hub_listen bench_listen
#include "../../examples/c/echo_server.c"
