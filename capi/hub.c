/* The C half of the event hub: the event and command queues, and the entry
 * points hosts call on their hot path. Nothing here calls into Go, so a
 * host pays a plain C call (see the Node numbers in the design notes). */
#define _GNU_SOURCE
/* Unlike the cgo preambles, this file wants the prototypes, so the
 * compiler checks its definitions against the public header. */
#undef WS_NO_PROTOTYPES
#include "hub_internal.h"
#include "internal.h"
#include "platform.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Record header, as in libws/hub/wire.go. */
#define REC_HEADER 24
#define CMD_SEND 1
#define CMD_CLOSE 2
#define CMD_TERMINATE 3
#define CMD_CLOSE_ACK 4 /* internal: queued by poll, never by hosts */
_Static_assert(WS_RECORD_HEADER == REC_HEADER, "one record header size");
_Static_assert(sizeof(ws_send_ref_t) == 16, "a by-reference send record has 16 bytes of payload");

/* Live hubs, so that a freed or made-up pointer gives WS_EBADHANDLE
 * instead of a crash. A handful of hubs per process is the norm. */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ws_hub **registry;
static size_t registry_len, registry_cap;

int ws__hub_live(struct ws_hub *h) {
    int found = 0;
    if (h == NULL) return 0;
    pthread_mutex_lock(&registry_mu);
    for (size_t i = 0; i < registry_len; i++) {
        if (registry[i] == h) { found = 1; break; }
    }
    pthread_mutex_unlock(&registry_mu);
    return found;
}

static int registry_add(struct ws_hub *h) {
    int rc = 0;
    pthread_mutex_lock(&registry_mu);
    if (registry_len == registry_cap) {
        size_t cap = registry_cap ? registry_cap * 2 : 8;
        struct ws_hub **r = realloc(registry, cap * sizeof *r);
        if (r == NULL) {
            rc = -1;
        } else {
            registry = r;
            registry_cap = cap;
        }
    }
    if (rc == 0) registry[registry_len++] = h;
    pthread_mutex_unlock(&registry_mu);
    return rc;
}

static void registry_remove(struct ws_hub *h) {
    pthread_mutex_lock(&registry_mu);
    for (size_t i = 0; i < registry_len; i++) {
        if (registry[i] == h) {
            registry[i] = registry[--registry_len];
            break;
        }
    }
    pthread_mutex_unlock(&registry_mu);
}

static int buf_reserve(ws__buf *b, size_t extra) {
    if (b->cap - b->len >= extra) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra) cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL) return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

