package hub

import (
	"crypto/tls"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libws/libws/libws"
)

// Host receives the hub's events and gives it commands. Both calls carry
// batches of records (see AppendRecord).
type Host interface {
	// Publish hands the host a batch of event records. It must copy what it
	// keeps: the buffer is reused after Publish returns. It is called from
	// several goroutines and must be safe for that.
	Publish(events []byte)
	// Commands returns the command records queued since the last call, all
	// at once; the slice stays valid until the next call. Only the hub's
	// loop goroutine calls it, after its wake eventfd was written.
	Commands() []byte
}

// A BackloggedHost reports how many bytes of events it holds that its
// application has not taken yet. Connections read on goroutines of their
// own (TLS, clients, hosts other than Linux's loop) stop reading while it
// is over hostBacklogMax, so that a host that takes events slowly holds a
// bounded amount of them; the loop reads only while its host polls, which
// bounds them the same way.
type BackloggedHost interface {
	Host
	Backlog() int
}

// hostBacklogMax is the most event bytes a BackloggedHost holds before
// the goroutine readers wait for it (plus what one read completes).
const hostBacklogMax = 1 << 20

// hostBehindTurn is how long a threaded loop whose host is behind waits
// between turns that read nothing.
const hostBehindTurn = 5 * time.Millisecond

// hostBehind reports whether a BackloggedHost holds over hostBacklogMax.
func (h *Hub) hostBehind() bool {
	bh, ok := h.host.(BackloggedHost)
	return ok && bh.Backlog() > hostBacklogMax
}

// InlineHost is a Host of an inline hub (Options.Inline) that has a
// wake-up fd of its own, signalled by Publish. The loop watches that fd,
// so the hub's PollFD also wakes for events of goroutine connections, and
// hands over the events of the iterations the host itself runs with
// PublishQuiet, which must not signal it.
type InlineHost interface {
	Host
	NotifyFD() int
	PublishQuiet(events []byte)
}

// A DirectHost is an InlineHost that lends the hub the buffer it polls
// into (Hub.RunInto), so that events are written once, where the host
// reads them, instead of being copied into its queue and out again.
type DirectHost interface {
	InlineHost
	// TakeInPlace reports whether the host takes the events RunInto wrote
	// to its buffer as they are; it must not when it holds events not yet
	// taken, which are older. It is called by the goroutine in RunInto.
	TakeInPlace() bool
}

