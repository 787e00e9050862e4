/*
 * libwebsockets (C) echo peer of the libws benchmark suite: listens on
 * 127.0.0.1:PORT and echoes every message on path / with the opcode it came
 * with (text as text, binary as binary), as one frame.
 *
 * It uses lws's standard (built-in poll) event loop in one thread, no
 * extensions (so no permessage-deflate) and lws's default buffer sizes. lws
 * hands a message to the callback in pieces (at most rx_buffer_size bytes,
 * and per frame); they are joined here and the whole message queued for
 * sending when its last piece arrives. lws answers pings and completes the
 * closing handshake itself.
 *
 * Build: cc -O2 -o echo echo.c $(pkg-config --cflags --libs libwebsockets)
 * Usage: echo PORT
 */
#include <libwebsockets.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Stop reading from a connection while this much echo is waiting to go out
 * (only a client that never reads its echoes gets there). */
#define MAX_QUEUED (4u << 20)

struct msg {
	struct msg *next;
	size_t len;
	int binary;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then len bytes */
};

struct session {
	struct msg *head, *tail; /* echoes waiting to be written */
	size_t queued;           /* their bytes */
	int paused;              /* rx flow control off */
	unsigned char *rx;       /* the message being received */
	size_t rx_len, rx_cap;
	int rx_binary;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void session_free(struct session *s)
{
	struct msg *m = s->head;
	while (m) {
		struct msg *next = m->next;
		free(m);
		m = next;
	}
	s->head = s->tail = NULL;
	s->queued = 0;
	free(s->rx);
	s->rx = NULL;
	s->rx_len = s->rx_cap = 0;
}

/* Appends a piece of the current message to s->rx (a message that arrives
 * in one piece skips this and is copied straight into its struct msg). */
static int rx_append(struct session *s, const void *in, size_t len)
{
	if (s->rx_len + len > s->rx_cap) {
		size_t cap = s->rx_cap ? s->rx_cap : 1024;
		while (cap < s->rx_len + len)
			cap *= 2;
		unsigned char *p = realloc(s->rx, cap);
		if (!p)
			return -1;
		s->rx = p;
		s->rx_cap = cap;
	}
	if (len)
		memcpy(s->rx + s->rx_len, in, len);
	s->rx_len += len;
	return 0;
}

static int queue_echo(struct lws *wsi, struct session *s, const void *data, size_t len, int binary)
{
	struct msg *m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return -1;
	m->next = NULL;
	m->len = len;
	m->binary = binary;
	if (len)
		memcpy(m->buf + LWS_PRE, data, len);
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	s->queued += len;
	if (s->queued > MAX_QUEUED && !s->paused) {
		lws_rx_flow_control(wsi, 0);
		s->paused = 1;
	}
	lws_callback_on_writable(wsi);
	return 0;
}

static int callback_echo(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct session *s = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(s, 0, sizeof(*s));
		break;

	case LWS_CALLBACK_RECEIVE: {
		int first = lws_is_first_fragment(wsi);
		int last = lws_is_final_fragment(wsi);
		if (first) {
			s->rx_len = 0;
			s->rx_binary = lws_frame_is_binary(wsi);
		}
		if (first && last) /* the whole message in one piece: no joining */
			return queue_echo(wsi, s, in, len, s->rx_binary);
		if (rx_append(s, in, len))
			return -1;
		if (last) {
			int rc = queue_echo(wsi, s, s->rx, s->rx_len, s->rx_binary);
			s->rx_len = 0;
			/* Don't hold on to a big buffer between messages. */
			if (s->rx_cap > 65536) {
				free(s->rx);
				s->rx = NULL;
				s->rx_cap = 0;
			}
			return rc;
		}
		break;
	}

	case LWS_CALLBACK_SERVER_WRITEABLE: {
		struct msg *m = s->head;
		if (!m)
			break;
		/* One write per callback, as lws asks; it buffers any part the
		 * socket did not take and calls back only once that is out. */
		int n = lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
		if (n < (int)m->len)
			return -1;
		s->head = m->next;
		if (!s->head)
			s->tail = NULL;
		s->queued -= m->len;
		free(m);
		if (s->paused && s->queued <= MAX_QUEUED / 2) {
			lws_rx_flow_control(wsi, 1);
			s->paused = 0;
		}
		if (s->head)
			lws_callback_on_writable(wsi);
		break;
	}

	case LWS_CALLBACK_CLOSED:
		session_free(s);
		break;

	default:
		/* HTTP callbacks (the upgrade request) get lws's defaults. */
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	/* The first protocol is the one a client naming none gets. */
	{"echo", callback_echo, sizeof(struct session), 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

int main(int argc, char **argv)
{
	if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
		fprintf(stderr, "usage: echo PORT\n");
		return 2;
	}
	/* lws sizes its fd table from RLIMIT_NOFILE: raise the soft limit to
	 * the hard one so that 10,000 connections fit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = atoi(argv[1]);
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	/* Without this, lws binds an IPv6 socket to all addresses and ignores
	 * iface; with it, an IPv4 socket on 127.0.0.1 like the other peers. */
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	/* No extensions (info.extensions stays NULL). TLS (wss://) when
	 * BENCH_TLS_CERT and BENCH_TLS_KEY name PEM files, as for every
	 * TLS-capable server of the suite; lws then runs OpenSSL, whose default
	 * is TLS 1.3 (loadgen accepts nothing older). */
	const char *cert = getenv("BENCH_TLS_CERT"), *key = getenv("BENCH_TLS_KEY");
	if (cert && *cert && key && *key) {
#if defined(LWS_WITH_TLS)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cert;
		info.ssl_private_key_filepath = key;
#else
		fprintf(stderr, "lws: this libwebsockets is built without TLS\n");
		return 1;
#endif
	}

	struct lws_context *ctx = lws_create_context(&info);
	if (!ctx) {
		fprintf(stderr, "lws: lws_create_context failed\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "lws: listening on %s://127.0.0.1:%d (libwebsockets %s)\n", info.ssl_cert_filepath ? "wss" : "ws",
		info.port, lws_get_library_version());

	while (!stop && lws_service(ctx, 0) >= 0)
		;
	lws_context_destroy(ctx);
	return 0;
}
