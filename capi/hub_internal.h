/* Internal to libws: the C half of the event hub, shared by hub.c and the
 * cgo code in hub.go. Not installed. */
#ifndef LIBWS_HUB_INTERNAL_H
#define LIBWS_HUB_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ws.h"

/* Byte queue of records (layout in libws/hub/wire.go). */
typedef struct ws__buf {
    uint8_t *data;
    size_t len, cap;
} ws__buf;

struct ws_hub {
    pthread_mutex_t mu;
    /* Events, Go to host: Go appends to ev_in; poll swaps it with ev_out
     * once ev_out is consumed, so what poll returned stays put until the
     * next poll. The turn an inline hub runs inside ws_hub_poll_raw writes
     * its events straight into the caller's buffer instead, when both
     * queues are empty (ws__hub_take_in_place), so they skip both copies;
     * inside ws_hub_poll it writes them into ev_out's memory, likewise. */
    ws__buf ev_in, ev_out;
    size_t ev_pos;
    int notified;          /* a byte is in the pipe */
    int pipe_r, pipe_w;
    int shut;              /* Go stopped publishing: poll reports WS_ECLOSED once empty */
    /* Commands, host to Go: hosts append to cmd_in; the loop takes it whole. */
    ws__buf cmd_in, cmd_taken;
    int cmd_signaled;      /* the loop's eventfd was written and not yet served */
    int wakefd;
    /* Connections whose close event the last poll returned. The next poll
     * acknowledges them after whatever the host sent in between, so the
     * hub's close reply follows the host's replies to earlier messages. */
    uint64_t *acks;
    size_t acks_len, acks_cap;
    void *go_hub;          /* go-pointer token (C memory) naming the Go side */
    /* Inline hubs (the default) have no loop goroutine: ws_hub_poll runs
     * the loop on the host's thread and sends are carried out at once. */
    int inline_mode;
    /* Inline: a dup of the loop's epoll fd, handed out by ws_hub_fd. The
     * loop closes its own at shutdown; this one keeps the number valid
     * (and still watching the pipe) until ws_hub_free. */
    int inline_fd;
    /* The highest connection id handed to the host (events, ws_hub_connect):
     * ids above it never existed, and calls naming one are refused. Written
     * under mu, read atomically by the send functions. */
    uint64_t max_id;
    /* Per-connection user data (ws_hub_set_user): an open-addressing
     * table of conn -> value, conn 0 marking a free slot; entries leave
     * with the acknowledgement of their connection's close event. Under mu. */
    struct ws__user { uint64_t conn, value; } *users;
    size_t users_len, users_cap;
    /* The last failures' messages: a ring, so that a string ws_hub_errmsg
     * returned stays readable while other threads fail (as ws_conn_errmsg). */
    char *errmsg[4];
    unsigned errcur;
};

struct ws_hub *ws__hub_alloc(void);
void ws__hub_release(struct ws_hub *h);
int ws__hub_live(struct ws_hub *h);
void ws__hub_publish(struct ws_hub *h, const uint8_t *data, size_t len, int notify);
void ws__hub_take(struct ws_hub *h);
int ws__hub_take_in_place(struct ws_hub *h);
size_t ws__hub_backlog(struct ws_hub *h);
void ws__hub_mark_shut(struct ws_hub *h);
/* Records msg as the message of a failed call, for the calling thread
 * (ws_errmsg) and on h when h is not NULL; returns code. */
int ws__hub_fail(struct ws_hub *h, int code, const char *msg, size_t len);
/* ws__hub_fail with a printf-formatted message; h NULL: a bad handle, the
 * message is the thread's only. */
int ws__hub_failf(struct ws_hub *h, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ws__hub_fail with the calling thread's ws_errmsg() (set by a Go check). */
int ws__hub_fail_thread(struct ws_hub *h, int code);
/* Notes that id reached the host (see max_id). */
void ws__hub_note_id(struct ws_hub *h, uint64_t id);
/* WS_OK if conn may name a connection (ws.h: "Connection ids in calls");
 * else WS_EINVAL, with the message of a failed call fn. */
int ws__hub_check_conn(struct ws_hub *h, const char *fn, uint64_t conn);

/* Checks a WS_CMD_SUBSCRIBE, WS_CMD_UNSUBSCRIBE or WS_CMD_PUBLISH record
 * of a ws_hub_send_raw batch (capi/topics.c); plen is its payload length. */
int ws__check_topic_record(struct ws_hub *h, const char *fn, const uint8_t *p, size_t plen);

/* Go exports of capi/hub.go that this C code calls (the prototypes are
 * the ones cgo generates, so the two declarations agree). */
extern int ws__hub_run(void *go_hub, int timeout_ms, uint8_t *buf, size_t cap, size_t *taken);
extern void ws__hub_exec(void *go_hub, uint8_t *records, size_t len, int refs);
extern void ws__hub_exec_one(void *go_hub, int kind, int opcode, int code, uint64_t conn, uint8_t *data, size_t len);
/* ws_close()'s check of a close code and reason, shared: WS_OK, or
 * WS_EINVAL with the calling thread's ws_errmsg() set. */
extern int ws__check_close(int code, char *reason, size_t len);

#endif