// Options tune the connections of a hub or of one listener or client.
type Options struct {
	// Limits of each connection (KeepBuffer is ignored: idle epoll
	// connections keep no buffer). MaxMessageSize and MaxFrameSize are
	// held under MaxRecordLen whatever their value: a message must fit
	// one event record.
	libws.Options
	// Subprotocols a server speaks (most preferred first), or a client offers.
	Subprotocols []string
	// CheckOrigin vets a server request's Origin; nil allows every origin.
	CheckOrigin func(origin string, header http.Header) bool
	// Header holds extra response headers (server) or request headers (client).
	Header http.Header
	// TLS for a listener (certificates) or a client (verification).
	TLS *tls.Config
	// Compression enables permessage-deflate: accepted when a client offers
	// it (listeners), offered (clients). nil: off.
	Compression *libws.CompressionOptions
	// RequestEvents, for a listener (or Adopt), hands each valid upgrade
	// request to the host as an EventRequest and waits for its CmdAccept
	// or CmdReject before answering, up to HandshakeTimeout (then 503).
	// After a request event the connection's last event is a close event,
	// whether it was accepted or not.
	RequestEvents bool
	// StaticDir, for a plain-TCP listener, answers GET requests that are not
	// WebSocket upgrades with files from this directory (index.html for
	// "/"), so a page and its socket share one port. Empty: such requests
	// get 426 Upgrade Required.
	StaticDir string
	// HighWater is the unsent byte count above which a connection reports
	// EventBackpressure (1 MiB); EventDrain follows under half of it.
	HighWater int
	// MaxBuffered is the unsent byte count at which the connection is failed
	// with close 1008 rather than buffering without bound (64 MiB).
	MaxBuffered int
	// MaxTotalBuffered, on the hub's options, bounds the unsent bytes of all
	// connections together (256 MiB): past it the connections with the
	// largest buffers are failed with 1008 until the total is under it.
	MaxTotalBuffered int
	// PingInterval sends a ping after this long without input (0: never).
	PingInterval time.Duration
	// PongTimeout fails a connection with 1011 "keepalive ping timeout"
	// (error status ETimedOut) when nothing arrives for this long after a
	// keepalive ping (0: never), so a peer gone without a FIN is closed
	// within PingInterval + PongTimeout. Not while the host has the
	// connection paused. The pong event answering a keepalive ping
	// carries its round trip in microseconds in Aux (see Latency).
	PongTimeout time.Duration
	// IdleTimeout drops a connection after this long without input (0: never).
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the opening handshake (10 s), CloseTimeout the
	// wait for the peer's close reply (5 s).
	HandshakeTimeout time.Duration
	CloseTimeout     time.Duration
	// Inline, on the hub's options, starts no loop goroutine: the host
	// drives the hub by calling Run (when PollFD is readable, or with a
	// timeout) and sends with Exec, on its own thread, so that an echo
	// costs no hand-over between threads. Plain-TCP server connections are
	// served only while the host runs the hub; TLS and client connections
	// still have goroutines of their own.
	Inline bool
	// OnStopped, on the hub's options, runs once Shutdown has delivered
	// every event and before the wake eventfd is closed: a host that writes
	// that fd stops doing so here.
	OnStopped func()
	// ReusePort, on a listener's options (or the hub's), sets SO_REUSEPORT
	// so that several processes or hubs listen on one port.
	ReusePort bool
	// Broker, on the hub's options, is a Redis URL (redis://host:port/db)
	// shared by hubs that publish to topics as one system (see topics.go
	// and broker_redis.go). Empty: topics live in this hub alone.
	Broker string
}

func (o *Options) withDefaults() Options {
	r := *o
	if r.HighWater <= 0 {
		r.HighWater = 1 << 20
	}
	if r.MaxBuffered <= 0 {
		r.MaxBuffered = 64 << 20
	}
	if r.MaxBuffered < r.HighWater {
		r.MaxBuffered = r.HighWater
	}
	if r.MaxTotalBuffered <= 0 {
		r.MaxTotalBuffered = 256 << 20
	}
	if r.HandshakeTimeout <= 0 {
		r.HandshakeTimeout = 10 * time.Second
	}
	if r.CloseTimeout <= 0 {
		r.CloseTimeout = 5 * time.Second
	}
	r.KeepBuffer = 0
	return r
}

// ErrClosed is returned by calls on a hub that has shut down.
var ErrClosed = errors.New("hub: closed")

// Hub owns listeners and connections. Create it with New.
type Hub struct {
	host   Host
	opts   Options
	nextID atomic.Uint64

	loop *loop

	mu        sync.Mutex
	goConns   map[uint64]*goConn
	tlsLns    map[uint32]*tlsListener
	nextLn    uint32
	shutdown  bool
	goWG      sync.WaitGroup
	closeOnce sync.Once

	// total is the unsent bytes of all connections together, held under
	// opts.MaxTotalBuffered (see enforceTotal).
	total atomic.Int64
	// goCount is len(goConns), read by the loop without the lock to know
	// whether its tick has goroutine connections to serve.
	goCount atomic.Int64
	// topics is the registry of topic subscriptions (topics.go).
	topics topics
}

// overTotal reports whether the unsent bytes of all connections passed
// MaxTotalBuffered.
func (h *Hub) overTotal() bool { return h.total.Load() > int64(h.opts.MaxTotalBuffered) }

// addBuffered accounts unsent bytes that a connection queued (n > 0) or
// handed to the kernel or dropped (n < 0).
func (h *Hub) addBuffered(n int64) {
	if n != 0 {
		h.total.Add(n)
	}
}