/* Big one-off batches should not pin memory for the hub's lifetime. */
static void buf_trim(ws__buf *b) {
    if (b->len == 0 && b->cap > (4u << 20)) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

struct ws_hub *ws__hub_alloc(void) {
    struct ws_hub *h = calloc(1, sizeof *h);
    int p[2];
    if (h == NULL) return NULL;
    if (ws__pipe(p) != 0) {
        free(h);
        return NULL;
    }
    h->pipe_r = p[0];
    h->pipe_w = p[1];
    h->wakefd = -1;
    h->inline_fd = -1;
    pthread_mutex_init(&h->mu, NULL);
    if (registry_add(h) != 0) {
        ws__closefd(p[0]);
        ws__closefd(p[1]);
        free(h);
        return NULL;
    }
    return h;
}

void ws__hub_release(struct ws_hub *h) {
    registry_remove(h);
    ws__closefd(h->pipe_r);
    ws__closefd(h->pipe_w);
    if (h->inline_fd >= 0) ws__closefd(h->inline_fd);
    free(h->ev_in.data);
    free(h->ev_out.data);
    free(h->cmd_in.data);
    free(h->cmd_taken.data);
    free(h->acks);
    free(h->users);
    for (size_t i = 0; i < sizeof h->errmsg / sizeof h->errmsg[0]; i++) free(h->errmsg[i]);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

enum { ERRMSG_RING = sizeof ((struct ws_hub *)0)->errmsg / sizeof(char *) };

int ws__hub_fail(struct ws_hub *h, int code, const char *msg, size_t len) {
    if (msg != ws_errmsg()) ws__set_errmsg(msg, len); /* else it is there */
    if (h == NULL) return code;
    char *m = malloc(len + 1);
    if (m == NULL) return code;
    memcpy(m, msg, len);
    m[len] = 0;
    pthread_mutex_lock(&h->mu);
    unsigned i = (h->errcur + 1) % ERRMSG_RING;
    free(h->errmsg[i]);
    h->errmsg[i] = m;
    h->errcur = i;
    pthread_mutex_unlock(&h->mu);
    return code;
}

int ws__hub_fail_thread(struct ws_hub *h, int code) {
    const char *m = ws_errmsg();
    return ws__hub_fail(h, code, m, strlen(m));
}

int ws__hub_failf(struct ws_hub *h, int code, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof msg) n = (int)sizeof msg - 1;
    return ws__hub_fail(h, code, msg, (size_t)n);
}

static int bad_hub(const char *fn) { return ws__hub_failf(NULL, WS_EBADHANDLE, "libws: %s: invalid or freed ws_hub_t handle", fn); }

const char *ws_hub_errmsg(ws_hub_t *hub) {
    if (!ws__hub_live(hub)) return "";
    pthread_mutex_lock(&hub->mu);
    const char *m = hub->errmsg[hub->errcur];
    pthread_mutex_unlock(&hub->mu);
    return m ? m : "";
}

/* Must hold h->mu (or be the only thread that may hand out ids then). */
static void note_id_locked(struct ws_hub *h, uint64_t id) {
    if (id > h->max_id) __atomic_store_n(&h->max_id, id, __ATOMIC_RELEASE);
}

void ws__hub_note_id(struct ws_hub *h, uint64_t id) {
    pthread_mutex_lock(&h->mu);
    note_id_locked(h, id);
    pthread_mutex_unlock(&h->mu);
}

/* WS_OK if conn may name a connection of hub: see "Connection ids in
 * calls" in ws.h. */
int ws__hub_check_conn(struct ws_hub *hub, const char *fn, uint64_t conn) {
    if (conn != 0 && conn <= __atomic_load_n(&hub->max_id, __ATOMIC_ACQUIRE)) return WS_OK;
    return ws__hub_failf(hub, WS_EINVAL, "libws: %s: unknown connection %" PRIu64, fn, conn);
}

/* Must hold h->mu. The pipe carries at most one byte: 'notified' says it
 * is there, so a burst of events costs one write. */
static void notify_locked(struct ws_hub *h) {
    if (!h->notified) {
        long w = ws__writefd(h->pipe_w, "e", 1);
        (void)w;
        h->notified = 1;
    }
}

/* notify is 0 for events an inline hub's own poll produced: the thread
 * that will take them is the caller, so waking it costs two syscalls for
 * nothing. */
void ws__hub_publish(struct ws_hub *h, const uint8_t *data, size_t len, int notify) {
    pthread_mutex_lock(&h->mu);
    if (buf_reserve(&h->ev_in, len) == 0) {
        memcpy(h->ev_in.data + h->ev_in.len, data, len);
        h->ev_in.len += len;
    }
    if (notify) notify_locked(h);
    pthread_mutex_unlock(&h->mu);
}

void ws__hub_mark_shut(struct ws_hub *h) {
    pthread_mutex_lock(&h->mu);
    h->shut = 1;
    h->wakefd = -1;
    notify_locked(h);
    pthread_mutex_unlock(&h->mu);
}

/* Moves the queued commands to cmd_taken, where the loop reads them (only
 * the loop's thread touches cmd_taken). */
void ws__hub_take(struct ws_hub *h) {
    pthread_mutex_lock(&h->mu);
    ws__buf t = h->cmd_taken;
    t.len = 0;
    buf_trim(&t);
    h->cmd_taken = h->cmd_in;
    h->cmd_in = t;
    h->cmd_signaled = 0;
    pthread_mutex_unlock(&h->mu);
}

/* Called by the Go loop, on the thread in ws_hub_poll_raw, with the events
 * it wrote to the host's buffer: the host takes them there unless events
 * queued before them are still to be taken. */
int ws__hub_take_in_place(struct ws_hub *h) {
    pthread_mutex_lock(&h->mu);
    int empty = h->ev_pos >= h->ev_out.len && h->ev_in.len == 0;
    pthread_mutex_unlock(&h->mu);
    return empty;
}

/* Event bytes the host has not taken: published and not yet polled, plus
 * the rest of the batch the last poll is handing out. */
size_t ws__hub_backlog(struct ws_hub *h) {
    pthread_mutex_lock(&h->mu);
    size_t n = h->ev_in.len + (h->ev_out.len > h->ev_pos ? h->ev_out.len - h->ev_pos : 0);
    pthread_mutex_unlock(&h->mu);
    return n;
}

int ws_hub_fd(ws_hub_t *hub) {
    if (!ws__hub_live(hub)) return bad_hub("ws_hub_fd");
    /* An inline hub's epoll fd also covers the pipe (the loop watches it),
     * and stays open after shutdown until ws_hub_free, like the pipe. */
    return hub->inline_mode ? hub->inline_fd : hub->pipe_r;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static size_t padded(size_t n) { return (n + 7) & ~(size_t)7; }

/* Size of the whole record at p (its header is there). */
static size_t rec_size(const uint8_t *p) { return REC_HEADER + padded(rd32(p + 4)); }

static int append_cmd_locked(struct ws_hub *h, int kind, int opcode, int code, uint64_t conn, const void *data, size_t len);
static void wake_loop_unlock(struct ws_hub *h);

/* Must hold h->mu. Remembers a delivered close event for the next poll. */
static void note_close_locked(struct ws_hub *h, uint64_t conn) {
    if (h->acks_len == h->acks_cap) {
        size_t cap = h->acks_cap ? h->acks_cap * 2 : 64;
        uint64_t *a = realloc(h->acks, cap * sizeof *a);
        if (a == NULL) return; /* the hub's close timeout answers instead */
        h->acks = a;
        h->acks_cap = cap;
    }
    h->acks[h->acks_len++] = conn;
}

/* The user data table (ws_hub_set_user). Linear probing; a deletion
 * shifts the entries behind it back, so no tombstones build up. */
static size_t user_slot(const struct ws_hub *h, uint64_t conn) {
    uint64_t x = conn * 0x9E3779B97F4A7C15u;
    return (size_t)(x >> 32) & (h->users_cap - 1);
}

/* Must hold h->mu. */
static uint64_t user_get_locked(const struct ws_hub *h, uint64_t conn) {
    if (h->users_len == 0) return 0;
    for (size_t i = user_slot(h, conn);; i = (i + 1) & (h->users_cap - 1)) {
        if (h->users[i].conn == conn) return h->users[i].value;
        if (h->users[i].conn == 0) return 0;
    }
}

/* Must hold h->mu. */
static void user_del_locked(struct ws_hub *h, uint64_t conn) {
    if (h->users_len == 0) return;
    size_t mask = h->users_cap - 1, i = user_slot(h, conn);
    while (h->users[i].conn != conn) {
        if (h->users[i].conn == 0) return;
        i = (i + 1) & mask;
    }
    for (size_t j = (i + 1) & mask; h->users[j].conn != 0; j = (j + 1) & mask) {
        size_t home = user_slot(h, h->users[j].conn);
        /* Move j into the hole i unless its home lies in (i, j]. */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            h->users[i] = h->users[j];
            i = j;
        }
    }
    h->users[i].conn = 0;
    h->users_len--;
}

/* Must hold h->mu. value 0 removes the entry. */
static int user_set_locked(struct ws_hub *h, uint64_t conn, uint64_t value) {
    if (value == 0) {
        user_del_locked(h, conn);
        return WS_OK;
    }
    if ((h->users_len + 1) * 4 > h->users_cap * 3) {
        size_t cap = h->users_cap ? h->users_cap * 2 : 64;
        struct ws__user *old = h->users, *t = calloc(cap, sizeof *t);
        if (t == NULL) return WS_ENOMEM;
        size_t old_cap = h->users_cap;
        h->users = t;
        h->users_cap = cap;
        h->users_len = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].conn != 0) user_set_locked(h, old[i].conn, old[i].value);
        free(old);
    }
    size_t i = user_slot(h, conn);
    while (h->users[i].conn != 0 && h->users[i].conn != conn) i = (i + 1) & (h->users_cap - 1);
    if (h->users[i].conn == 0) h->users_len++;
    h->users[i].conn = conn;
    h->users[i].value = value;
    return WS_OK;
}

