/* Topics in the C ABI: the functions build one command record and hand it
 * to ws_hub_send_raw, so they are plain C calls like the sends, and a
 * binding that batches records does the same with no call of its own. */
#define _GNU_SOURCE
#undef WS_NO_PROTOTYPES
#include "hub_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REC_HEADER 24

static size_t padded(size_t n) { return (n + 7) & ~(size_t)7; }

static int check_topic(ws_hub_t *hub, const char *fn, const void *topic, size_t len) {
    if (topic == NULL || len == 0 || len > WS_TOPIC_MAX_LEN)
        return ws__hub_failf(hub, WS_EINVAL, "libws: %s: a topic name has 1 to %d bytes, not %zu", fn, WS_TOPIC_MAX_LEN, topic ? len : 0);
    return WS_OK;
}

int ws__check_topic_record(ws_hub_t *hub, const char *fn, const uint8_t *p, size_t plen) {
    uint64_t conn = 0;
    for (int i = 7; i >= 0; i--) conn = conn << 8 | p[8 + i];
    const uint8_t *payload = p + REC_HEADER;
    if (p[0] != WS_CMD_PUBLISH) {
        int rc = check_topic(hub, fn, payload, plen);
        return rc != WS_OK ? rc : ws__hub_check_conn(hub, fn, conn);
    }
    if (p[1] != WS_OP_TEXT && p[1] != WS_OP_BINARY)
        return ws__hub_failf(hub, WS_EINVAL, "libws: %s: a publish's opcode is %d, not text or binary", fn, p[1]);
    size_t tlen = plen < 2 ? 0 : (size_t)(payload[0] | payload[1] << 8);
    if (plen < 2 || plen - 2 < tlen)
        return ws__hub_failf(hub, WS_EINVAL, "libws: %s: a publish payload of %zu bytes does not hold its topic", fn, plen);
    int rc = check_topic(hub, fn, payload + 2, tlen);
    if (rc != WS_OK || conn == 0) return rc;
    return ws__hub_check_conn(hub, fn, conn);
}

/* Builds one record (header, then the parts) and sends it. */
static int send_record(ws_hub_t *hub, int kind, int opcode, uint64_t conn, const void *a, size_t alen, const void *b, size_t blen, const void *c, size_t clen) {
    size_t len = alen + blen + clen;
    size_t size = REC_HEADER + padded(len);
    uint8_t stack[512];
    uint8_t *rec = size <= sizeof stack ? stack : malloc(size);
    if (rec == NULL) return ws__hub_failf(hub, WS_ENOMEM, "libws: no memory for a record of %zu bytes", size);
    memset(rec, 0, REC_HEADER);
    rec[0] = (uint8_t)kind;
    rec[1] = (uint8_t)opcode;
    for (int i = 0; i < 4; i++) rec[4 + i] = (uint8_t)(len >> (8 * i));
    for (int i = 0; i < 8; i++) rec[8 + i] = (uint8_t)(conn >> (8 * i));
    uint8_t *q = rec + REC_HEADER;
    if (alen) memcpy(q, a, alen);
    if (blen) memcpy(q + alen, b, blen);
    if (clen) memcpy(q + alen + blen, c, clen);
    memset(q + len, 0, size - REC_HEADER - len);
    int rc = ws_hub_send_raw(hub, rec, size);
    if (rec != stack) free(rec);
    return rc < 0 ? rc : WS_OK;
}

static int sub_cmd(ws_hub_t *hub, const char *fn, int kind, uint64_t conn, const char *topic) {
    if (!ws__hub_live(hub)) return ws__hub_failf(NULL, WS_EBADHANDLE, "libws: %s: invalid or freed ws_hub_t handle", fn);
    size_t tlen = topic ? strnlen(topic, WS_TOPIC_MAX_LEN + 1) : 0;
    int rc = check_topic(hub, fn, topic, tlen);
    if (rc == WS_OK) rc = ws__hub_check_conn(hub, fn, conn);
    if (rc != WS_OK) return rc;
    return send_record(hub, kind, 0, conn, topic, tlen, NULL, 0, NULL, 0);
}

int ws_hub_subscribe(ws_hub_t *hub, uint64_t conn, const char *topic) {
    return sub_cmd(hub, "ws_hub_subscribe", WS_CMD_SUBSCRIBE, conn, topic);
}

int ws_hub_unsubscribe(ws_hub_t *hub, uint64_t conn, const char *topic) {
    return sub_cmd(hub, "ws_hub_unsubscribe", WS_CMD_UNSUBSCRIBE, conn, topic);
}

int ws_hub_publish(ws_hub_t *hub, const char *topic, int opcode, const void *data, size_t len, uint64_t exclude) {
    static const char fn[] = "ws_hub_publish";
    if (!ws__hub_live(hub)) return ws__hub_failf(NULL, WS_EBADHANDLE, "libws: %s: invalid or freed ws_hub_t handle", fn);
    size_t tlen = topic ? strnlen(topic, WS_TOPIC_MAX_LEN + 1) : 0;
    int rc = check_topic(hub, fn, topic, tlen);
    if (rc != WS_OK) return rc;
    if (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY)
        return ws__hub_failf(hub, WS_EINVAL, "libws: %s: opcode %d is not text or binary", fn, opcode);
    if (data == NULL && len > 0) return ws__hub_failf(hub, WS_EINVAL, "libws: %s: data is NULL", fn);
    if (len > WS_RECORD_MAX_LEN - 2 - tlen) return ws__hub_failf(hub, WS_ETOOBIG, "libws: %s: a message of %zu bytes", fn, len);
    if (exclude != 0 && (rc = ws__hub_check_conn(hub, fn, exclude)) != WS_OK) return rc;
    uint8_t n[2] = {(uint8_t)tlen, (uint8_t)(tlen >> 8)};
    return send_record(hub, WS_CMD_PUBLISH, opcode, exclude, n, 2, topic, tlen, data, len);
}
