/* Topics through the C ABI: subscribe, publish and count with the
 * functions and with raw records, on inline and threaded hubs; the
 * broker and SO_REUSEPORT options. Clients are a hub's own client
 * connections over loopback. */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NCLIENTS 4

static int threaded;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static ws_hub_t *new_hub(int thr, const char *broker) {
    ws_options_t *o;
    ws_hub_t *hub = NULL;
    REQUIRE(ws_options_new(&o) == WS_OK);
    REQUIRE(ws_options_set_int(o, WS_OPT_HUB_THREADED, thr) == WS_OK);
    if (broker) REQUIRE(ws_options_set_str(o, WS_OPT_HUB_BROKER, broker) == WS_OK);
    REQUIRE(ws_hub_new(&hub, o) == WS_OK);
    ws_options_free(o);
    return hub;
}

/* A server hub and NCLIENTS client connections to it; srv[i] is the
 * server's id of client cli[i] (each client says its index first). */
typedef struct {
    ws_hub_t *server, *clients;
    uint64_t srv[NCLIENTS], cli[NCLIENTS];
    /* Messages each client received, joined by '|'. */
    char got[NCLIENTS][256];
} setup;

static int client_index(setup *s, uint64_t conn) {
    for (int i = 0; i < NCLIENTS; i++)
        if (s->cli[i] == conn) return i;
    return -1;
}

/* Polls both hubs once, recording what clients receive; returns the
 * server's events in ev. */
static int pump(setup *s, ws_event_t *ev, int max) {
    ws_event_t cev[64];
    int n = ws_hub_poll(s->clients, cev, 64, 5);
    for (int i = 0; i < n; i++) {
        int k = client_index(s, cev[i].conn);
        if (cev[i].type == WS_EVENT_MESSAGE && k >= 0) {
            char *g = s->got[k];
            size_t used = strlen(g);
            snprintf(g + used, sizeof s->got[k] - used, "%s%.*s", used ? "|" : "", (int)cev[i].len, (const char *)cev[i].data);
        }
    }
    return ws_hub_poll(s->server, ev, max, 5);
}

static void open_all(setup *s) {
    memset(s, 0, sizeof *s);
    s->server = new_hub(threaded, NULL);
    s->clients = new_hub(1, NULL);
    int port = 0;
    REQUIRE(ws_hub_listen(s->server, "127.0.0.1", 0, NULL, &port) > 0);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    for (int i = 0; i < NCLIENTS; i++) REQUIRE(ws_hub_connect(s->clients, url, NULL, &s->cli[i]) == WS_OK);
    /* Each client sends its index once open; the server learns its ids. */
    int opened = 0, known = 0;
    ws_event_t ev[64];
    for (double end = now_s() + 10; known < NCLIENTS && now_s() < end;) {
        ws_event_t cev[64];
        int n = ws_hub_poll(s->clients, cev, 64, 5);
        for (int i = 0; i < n; i++) {
            int k = client_index(s, cev[i].conn);
            if (cev[i].type == WS_EVENT_OPEN && k >= 0) {
                char m = (char)('0' + k);
                CHECK(ws_hub_send(s->clients, cev[i].conn, WS_OP_TEXT, &m, 1) == WS_OK);
                opened++;
            }
        }
        n = ws_hub_poll(s->server, ev, 64, 5);
        for (int i = 0; i < n; i++) {
            if (ev[i].type == WS_EVENT_MESSAGE && ev[i].len == 1) {
                s->srv[ev[i].data[0] - '0'] = ev[i].conn;
                known++;
            }
        }
    }
    REQUIRE(opened == NCLIENTS && known == NCLIENTS);
}

static void close_all(setup *s) {
    ws_hub_free(s->clients);
    ws_hub_free(s->server);
}

/* Polls until each client's received text is want[i] (or 5 s pass). */
static void expect_got(setup *s, const char *const want[NCLIENTS]) {
    ws_event_t ev[64];
    for (double end = now_s() + 5; now_s() < end;) {
        pump(s, ev, 64);
        int done = 1;
        for (int i = 0; i < NCLIENTS; i++) done &= strcmp(s->got[i], want[i]) == 0;
        if (done) break;
    }
    for (int i = 0; i < NCLIENTS; i++) CHECK_STR(s->got[i], want[i]);
}

/* A raw record: header, payload, padding. Returns its size. */
static size_t put_record(uint8_t *p, int kind, int opcode, uint64_t conn, const void *data, size_t len) {
    size_t size = WS_RECORD_HEADER + ((len + 7) & ~(size_t)7);
    memset(p, 0, size);
    p[0] = (uint8_t)kind;
    p[1] = (uint8_t)opcode;
    for (int i = 0; i < 4; i++) p[4 + i] = (uint8_t)(len >> (8 * i));
    for (int i = 0; i < 8; i++) p[8 + i] = (uint8_t)(conn >> (8 * i));
    if (len) memcpy(p + WS_RECORD_HEADER, data, len);
    return size;
}