int ws_hub_set_user(ws_hub_t *hub, uint64_t conn, uint64_t user) {
    if (!ws__hub_live(hub)) return bad_hub("ws_hub_set_user");
    int rc = ws__hub_check_conn(hub, "ws_hub_set_user", conn);
    if (rc != WS_OK) return rc;
    pthread_mutex_lock(&hub->mu);
    rc = user_set_locked(hub, conn, user);
    pthread_mutex_unlock(&hub->mu);
    if (rc != WS_OK) return ws__hub_failf(hub, rc, "libws: ws_hub_set_user: no memory");
    return WS_OK;
}

int ws_hub_user(ws_hub_t *hub, uint64_t conn, uint64_t *out_user) {
    if (!ws__hub_live(hub)) return bad_hub("ws_hub_user");
    if (out_user == NULL) return ws__hub_failf(hub, WS_EINVAL, "libws: ws_hub_user: out_user is NULL");
    int rc = ws__hub_check_conn(hub, "ws_hub_user", conn);
    if (rc != WS_OK) return rc;
    pthread_mutex_lock(&hub->mu);
    *out_user = user_get_locked(hub, conn);
    pthread_mutex_unlock(&hub->mu);
    return WS_OK;
}

/* Takes h->mu. The host is back for more, so it has acted on every event
 * of the previous poll: acknowledge that poll's close events now. */
static void ack_previous_poll(struct ws_hub *h) {
    pthread_mutex_lock(&h->mu);
    if (h->acks_len == 0) {
        pthread_mutex_unlock(&h->mu);
        return;
    }
    for (size_t i = 0; i < h->acks_len; i++) {
        append_cmd_locked(h, CMD_CLOSE_ACK, 0, 0, h->acks[i], NULL, 0);
        user_del_locked(h, h->acks[i]); /* its close event was its last */
    }
    h->acks_len = 0;
    wake_loop_unlock(h);
}

/* Points *field at the next field of an open event's payload (u32 length,
 * bytes, a 0 byte; see ws.h) in [*q, end) and moves *q past it. 0 if the
 * field is malformed. */
static int open_field(const uint8_t **q, const uint8_t *end, const uint8_t **field, size_t *len) {
    if ((size_t)(end - *q) < 4) return 0;
    size_t n = rd32(*q);
    const uint8_t *f = *q + 4;
    if (n >= (size_t)(end - f) || f[n] != 0) return 0;
    *field = f;
    *len = n;
    *q = f + n + 1;
    return 1;
}

/* Decodes one record into ev; returns its size, 0 if incomplete. */
static size_t decode_event(const struct ws_hub *h, const uint8_t *p, size_t avail, ws_event_t *ev) {
    if (avail < REC_HEADER) return 0;
    size_t n = rd32(p + 4);
    size_t size = REC_HEADER + padded(n);
    if (avail < size) return 0;
    memset(ev, 0, sizeof *ev);
    ev->type = p[0];
    ev->opcode = p[1];
    ev->code = (int)(p[2] | p[3] << 8);
    ev->conn = rd64(p + 8);
    ev->user = user_get_locked(h, ev->conn);
    const uint8_t *payload = p + REC_HEADER;
    if (ev->type == WS_EVENT_BACKPRESSURE || ev->type == WS_EVENT_DRAIN) {
        ev->buffered = rd32(p + 16);
    } else if (ev->type == WS_EVENT_PONG) {
        ev->latency_us = rd32(p + 16);
    } else {
        ev->listener = rd32(p + 16);
    }
    ev->data = payload;
    ev->len = n;
    if (ev->type == WS_EVENT_ERROR || ev->type == WS_EVENT_BROKER) ev->error = (int32_t)rd32(p + 20);
    if (ev->type == WS_EVENT_OPEN || ev->type == WS_EVENT_REQUEST) {
        /* peer, path, protocol, headers (and a request's method and
         * extensions); fields after them are ignored. A malformed payload
         * (a bug, never the peer's doing: Go writes the lengths) gives
         * empty fields rather than reads out of bounds. */
        const uint8_t *end = payload + n, *q = payload;
        const uint8_t *f[6];
        size_t flen[6];
        int nf = ev->type == WS_EVENT_REQUEST ? 6 : 4;
        int ok = 1;
        for (int i = 0; i < nf && ok; i++) ok = open_field(&q, end, &f[i], &flen[i]);
        if (ok) {
            ev->peer = (const char *)f[0];
            ev->path = (const char *)f[1];
            ev->protocol = (const char *)f[2];
            ev->data = f[3];
            ev->len = flen[3];
        } else {
            ev->peer = ev->path = ev->protocol = "";
            ev->data = ws__empty;
            ev->len = 0;
        }
        if (ev->type == WS_EVENT_REQUEST) {
            ev->method = ok ? (const char *)f[4] : "";
            ev->extensions = ok ? (const char *)f[5] : "";
        }
    }
    return size;
}

