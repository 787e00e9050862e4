#define _GNU_SOURCE
/*
 * thread_echo_floor PORT
 *
 * The least a thread-per-connection WebSocket echo server can do, to
 * measure what that design costs apart from any library: blocking
 * accept(2), a thread per connection, one blocking read(2) and one
 * write(2) per message, frames parsed and echoed in place. Enough of RFC
 * 6455 for loadgen only: masked data frames, each echoed as it came; a
 * close frame or anything else ends the connection. Not a usable server.
 *
 *   cc -O2 -o build/bench/thread-echo-floor bench/threadfloor/thread_echo_floor.c -lcrypto -lpthread
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int handshake(int fd) {
    char req[4096];
    size_t n = 0;
    while (n < sizeof req - 1) {
        ssize_t k = read(fd, req + n, sizeof req - 1 - n);
        if (k <= 0) return -1;
        n += (size_t)k;
        req[n] = 0;
        if (strstr(req, "\r\n\r\n")) break;
    }
    char *k = strcasestr(req, "Sec-WebSocket-Key:");
    if (!k) return -1;
    k += 18;
    while (*k == ' ') k++;
    char key[128];
    size_t kl = strcspn(k, "\r\n");
    if (kl > 60) return -1;
    memcpy(key, k, kl);
    strcpy(key + kl, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    unsigned char sha[20];
    SHA1((unsigned char *)key, strlen(key), sha);
    char acc[64];
    EVP_EncodeBlock((unsigned char *)acc, sha, 20);
    char resp[256];
    int rl = snprintf(resp, sizeof resp,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
    return write(fd, resp, (size_t)rl) == rl ? 0 : -1;
}

/* dst = src ^ key, eight bytes at a time (a byte loop would make large
 * messages cost more here than in the servers compared with). */
static void unmask(uint8_t *dst, const uint8_t *src, uint64_t n, const uint8_t key[4]) {
    uint64_t k8;
    uint8_t kb[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    memcpy(&k8, kb, 8);
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= k8;
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++) dst[i] = src[i] ^ key[i & 3];
}

static void *serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    enum { BUF = 1 << 17 };
    uint8_t *in = malloc(BUF), *out = malloc(BUF);
    size_t have = 0;
    if (!in || !out || handshake(fd) != 0) goto done;
    for (;;) {
        /* Every whole frame buffered is echoed, all in one write. */
        size_t pos = 0, olen = 0;
        for (;;) {
            if (have - pos < 2) break;
            uint8_t *h = in + pos;
            uint64_t len = h[1] & 0x7f;
            size_t hl = 2;
            if (len == 126) { if (have - pos < 4) break; len = (uint64_t)h[2] << 8 | h[3]; hl = 4; }
            else if (len == 127) { if (have - pos < 10) break; len = 0; for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i]; hl = 10; }
            if (!(h[1] & 0x80)) goto done;
            hl += 4;
            if (have - pos < hl + len) break;
            if ((h[0] & 0x0f) == 8) goto done;
            if (olen + 10 + len > BUF) break;
            uint8_t *m = h + hl - 4, *p = h + hl;
            uint8_t *o = out + olen;
            o[0] = h[0];
            size_t oh = 2;
            if (len < 126) o[1] = (uint8_t)len;
            else if (len < 65536) { o[1] = 126; o[2] = (uint8_t)(len >> 8); o[3] = (uint8_t)len; oh = 4; }
            else { o[1] = 127; for (int i = 0; i < 8; i++) o[2 + i] = (uint8_t)(len >> (56 - 8 * i)); oh = 10; }
            unmask(o + oh, p, len, m);
            olen += oh + len;
            pos += hl + len;
        }
        if (olen && write(fd, out, olen) != (ssize_t)olen) goto done;
        memmove(in, in + pos, have - pos);
        have -= pos;
        ssize_t k = read(fd, in + have, BUF - have);
        if (k <= 0) goto done;
        have += (size_t)k;
    }
done:
    free(in);
    free(out);
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4096)) { perror("listen"); return 1; }
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 1 << 20);
    for (;;) {
        int fd = accept(l, NULL, NULL);
        if (fd < 0) continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, &at, serve, (void *)(intptr_t)fd)) close(fd);
    }
}