static size_t put_publish(uint8_t *p, const char *topic, const char *msg, uint64_t exclude) {
    uint8_t payload[256];
    size_t tlen = strlen(topic), mlen = strlen(msg);
    payload[0] = (uint8_t)tlen;
    payload[1] = (uint8_t)(tlen >> 8);
    memcpy(payload + 2, topic, tlen);
    memcpy(payload + 2 + tlen, msg, mlen);
    return put_record(p, WS_CMD_PUBLISH, WS_OP_TEXT, exclude, payload, 2 + tlen + mlen);
}

static void test_subscribe_publish_count(void) {
    setup s;
    open_all(&s);
    CHECK_EQ(ws_hub_subscribe(s.server, s.srv[0], "room"), WS_OK);
    CHECK_EQ(ws_hub_subscribe(s.server, s.srv[1], "room"), WS_OK);
    CHECK_EQ(ws_hub_subscribe(s.server, s.srv[1], "room"), WS_OK); /* idempotent */
    uint8_t batch[512];
    size_t len = put_record(batch, WS_CMD_SUBSCRIBE, 0, s.srv[2], "room", 4);
    CHECK_EQ(ws_hub_send_raw(s.server, batch, len), 1);
    CHECK_EQ(ws_hub_topic_count(s.server, "room"), 3);
    CHECK_EQ(ws_hub_topic_count(s.server, "none"), 0);

    CHECK_EQ(ws_hub_publish(s.server, "room", WS_OP_TEXT, "a", 1, 0), WS_OK);
    /* One batch: two publishes (the second leaves client 0 out) and a
     * subscribe of client 3 between them. */
    len = put_publish(batch, "room", "b", 0);
    len += put_record(batch + len, WS_CMD_SUBSCRIBE, 0, s.srv[3], "room", 4);
    len += put_publish(batch + len, "room", "c", s.srv[0]);
    CHECK_EQ(ws_hub_send_raw(s.server, batch, len), 3);
    const char *const want1[NCLIENTS] = {"a|b", "a|b|c", "a|b|c", "c"};
    expect_got(&s, want1);

    CHECK_EQ(ws_hub_unsubscribe(s.server, s.srv[1], "room"), WS_OK);
    len = put_record(batch, WS_CMD_UNSUBSCRIBE, 0, s.srv[2], "room", 4);
    CHECK_EQ(ws_hub_send_raw(s.server, batch, len), 1);
    CHECK_EQ(ws_hub_topic_count(s.server, "room"), 2);
    /* A client that leaves leaves its topics. */
    CHECK_EQ(ws_hub_close(s.clients, s.cli[3], 1000, "bye"), WS_OK);
    ws_event_t ev[64];
    int closed = 0;
    for (double end = now_s() + 5; !closed && now_s() < end;) {
        int n = pump(&s, ev, 64);
        for (int i = 0; i < n; i++) closed |= ev[i].type == WS_EVENT_CLOSE && ev[i].conn == s.srv[3];
    }
    CHECK(closed);
    CHECK_EQ(ws_hub_topic_count(s.server, "room"), 1);
    CHECK_EQ(ws_hub_publish(s.server, "room", WS_OP_BINARY, "d", 1, 0), WS_OK);
    const char *const want2[NCLIENTS] = {"a|b|d", "a|b|c", "a|b|c", "c"};
    expect_got(&s, want2);
    close_all(&s);
}