/* Must hold h->mu. Leaves the pipe readable exactly while events are
 * left (so a host that polls with a small max is woken again) with no
 * syscall while a backlog is being taken. 'notified' keeps at most one
 * byte in the pipe, so one read empties it. */
static void settle_pipe_locked(struct ws_hub *h) {
    if (h->ev_pos < h->ev_out.len || h->ev_in.len > 0 || h->shut) {
        notify_locked(h);
    } else if (h->notified) {
        char sink[8];
        long r = ws__readfd(h->pipe_r, sink, sizeof sink);
        (void)r;
        h->notified = 0;
    }
}

static int drain_locked(struct ws_hub *h, ws_event_t *events, int max) {
    if (h->ev_pos >= h->ev_out.len && h->ev_in.len > 0) {
        ws__buf t = h->ev_out;
        t.len = 0;
        buf_trim(&t);
        h->ev_out = h->ev_in;
        h->ev_in = t;
        h->ev_pos = 0;
    }
    int n = 0;
    while (n < max) {
        size_t used = decode_event(h, h->ev_out.data + h->ev_pos, h->ev_out.len - h->ev_pos, &events[n]);
        if (used == 0) break;
        h->ev_pos += used;
        if (events[n].type == WS_EVENT_CLOSE) note_close_locked(h, events[n].conn);
        note_id_locked(h, events[n].conn);
        n++;
    }
    settle_pipe_locked(h);
    return n;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events once nothing is queued. An inline hub runs its loop
 * here, on the caller's thread: that is where its sockets are served; given
 * a buf, the loop writes the events of serving them there (as far as they
 * fit) and *taken says how many bytes of buf the caller now holds. The
 * wait itself is in C, not in Go: a signal handled meanwhile then ends it
 * with EINTR (ppoll is never restarted, SA_RESTART or not). SIGURG, the Go
 * runtime's preemption signal, is blocked for the wait: one sent while
 * this thread ran Go code may arrive after it returned, and must not look
 * like the host's signal (it is delivered, harmlessly, when the wait
 * ends). Returns 1 to look at the queue again, 0 once timeout_ms (from
 * start) has passed, or an error (WS_EINTR). */
static int wait_events(ws_hub_t *hub, int timeout_ms, int64_t start, int *waited, uint8_t *buf, size_t cap, size_t *taken) {
    int left = timeout_ms;
    *taken = 0;
    if (timeout_ms > 0) {
        int64_t gone = now_ms() - start;
        left = gone >= timeout_ms ? 0 : (int)(timeout_ms - gone);
    }
    if (hub->inline_mode && !*waited) {
        /* Serve what is ready first, without waiting: that turn also arms
         * the loop's timer for the connections it has. */
        *waited = 1;
        ws__hub_run(hub->go_hub, 0, buf, cap, taken);
        return 1;
    }
    if (left == 0 && (*waited || !hub->inline_mode)) return 0;
    *waited = 1;
    int r = ws__pollin(hub->inline_mode ? hub->inline_fd : hub->pipe_r, left);
    if (r < 0 && ws__interrupted()) return ws__hub_failf(hub, WS_EINTR, "libws: ws_hub_poll: interrupted by a signal");
    if (r < 0) return ws__hub_failf(hub, WS_EIO, "libws: poll on the hub's fd: %s", ws__lasterror());
    if (hub->inline_mode && r > 0) ws__hub_run(hub->go_hub, 0, buf, cap, taken);
    return 1;
}

/* Room, at least, for the events of one turn of an inline loop that
 * ws_hub_poll takes in place; those that do not fit are queued as usual. */
#define DIRECT_MIN (256u << 10)

/* For ws_hub_poll on an inline hub with nothing queued (drain found no
 * event, so ev_out is consumed and the events it held are the previous
 * poll's, no longer valid): ev_out's memory, emptied, for the loop to write
 * the events of its turn into (see ws_hub_poll_raw's buf), or NULL. */
static uint8_t *direct_buffer(struct ws_hub *h, size_t *cap) {
    *cap = 0;
    if (!h->inline_mode) return NULL;
    pthread_mutex_lock(&h->mu);
    h->ev_out.len = 0;
    h->ev_pos = 0;
    int ok = buf_reserve(&h->ev_out, DIRECT_MIN) == 0;
    pthread_mutex_unlock(&h->mu);
    if (!ok) return NULL;
    *cap = h->ev_out.cap;
    return h->ev_out.data;
}