// New starts a hub whose events go to host.
func New(host Host, opts *Options) (*Hub, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	h := &Hub{host: host, opts: o.withDefaults(), goConns: map[uint64]*goConn{}, tlsLns: map[uint32]*tlsListener{}}
	l, err := newLoop(h)
	if err != nil {
		return nil, err
	}
	h.loop = l
	if err := h.initTopics(); err != nil {
		l.closeFDs()
		return nil, err
	}
	if !h.opts.Inline {
		go l.run()
	}
	return h, nil
}

// WakeFD is the descriptor a host writes an 8-byte count to after
// queueing commands, to wake the loop: an eventfd on Linux, a pipe's write
// end elsewhere.
func (h *Hub) WakeFD() int { return h.loop.wakefd }

// PollFD, for an inline hub, is readable when Run has work: sockets are
// ready, commands are queued, a timer is due or (with an InlineHost)
// goroutines published events. Wake-ups may be spurious. It is the socket
// loop's epoll or kqueue descriptor; where the hub has no socket loop
// (Windows and the rest, and the hubgoroutine build tag) it is the
// InlineHost's NotifyFD, or -1 (see loop_goroutine.go).
func (h *Hub) PollFD() int { return h.loop.pollFD() }

// Run, for an inline hub, carries out queued commands, waits up to
// timeout (negative: no limit) for readiness and serves it, publishing the
// events that came of it. One caller at a time runs; others wait their
// turn. It reports whether the hub has stopped.
func (h *Hub) Run(timeout time.Duration) (stopped bool) {
	stopped, _ = h.loop.iterate(timeoutMs(timeout), nil)
	return stopped
}

// timeoutMs rounds a wait up to whole milliseconds; negative is -1, no limit.
func timeoutMs(timeout time.Duration) int {
	if timeout < 0 {
		return -1
	}
	return int((timeout + time.Millisecond - 1) / time.Millisecond)
}

// RunInto is Run for a DirectHost: the events of serving the sockets are
// written to dst (from its start) as far as they fit, and n is how many
// bytes of it hold events the host took in place (see TakeInPlace); the
// other events are published as by Run, after them.
func (h *Hub) RunInto(timeout time.Duration, dst []byte) (n int, stopped bool) {
	stopped, n = h.loop.iterate(timeoutMs(timeout), dst)
	return n, stopped
}

// Exec carries out a batch of command records at once on the caller's
// goroutine, the way an inline hub's host sends; events that come of it
// (errors, backpressure) are published. Any hub accepts it.
func (h *Hub) Exec(records []byte) { h.loop.exec(records, nil, nil) }

// ExecRefs is Exec for a batch that may hold CmdSendRef records: deref
// turns such a record's payload into the bytes it names, which must stay
// valid and unchanged until ExecRefs returns (they are sent or copied by
// then).
func (h *Hub) ExecRefs(records []byte, deref func(ref []byte) []byte) {
	h.loop.exec(records, nil, deref)
}

// ExecRecord is Exec for one command. Its payload is copied or sent before
// ExecRecord returns.
func (h *Hub) ExecRecord(r Record) { h.loop.exec(nil, &r, nil) }

// Wake wakes the loop so that it fetches commands, for hosts written in Go.
func (h *Hub) Wake() { h.loop.wake() }

func (h *Hub) newID() uint64 { return h.nextID.Add(1) }

func (h *Hub) resolve(opts *Options) Options {
	if opts == nil {
		return h.opts
	}
	return opts.withDefaults()
}

// Listen accepts WebSocket connections on addr ("host:port"; port 0 picks
// one). It returns the listener's id, which open events carry, and the
// bound port. With opts.TLS set, connections are served over TLS.
func (h *Hub) Listen(addr string, opts *Options) (id uint32, port int, err error) {
	o := h.resolve(opts)
	h.mu.Lock()
	if h.shutdown {
		h.mu.Unlock()
		return 0, 0, ErrClosed
	}
	h.nextLn++
	id = h.nextLn
	h.mu.Unlock()
	if o.TLS != nil {
		port, err = h.listenTLS(id, addr, &o)
	} else {
		port, err = h.loop.listen(id, addr, &o)
	}
	return id, port, err
}