static void test_bad_arguments(void) {
    setup s;
    open_all(&s);
    char big[WS_TOPIC_MAX_LEN + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_EQ(ws_hub_subscribe(s.server, s.srv[0], ""), WS_EINVAL);
    CHECK_EQ(ws_hub_subscribe(s.server, s.srv[0], NULL), WS_EINVAL);
    CHECK_EQ(ws_hub_subscribe(s.server, s.srv[0], big), WS_EINVAL);
    CHECK_EQ(ws_hub_subscribe(s.server, 999999, "t"), WS_EINVAL);
    CHECK_EQ(ws_hub_unsubscribe(s.server, 0, "t"), WS_EINVAL);
    CHECK_EQ(ws_hub_publish(s.server, "t", WS_OP_PING, "x", 1, 0), WS_EINVAL);
    CHECK_EQ(ws_hub_publish(s.server, "t", WS_OP_TEXT, NULL, 1, 0), WS_EINVAL);
    CHECK_EQ(ws_hub_publish(s.server, "t", WS_OP_TEXT, "x", 1, 999999), WS_EINVAL);
    CHECK_EQ(ws_hub_publish(s.server, "", WS_OP_TEXT, "x", 1, 0), WS_EINVAL);
    CHECK_EQ(ws_hub_publish(s.server, "nobody", WS_OP_TEXT, "x", 1, 0), WS_OK);
    CHECK_EQ(ws_hub_topic_count(s.server, ""), WS_EINVAL);
    CHECK_EQ(ws_hub_topic_count(s.server, big), WS_EINVAL);
    CHECK_EQ(ws_hub_topic_count(NULL, "t"), WS_EBADHANDLE);
    CHECK_EQ(ws_hub_subscribe(NULL, 1, "t"), WS_EBADHANDLE);
    CHECK_EQ(ws_hub_publish(NULL, "t", WS_OP_TEXT, "x", 1, 0), WS_EBADHANDLE);
    /* Raw records: a topic length past the payload, an empty topic, a
     * bad opcode; the whole batch is refused. */
    uint8_t batch[256], payload[8] = {9, 0, 'a', 'b'};
    size_t len = put_record(batch, WS_CMD_SUBSCRIBE, 0, s.srv[0], "ok", 2);
    size_t bad = put_record(batch + len, WS_CMD_PUBLISH, WS_OP_TEXT, 0, payload, 4);
    CHECK_EQ(ws_hub_send_raw(s.server, batch, len + bad), WS_EINVAL);
    CHECK(strstr(ws_hub_errmsg(s.server), "offset 32") != NULL);
    CHECK_EQ(ws_hub_topic_count(s.server, "ok"), 0);
    bad = put_record(batch, WS_CMD_SUBSCRIBE, 0, s.srv[0], "", 0);
    CHECK_EQ(ws_hub_send_raw(s.server, batch, bad), WS_EINVAL);
    payload[0] = 1;
    bad = put_record(batch, WS_CMD_PUBLISH, WS_OP_CLOSE, 0, payload, 3);
    CHECK_EQ(ws_hub_send_raw(s.server, batch, bad), WS_EINVAL);
    close_all(&s);
}

/* A broker that cannot be reached: the hub works, reports the outage. */
static void test_broker_down_event(void) {
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_HUB_BROKER, "http://x"), WS_EINVAL);
    CHECK_EQ(ws_options_set_str(o, WS_OPT_HUB_BROKER, "redis://h:1/notadb"), WS_EINVAL);
    ws_options_free(o);
    /* A port nobody listens on: bind one, note it, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &alen) == 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", ntohs(a.sin_port));
    ws_hub_t *hub = new_hub(threaded, url);
    ws_event_t ev[16];
    int down = 0;
    for (double end = now_s() + 10; !down && now_s() < end;) {
        int n = ws_hub_poll(hub, ev, 16, 50);
        for (int i = 0; i < n; i++) {
            if (ev[i].type == WS_EVENT_BROKER) {
                down = 1;
                CHECK_EQ(ev[i].code, WS_BROKER_DOWN);
                CHECK_EQ(ev[i].error, WS_EIO);
                CHECK_EQ(ev[i].conn, 0);
                CHECK(ev[i].len > 0);
            }
        }
    }
    CHECK(down);
    ws_hub_free(hub);
}

static void test_reuseport(void) {
    ws_options_t *o;
    REQUIRE(ws_options_new(&o) == WS_OK);
    REQUIRE(ws_options_set_int(o, WS_OPT_HUB_REUSEPORT, 1) == WS_OK);
    CHECK_EQ(ws_options_set_int(o, WS_OPT_HUB_REUSEPORT, 2), WS_EINVAL);
    ws_hub_t *h1 = new_hub(threaded, NULL), *h2 = new_hub(threaded, NULL);
    int port = 0, port2 = 0;
    CHECK(ws_hub_listen(h1, "127.0.0.1", 0, o, &port) > 0);
    CHECK(ws_hub_listen(h2, "127.0.0.1", port, NULL, NULL) == WS_EIO);
    CHECK(ws_hub_listen(h2, "127.0.0.1", port, o, &port2) > 0);
    CHECK_EQ(port2, port);
    ws_options_free(o);
    ws_hub_free(h1);
    ws_hub_free(h2);
}

int main(void) {
    h_name = "test_topics";
    for (threaded = 0; threaded <= 1; threaded++) {
        printf("%s hubs\n", threaded ? "threaded" : "inline");
        RUN(test_subscribe_publish_count);
        RUN(test_bad_arguments);
        RUN(test_broker_down_event);
        RUN(test_reuseport);
    }
    return h_report();
}