int ws_hub_poll(ws_hub_t *hub, ws_event_t *events, int max, int timeout_ms) {
    if (!ws__hub_live(hub)) return bad_hub("ws_hub_poll");
    if (events == NULL || max < 1) return ws__hub_failf(hub, WS_EINVAL, "libws: ws_hub_poll: events is NULL or max < 1");
    if (timeout_ms < -1) return ws__hub_failf(hub, WS_EINVAL, "libws: ws_hub_poll: timeout_ms must be -1 or more, not %d", timeout_ms);
    ack_previous_poll(hub);
    int64_t start = timeout_ms > 0 ? now_ms() : 0;
    int waited = 0;
    for (;;) {
        pthread_mutex_lock(&hub->mu);
        int n = drain_locked(hub, events, max);
        int shut = hub->shut && n == 0 && hub->ev_in.len == 0 && hub->ev_pos >= hub->ev_out.len;
        pthread_mutex_unlock(&hub->mu);
        if (n > 0) return n;
        if (shut) return ws__hub_failf(hub, WS_ECLOSED, "libws: ws_hub_poll: the hub was shut down");
        size_t cap, taken;
        uint8_t *direct = direct_buffer(hub, &cap);
        int r = wait_events(hub, timeout_ms, start, &waited, direct, cap, &taken);
        if (r <= 0) return r;
        if (taken > 0) {
            /* The loop wrote these records into ev_out: drain decodes them
             * there, with no copy and no queueing. */
            pthread_mutex_lock(&hub->mu);
            hub->ev_out.len = taken;
            hub->ev_pos = 0;
            pthread_mutex_unlock(&hub->mu);
        }
    }
}

int ws_hub_poll_raw(ws_hub_t *hub, uint8_t *buf, size_t cap, int timeout_ms) {
    if (!ws__hub_live(hub)) return bad_hub("ws_hub_poll_raw");
    if (buf == NULL || cap < REC_HEADER) return ws__hub_failf(hub, WS_EINVAL, "libws: ws_hub_poll_raw: buf is NULL or cap < %d", REC_HEADER);
    if (timeout_ms < -1) return ws__hub_failf(hub, WS_EINVAL, "libws: ws_hub_poll_raw: timeout_ms must be -1 or more, not %d", timeout_ms);
    if (cap > INT_MAX) cap = INT_MAX; /* the count returned is an int */
    ack_previous_poll(hub);
    int64_t start = timeout_ms > 0 ? now_ms() : 0;
    int waited = 0;
    for (;;) {
        pthread_mutex_lock(&hub->mu);
        ws_event_t ev;
        (void)drain_locked(hub, &ev, 0);
        /* Copy whole records only, as many as fit. */
        size_t used = 0;
        const uint8_t *p = hub->ev_out.data + hub->ev_pos;
        size_t avail = hub->ev_out.len - hub->ev_pos;
        while (used < avail) {
            size_t size = rec_size(p + used);
            if (used + size > cap) break;
            if (p[used] == WS_EVENT_CLOSE) note_close_locked(hub, rd64(p + used + 8));
            note_id_locked(hub, rd64(p + used + 8));
            used += size;
        }
        int too_small = used == 0 && avail > 0;
        /* Hand over the header of the record that does not fit, so the host
         * can read its size (len at offset 4) and retry with room for it. */
        if (too_small) memcpy(buf, p, REC_HEADER);
        if (used > 0) {
            memcpy(buf, p, used);
            hub->ev_pos += used;
            settle_pipe_locked(hub);
        }
        int shut = hub->shut && used == 0 && avail == 0 && hub->ev_in.len == 0;
        pthread_mutex_unlock(&hub->mu);
        if (too_small) return ws__hub_failf(hub, WS_ENOSPACE, "libws: ws_hub_poll_raw: the next record needs %zu bytes, the buffer has %zu", rec_size(buf), cap);
        if (used > 0) return (int)used;
        if (shut) return ws__hub_failf(hub, WS_ECLOSED, "libws: ws_hub_poll_raw: the hub was shut down");
        size_t taken;
        int r = wait_events(hub, timeout_ms, start, &waited, buf, cap, &taken);
        if (r <= 0) return r;
        if (taken > 0) {
            /* The loop wrote these records into buf: no copy either way. */
            pthread_mutex_lock(&hub->mu);
            for (size_t off = 0; off < taken; off += rec_size(buf + off)) {
                if (buf[off] == WS_EVENT_CLOSE) note_close_locked(hub, rd64(buf + off + 8));
                note_id_locked(hub, rd64(buf + off + 8));
            }
            settle_pipe_locked(hub);
            pthread_mutex_unlock(&hub->mu);
            return (int)taken;
        }
    }
}

/* Writes a command record at p, which has room for REC_HEADER +
 * padded(len) bytes; returns its size. */
static size_t put_record(uint8_t *p, int kind, int opcode, int code, uint64_t conn, const void *data, size_t len) {
    size_t size = REC_HEADER + padded(len);
    memset(p, 0, size);
    p[0] = (uint8_t)kind;
    p[1] = (uint8_t)opcode;
    p[2] = (uint8_t)code;
    p[3] = (uint8_t)(code >> 8);
    wr32(p + 4, (uint32_t)len);
    wr32(p + 8, (uint32_t)conn);
    wr32(p + 12, (uint32_t)(conn >> 32));
    if (len > 0) memcpy(p + REC_HEADER, data, len);
    return size;
}

/* Must hold h->mu. */
static int append_cmd_locked(struct ws_hub *h, int kind, int opcode, int code, uint64_t conn, const void *data, size_t len) {
    if (buf_reserve(&h->cmd_in, REC_HEADER + padded(len)) != 0) return WS_ENOMEM;
    h->cmd_in.len += put_record(h->cmd_in.data + h->cmd_in.len, kind, opcode, code, conn, data, len);
    return WS_OK;
}