// Connect opens a client connection to a ws:// or wss:// URL in the
// background and returns its id at once; an open event, or an error and a
// close event, follow.
func (h *Hub) Connect(url string, opts *Options) (uint64, error) {
	o := h.resolve(opts)
	if opts == nil {
		// The hub's TLS settings are its listeners' certificates; a client
		// without options of its own verifies with the system roots.
		o.TLS = nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.shutdown {
		return 0, ErrClosed
	}
	id := h.newID()
	gc := newGoConn(h, id, 0, &o)
	h.addGoConn(gc)
	h.goWG.Add(1)
	go gc.dial(url)
	return id, nil
}

// BufferedAmount returns the bytes queued for a connection and not yet
// handed to the kernel, or -1 for an unknown connection.
func (h *Hub) BufferedAmount(id uint64) int64 {
	if n, ok := h.loop.buffered(id); ok {
		return n
	}
	h.mu.Lock()
	gc := h.goConns[id]
	h.mu.Unlock()
	if gc == nil {
		return -1
	}
	return gc.buffered.Load()
}

// Latency returns the round trip of the last keepalive ping (see
// Options.PongTimeout) a connection answered, 0 if none yet; ok is false
// for a connection that is gone or never existed.
func (h *Hub) Latency(id uint64) (d time.Duration, ok bool) {
	if ns, known := h.loop.latency(id); known {
		return time.Duration(ns), true
	}
	h.mu.Lock()
	gc := h.goConns[id]
	h.mu.Unlock()
	if gc == nil {
		return 0, false
	}
	return time.Duration(gc.s.latency.Load()), true
}

// Sendable reports whether sends to a connection are still written: it is
// open, or its close event went out and the host has not acknowledged it
// yet (see CmdCloseAck). It is false for a connection that is closing,
// gone or never existed, so that a host can fail such a send at once
// (ws.h's WS_ECLOSED) instead of queueing it to be dropped. It takes no
// lock the loop holds while serving.
func (h *Hub) Sendable(id uint64) bool {
	if yes, known := h.loop.sendable(id); known {
		return yes
	}
	h.mu.Lock()
	gc := h.goConns[id]
	h.mu.Unlock()
	return gc != nil && gc.s.sendable.Load()
}

// Shutdown stops accepting, closes every connection with 1001 (Going
// Away), waits up to timeout for the close handshakes, drops what is left
// and stops the loop. Every connection's close event is published before
// Shutdown returns. It may be called more than once.
func (h *Hub) Shutdown(timeout time.Duration) {
	h.closeOnce.Do(func() {
		h.mu.Lock()
		h.shutdown = true
		lns := h.tlsLns
		h.tlsLns = map[uint32]*tlsListener{}
		gcs := make([]*goConn, 0, len(h.goConns))
		for _, gc := range h.goConns {
			gcs = append(gcs, gc)
		}
		h.mu.Unlock()
		h.stopBroker()
		for _, ln := range lns {
			ln.close()
		}
		for _, gc := range gcs {
			gc.shutdown()
		}
		h.loop.shutdown(timeout)
		waited := make(chan struct{})
		go func() { h.goWG.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(timeout):
			for _, gc := range gcs {
				gc.terminate()
			}
			<-waited
		}
		if h.opts.OnStopped != nil {
			h.opts.OnStopped()
		}
		h.loop.release()
	})
}

// addGoConn registers a goroutine connection (h.mu held) and wakes the
// loop so that its tick, which runs the connection's timers, is armed.
func (h *Hub) addGoConn(g *goConn) {
	h.goConns[g.id()] = g
	h.goCount.Add(1)
	h.loop.wake()
}

func (h *Hub) removeGoConn(id uint64) {
	h.mu.Lock()
	if _, ok := h.goConns[id]; ok {
		delete(h.goConns, id)
		h.goCount.Add(-1)
	}
	h.mu.Unlock()
}

// dispatch routes one host command to its connection. Commands for
// connections that are gone are dropped: their close event is on its way.
func (h *Hub) dispatch(r Record) {
	if h.topicCommand(r) {
		return
	}
	if h.loop.command(r) {
		return
	}
	h.mu.Lock()
	gc := h.goConns[r.Conn]
	h.mu.Unlock()
	if gc != nil {
		gc.command(r)
	}
}