/* Wakes the Go loop once per batch of commands: the flag is cleared when
 * the loop takes the queue. */
static void wake_loop_unlock(struct ws_hub *h) {
    int wake = !h->cmd_signaled && h->cmd_in.len > 0;
    if (wake) h->cmd_signaled = 1;
    int fd = h->wakefd;
    pthread_mutex_unlock(&h->mu);
    if (wake && fd >= 0) {
        uint64_t one = 1;
        long w = ws__writefd(fd, &one, sizeof one);
        (void)w;
    }
}

/* The checks every send shares (ws.h, ws_hub_send). */
static int check_send(ws_hub_t *hub, const char *fn, uint64_t conn, int opcode, const void *data, size_t len) {
    if (data == NULL && len > 0) return ws__hub_failf(hub, WS_EINVAL, "libws: %s: data is NULL", fn);
    if (len > 0xFFFFFFFFu) return ws__hub_failf(hub, WS_ETOOBIG, "libws: %s: a message of %zu bytes", fn, len);
    switch (opcode) {
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        break;
    case WS_OP_PING:
    case WS_OP_PONG:
        if (len > 125) return ws__hub_failf(hub, WS_EINVAL, "libws: %s: a control payload of %zu bytes (125 at most)", fn, len);
        break;
    default:
        return ws__hub_failf(hub, WS_EINVAL, "libws: %s: opcode %d cannot be sent", fn, opcode);
    }
    return ws__hub_check_conn(hub, fn, conn);
}

/* ws_close's checks of a close code and reason (one place: capi's Go
 * half), plus the hub's own of conn. */
static int check_close(ws_hub_t *hub, const char *fn, uint64_t conn, int code, const char *reason, size_t len) {
    int rc = ws__check_close(code, (char *)reason, len);
    if (rc != WS_OK) return ws__hub_fail_thread(hub, rc);
    return ws__hub_check_conn(hub, fn, conn);
}

/* Takes h->mu and keeps it unless it fails: WS_OK when the hub (live: the
 * callers checked, once per call, the registry being a global lock) is not
 * shut down, and tells whether it is inline (its commands run at once,
 * unlocked). */
static int lock_open_hub(ws_hub_t *hub, const char *fn, int *inline_mode) {
    pthread_mutex_lock(&hub->mu);
    if (hub->shut) {
        pthread_mutex_unlock(&hub->mu);
        return ws__hub_failf(hub, WS_ECLOSED, "libws: %s: the hub was shut down", fn);
    }
    *inline_mode = hub->inline_mode;
    if (*inline_mode) pthread_mutex_unlock(&hub->mu);
    return WS_OK;
}

static int queue_cmd(ws_hub_t *hub, const char *fn, int kind, int opcode, int code, uint64_t conn, const void *data, size_t len) {
    int inline_mode;
    int rc = lock_open_hub(hub, fn, &inline_mode);
    if (rc != WS_OK) return rc;
    if (inline_mode) {
        ws__hub_exec_one(hub->go_hub, kind, opcode, code, conn, (uint8_t *)data, len);
        return WS_OK;
    }
    rc = append_cmd_locked(hub, kind, opcode, code, conn, data, len);
    wake_loop_unlock(hub);
    if (rc != WS_OK) return ws__hub_failf(hub, rc, "libws: %s: no memory to queue %zu bytes", fn, len);
    return WS_OK;
}

int ws_hub_send(ws_hub_t *hub, uint64_t conn, int opcode, const void *data, size_t len) {
    if (!ws__hub_live(hub)) return bad_hub("ws_hub_send");
    int rc = check_send(hub, "ws_hub_send", conn, opcode, data, len);
    if (rc != WS_OK) return rc;
    return queue_cmd(hub, "ws_hub_send", CMD_SEND, opcode, 0, conn, data, len);
}

int ws_hub_send_batch(ws_hub_t *hub, const ws_send_t *items, int n) {
    if (!ws__hub_live(hub)) return bad_hub("ws_hub_send_batch");
    if (n < 0 || (items == NULL && n > 0)) return ws__hub_failf(hub, WS_EINVAL, "libws: ws_hub_send_batch: items is NULL or n < 0");
    for (int i = 0; i < n; i++) {
        int rc = check_send(hub, "ws_hub_send_batch", items[i].conn, items[i].opcode, items[i].data, items[i].len);
        if (rc != WS_OK) return rc;
    }
    int inline_mode;
    int rc = lock_open_hub(hub, "ws_hub_send_batch", &inline_mode);
    if (rc != WS_OK) return rc;
    if (inline_mode) {
        /* Sends by reference, a chunk of them per crossing: one call into Go
         * instead of one per message, and consecutive small sends to one
         * connection leave in one write. */
        enum { REF_RECORD = REC_HEADER + sizeof(ws_send_ref_t), CHUNK = 64 };
        uint8_t records[CHUNK * REF_RECORD];
        for (int i = 0; i < n;) {
            size_t len = 0;
            for (; i < n && len < sizeof records; i++) {
                ws_send_ref_t ref = {(const uint8_t *)items[i].data, items[i].len};
                len += put_record(records + len, WS_CMD_SEND_REF, items[i].opcode, 0, items[i].conn, &ref, sizeof ref);
            }
            ws__hub_exec(hub->go_hub, records, len, 1);
        }
        return n;
    }
    size_t mark = hub->cmd_in.len;
    for (int i = 0; i < n; i++) {
        rc = append_cmd_locked(hub, CMD_SEND, items[i].opcode, 0, items[i].conn, items[i].data, items[i].len);
        if (rc != WS_OK) {
            hub->cmd_in.len = mark;
            pthread_mutex_unlock(&hub->mu);
            return ws__hub_failf(hub, rc, "libws: ws_hub_send_batch: no memory to queue %d messages", n);
        }
    }
    wake_loop_unlock(hub);
    return n;
}

/* The checks of an answer to a request event (ws_hub_accept,
 * ws_hub_reject, their records): two well-formed fields, a status in
 * range. The headers' syntax is checked by the hub, which refuses the
 * client with 500 and reports why when it is wrong. */
static int check_answer(ws_hub_t *hub, const char *fn, uint64_t conn, int kind, int status, const uint8_t *payload, size_t len) {
    const uint8_t *q = payload, *end = payload + len, *f;
    size_t n;
    for (int i = 0; i < 2; i++)
        if (!open_field(&q, end, &f, &n)) return ws__hub_failf(hub, WS_EINVAL, "libws: %s: field %d of the answer is malformed", fn, i + 1);
    if (kind == WS_CMD_REJECT && (status < 200 || status > 599))
        return ws__hub_failf(hub, WS_EINVAL, "libws: %s: HTTP status %d is not in 200..599", fn, status);
    return ws__hub_check_conn(hub, fn, conn);
}

/* Checks one command record of a ws_hub_send_raw batch (size known to
 * fit); *refs counts sends by reference. */
static int check_record(ws_hub_t *hub, const uint8_t *p, size_t plen, int *refs) {
    static const char fn[] = "ws_hub_send_raw";
    uint64_t conn = rd64(p + 8);
    switch (p[0]) {
    case CMD_SEND: return check_send(hub, fn, conn, p[1], p + REC_HEADER, plen);
    case WS_CMD_SEND_REF: {
        ws_send_ref_t ref;
        if (plen != sizeof ref) return ws__hub_failf(hub, WS_EINVAL, "libws: %s: a WS_CMD_SEND_REF payload has %zu bytes, not %zu", fn, plen, sizeof ref);
        memcpy(&ref, p + REC_HEADER, sizeof ref);
        if (ref.len > SIZE_MAX) return ws__hub_failf(hub, WS_ETOOBIG, "libws: %s: a message of %" PRIu64 " bytes", fn, ref.len);
        (*refs)++;
        return check_send(hub, fn, conn, p[1], ref.data, (size_t)ref.len);
    }
    case CMD_CLOSE:
        if (plen > WS_MAX_CLOSE_REASON) return ws__hub_failf(hub, WS_EINVAL, "libws: %s: a close reason of %zu bytes (123 at most)", fn, plen);
        return check_close(hub, fn, conn, p[2] | p[3] << 8, (const char *)p + REC_HEADER, plen);
    case CMD_TERMINATE:
    case WS_CMD_PAUSE:
    case WS_CMD_RESUME:
        return ws__hub_check_conn(hub, fn, conn);
    case WS_CMD_SUBSCRIBE:
    case WS_CMD_UNSUBSCRIBE:
    case WS_CMD_PUBLISH:
        return ws__check_topic_record(hub, fn, p, plen);
    case WS_CMD_ACCEPT:
    case WS_CMD_REJECT:
        return check_answer(hub, fn, conn, p[0], p[2] | p[3] << 8, p + REC_HEADER, plen);
    }
    return ws__hub_failf(hub, WS_EINVAL, "libws: %s: unknown command kind %d", fn, p[0]);
}

int ws_hub_send_raw(ws_hub_t *hub, const uint8_t *records, size_t len) {
    if (!ws__hub_live(hub)) return bad_hub("ws_hub_send_raw");
    if (records == NULL && len > 0) return ws__hub_failf(hub, WS_EINVAL, "libws: ws_hub_send_raw: records is NULL");
    int n = 0, refs = 0;
    /* Validate the whole batch first: all of it is queued, or none. */
    for (size_t off = 0; off < len; n++) {
        const uint8_t *p = records + off;
        size_t plen = len - off < REC_HEADER ? 0 : rd32(p + 4);
        if (len - off < REC_HEADER || REC_HEADER + padded(plen) > len - off)
            return ws__hub_failf(hub, WS_EINVAL, "libws: ws_hub_send_raw: the record at offset %zu is cut short", off);
        int rc = check_record(hub, p, plen, &refs);
        if (rc != WS_OK) {
            char m[320];
            snprintf(m, sizeof m, "%s (the record at offset %zu)", ws_errmsg(), off);
            return ws__hub_fail(hub, rc, m, strlen(m));
        }
        off += REC_HEADER + padded(plen);
    }
    int inline_mode;
    int rc = lock_open_hub(hub, "ws_hub_send_raw", &inline_mode);
    if (rc != WS_OK) return rc;
    if (inline_mode) {
        if (len > 0) ws__hub_exec(hub->go_hub, (uint8_t *)records, len, refs > 0);
        return n;
    }
    /* The loop runs the batch later: by-reference sends are copied in. */
    size_t mark = hub->cmd_in.len;
    for (size_t off = 0; off < len;) {
        const uint8_t *p = records + off;
        size_t size = refs > 0 ? rec_size(p) : len; /* none: the batch at once */
        if (p[0] == WS_CMD_SEND_REF) {
            ws_send_ref_t ref;
            memcpy(&ref, p + REC_HEADER, sizeof ref);
            rc = append_cmd_locked(hub, CMD_SEND, p[1], 0, rd64(p + 8), ref.data, (size_t)ref.len);
        } else if ((rc = buf_reserve(&hub->cmd_in, size)) == WS_OK) {
            memcpy(hub->cmd_in.data + hub->cmd_in.len, p, size);
            hub->cmd_in.len += size;
        }
        if (rc != WS_OK) {
            hub->cmd_in.len = mark;
            pthread_mutex_unlock(&hub->mu);
            return ws__hub_failf(hub, WS_ENOMEM, "libws: ws_hub_send_raw: no memory to queue %zu bytes", len);
        }
        off += size;
    }
    wake_loop_unlock(hub);
    return n;
}

int ws_hub_close(ws_hub_t *hub, uint64_t conn, int code, const char *reason) {
    if (!ws__hub_live(hub)) return bad_hub("ws_hub_close");
    size_t len = reason ? strlen(reason) : 0;
    int rc = check_close(hub, "ws_hub_close", conn, code, reason, len);
    if (rc != WS_OK) return rc;
    if (len > WS_MAX_CLOSE_REASON) {
        len = WS_MAX_CLOSE_REASON;
        /* Do not cut a UTF-8 sequence in half. */
        while (len > 0 && ((unsigned char)reason[len] & 0xC0) == 0x80) len--;
    }
    return queue_cmd(hub, "ws_hub_close", CMD_CLOSE, 0, code, conn, reason, len);
}

/* The commands without payload. */
static int conn_cmd(ws_hub_t *hub, const char *fn, int kind, uint64_t conn) {
    if (!ws__hub_live(hub)) return bad_hub(fn);
    int rc = ws__hub_check_conn(hub, fn, conn);
    if (rc != WS_OK) return rc;
    return queue_cmd(hub, fn, kind, 0, 0, conn, NULL, 0);
}

int ws_hub_terminate(ws_hub_t *hub, uint64_t conn) { return conn_cmd(hub, "ws_hub_terminate", CMD_TERMINATE, conn); }

int ws_hub_pause(ws_hub_t *hub, uint64_t conn) { return conn_cmd(hub, "ws_hub_pause", WS_CMD_PAUSE, conn); }

int ws_hub_resume(ws_hub_t *hub, uint64_t conn) { return conn_cmd(hub, "ws_hub_resume", WS_CMD_RESUME, conn); }

/* Appends a field (u32 length, bytes, a 0 byte) at p; returns its end. */
static uint8_t *put_field(uint8_t *p, const void *data, size_t len) {
    wr32(p, (uint32_t)len);
    if (len > 0) memcpy(p + 4, data, len);
    p[4 + len] = 0;
    return p + 5 + len;
}

/* NULL if s is a valid field for fn, else the reason: C strings carry no
 * NUL; CR and LF only as the "\r\n" that end header lines. */
static const char *bad_text(const char *s, int header_lines) {
    for (const char *c = s; *c; c++) {
        if (*c == '\r' || *c == '\n') {
            if (!header_lines) return "holds CR or LF";
            if (c[0] != '\r' || c[1] != '\n') return "holds a CR or LF outside a \"\\r\\n\" line end";
            c++;
        }
    }
    return NULL;
}

/* Queues an answer to a request event: kind, opcode, status, two fields. */
static int queue_answer(ws_hub_t *hub, const char *fn, int kind, int opcode, int status, uint64_t conn, const char *f1, size_t n1, const void *f2,
                        size_t n2) {
    if (n1 > WS_RECORD_MAX_LEN || n2 > WS_RECORD_MAX_LEN - 10 - n1) return ws__hub_failf(hub, WS_ETOOBIG, "libws: %s: an answer of %zu bytes", fn, n1 + n2);
    size_t len = 10 + n1 + n2;
    uint8_t *payload = malloc(len);
    if (payload == NULL) return ws__hub_failf(hub, WS_ENOMEM, "libws: %s: no memory", fn);
    put_field(put_field(payload, f1, n1), f2, n2);
    int rc = check_answer(hub, fn, conn, kind, status, payload, len);
    if (rc == WS_OK) rc = queue_cmd(hub, fn, kind, opcode, status, conn, payload, len);
    free(payload);
    return rc;
}

int ws_hub_accept(ws_hub_t *hub, uint64_t conn, const char *subprotocol, const char *headers) {
    static const char fn[] = "ws_hub_accept";
    if (!ws__hub_live(hub)) return bad_hub(fn);
    const char *why;
    if (subprotocol != NULL && (why = bad_text(subprotocol, 0)) != NULL) return ws__hub_failf(hub, WS_EINVAL, "libws: %s: the subprotocol %s", fn, why);
    if (headers == NULL) headers = "";
    if ((why = bad_text(headers, 1)) != NULL) return ws__hub_failf(hub, WS_EINVAL, "libws: %s: headers %s", fn, why);
    const char *sub = subprotocol ? subprotocol : "";
    return queue_answer(hub, fn, WS_CMD_ACCEPT, subprotocol != NULL, 0, conn, sub, strlen(sub), headers, strlen(headers));
}

int ws_hub_reject(ws_hub_t *hub, uint64_t conn, int status, const char *headers, const void *body, size_t len) {
    static const char fn[] = "ws_hub_reject";
    if (!ws__hub_live(hub)) return bad_hub(fn);
    if (body == NULL && len > 0) return ws__hub_failf(hub, WS_EINVAL, "libws: %s: body is NULL", fn);
    if (headers == NULL) headers = "";
    const char *why = bad_text(headers, 1);
    if (why != NULL) return ws__hub_failf(hub, WS_EINVAL, "libws: %s: headers %s", fn, why);
    return queue_answer(hub, fn, WS_CMD_REJECT, 0, status, conn, headers, strlen(headers), body, len);
}
