package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libws/libws/libws"
)

// goConn is a connection whose socket Go's runtime owns: TLS server
// connections and clients. It is a transport for its session, like an
// epoll connection: a reader goroutine feeds the session what the socket
// gives, a writer goroutine, started when there is output and ended when
// a tick finds it idle, writes what the session and the host queue, and
// the loop's tick runs its timers. Every decision (events, close
// ordering, limits) is the session's, under mu. An idle connection holds
// one goroutine and a small read buffer (see reader).
type goConn struct {
	h        *Hub
	listener uint32
	opts     Options

	mu      sync.Mutex
	s       session
	nc      net.Conn // nil until open
	out     []byte   // frames not yet taken by the writer
	writing int      // bytes the writer took and has not written yet
	gone    bool     // the socket is closed: nothing more happens
	shut    bool     // the write side is shut (stDraining, output flushed)
	resumed chan struct{}
	done    chan struct{} // closed when gone
	// writerOn says a writer goroutine runs, ready wakes it, and writers
	// counts writers for run, which returns once the last is gone. wrote
	// says it wrote since the last tick, which ends an idle writer
	// (retire): a busy connection keeps its writer, whose wake-up costs
	// less than a new goroutine, and an idle one holds none.
	writerOn bool
	wrote    bool
	retire   bool
	ready    chan struct{}
	writers  sync.WaitGroup
	// waiting says the reader waits in its small buffer; idled that the
	// tick interrupted that wait (a read deadline in the past) so that it
	// waits without a buffer (see idleReader).
	waiting atomic.Bool
	idled   atomic.Bool
	// buffered is out plus writing, readable without mu.
	buffered atomic.Int64
	// pending is the request the host was asked about (RequestEvents);
	// its answer, or the hub's own when late, goes once to answer.
	pending  *pendingRequest
	answer   chan Record
	answered bool

	// ev collects the events of one critical section; unlock publishes
	// them, in the order the sections ran (pubMu is taken before mu is
	// released), so a close event is always a connection's last.
	ev      []byte
	pubMu   sync.Mutex
	evSpare []byte
}

func newGoConn(h *Hub, id uint64, listener uint32, o *Options) *goConn {
	g := &goConn{h: h, listener: listener, opts: *o, ready: make(chan struct{}, 1), resumed: make(chan struct{}), done: make(chan struct{})}
	g.s.id = id
	g.s.start(time.Now(), &g.opts)
	return g
}

func (g *goConn) id() uint64 { return g.s.id }

// event and errorEvent make goConn the session's eventSink (mu held).
func (g *goConn) event(kind, opcode uint8, code uint16, id uint64, aux uint32, payload []byte) {
	g.ev = AppendRecord(g.ev, kind, opcode, code, id, aux, payload)
}

func (g *goConn) errorEvent(id uint64, code uint16, status int32, msg string) {
	g.ev = AppendError(g.ev, code, status, id, msg)
}

// unlock releases mu and publishes the events made while it was held.
func (g *goConn) unlock() {
	if len(g.ev) == 0 {
		g.mu.Unlock()
		return
	}
	g.pubMu.Lock()
	ev := g.ev
	g.ev, g.evSpare = g.evSpare[:0], nil
	g.mu.Unlock()
	g.h.host.Publish(ev)
	g.h.loop.published()
	if cap(ev) <= 1<<20 {
		g.evSpare = ev[:0]
	}
	g.pubMu.Unlock()
}

// setPaused stops or resumes the reader before its next read.
func (g *goConn) setPaused(paused bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.s.setPaused(paused, time.Now())
	g.syncReadingLocked()
}

// syncReadingLocked lets a reader waiting in waitResumed go on once the
// session reads again (mu held).
func (g *goConn) syncReadingLocked() {
	if g.s.reads() {
		close(g.resumed)
		g.resumed = make(chan struct{})
	}
}

// waitResumed blocks the reader while the host has it paused; it reports
// false when the connection ended meanwhile.
func (g *goConn) waitResumed() bool {
	for {
		g.mu.Lock()
		reads, resumed := g.s.reads(), g.resumed
		g.mu.Unlock()
		if reads {
			return true
		}
		select {
		case <-resumed:
		case <-g.done:
			return false
		}
	}
}

// hostCaughtUp waits while a BackloggedHost holds more than
// hostBacklogMax bytes of events; it reports false when done closed
// meanwhile. The wait polls: it happens only while the host falls behind.
func (h *Hub) hostCaughtUp(done <-chan struct{}) bool {
	for wait := time.Millisecond; h.hostBehind(); wait = min(2*wait, 20*time.Millisecond) {
		t := time.NewTimer(wait)
		select {
		case <-done:
			t.Stop()
			return false
		case <-t.C:
		}
	}
	return true
}

// dial connects a client. libws.Dial does the handshake on a connection
// that records what it reads, so that the bytes the server sent right
// behind its 101 response are fed to the session, not lost with the
// libws.Conn, which is not used further.
func (g *goConn) dial(rawURL string) {
	defer g.h.goWG.Done()
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.HandshakeTimeout)
	defer cancel()
	go func() {
		select {
		case <-g.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	nc, rest, resp, err := dialRecorded(ctx, rawURL, &g.opts)
	if err != nil {
		g.mu.Lock()
		if !g.gone { // else terminated, and its close event is out
			g.errorEvent(g.id(), refusedStatus(err), statusOf(err), err.Error())
			g.event(EventClose, 0, uint16(libws.StatusAbnormalClosure), g.id(), 0, nil)
			g.goneLocked()
		}
		g.unlock()
		return
	}
	path := "/"
	if resp.Request != nil {
		path = resp.Request.URL.RequestURI()
	}
	params := deflateAnswer(resp.Header.Values("Sec-Websocket-Extensions"))
	g.run(nc, rest, libws.RoleClient, resp.Header.Get("Sec-Websocket-Protocol"), path, resp.Header, params)
}

// recorder records what is read through it until told to stop.
type recorder struct {
	net.Conn
	rec []byte
}

func (r *recorder) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	r.rec = append(r.rec, b[:max(n, 0)]...)
	return n, err
}

// dialRecorded opens a client connection and returns its socket and the
// bytes read past the response head. TLS is done here, under the
// recorder, so that what is recorded is plaintext.
func dialRecorded(ctx context.Context, rawURL string, o *Options) (net.Conn, []byte, *http.Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, nil, &libws.HandshakeError{Reason: "invalid URL: " + err.Error()}
	}
	secure := u.Scheme == "wss"
	if secure {
		u.Scheme = "ws"
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), "443")
		}
	}
	var rec *recorder
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if secure {
			cfg := &tls.Config{}
			if o.TLS != nil {
				cfg = o.TLS.Clone()
			}
			if cfg.ServerName == "" {
				cfg.ServerName = u.Hostname()
			}
			tc := tls.Client(nc, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				nc.Close()
				return nil, err
			}
			nc = tc
		}
		rec = &recorder{Conn: nc}
		return rec, nil
	}
	popts := protocolOptions(o)
	_, resp, err := libws.Dial(ctx, u.String(), &libws.DialOptions{
		ConnOptions:  libws.ConnOptions{Options: popts, CloseTimeout: o.CloseTimeout},
		Header:       o.Header,
		Subprotocols: o.Subprotocols,
		Compression:  o.Compression,
		NetDial:      dialer,
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, nil, nil, err
	}
	end := bytes.Index(rec.rec, []byte("\r\n\r\n"))
	if end < 0 {
		rec.Conn.Close()
		return nil, nil, nil, &libws.HandshakeError{Reason: "response head not found"}
	}
	return rec.Conn, rec.rec[end+4:], resp, nil
}

// deflateAnswer reads the permessage-deflate parameters a server
// accepted; libws.Dial has checked them against the offer.
func deflateAnswer(values []string) *libws.DeflateParams {
	for _, v := range values {
		for _, ext := range strings.Split(v, ",") {
			parts := strings.Split(ext, ";")
			if strings.TrimSpace(parts[0]) != "permessage-deflate" {
				continue
			}
			var p libws.DeflateParams
			for _, param := range parts[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(param), "=")
				bits, _ := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
				switch strings.TrimSpace(k) {
				case "server_no_context_takeover":
					p.ServerNoContextTakeover = true
				case "client_no_context_takeover":
					p.ClientNoContextTakeover = true
				case "server_max_window_bits":
					p.ServerMaxWindowBits = bits
				case "client_max_window_bits":
					p.ClientMaxWindowBits = bits
				}
			}
			return &p
		}
	}
	return nil
}

// accept serves a TLS server connection: the opening handshake is read
// here, under the handshake deadline, as the loop reads a plain one.
func (g *goConn) accept(nc net.Conn) {
	defer g.h.goWG.Done()
	nc.SetDeadline(time.Now().Add(g.opts.HandshakeTimeout))
	var hs []byte
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		hs = append(hs, buf[:n]...)
		req, used, perr := libws.ParseRequest(hs)
		if perr != nil {
			nc.Write(refusal(perr))
			nc.Close()
			return
		}
		if req != nil {
			if _, secure := nc.(*tls.Conn); !secure && g.opts.StaticDir != "" && !isUpgrade(req) {
				serveStatic(nc, g.opts.StaticDir, req) // a plain listener of the goroutine transport
				return
			}
			up := upgradeOptions(&g.opts)
			resp, neg, herr := req.Accept(up)
			if herr == nil && g.opts.RequestEvents {
				g.awaitAnswer(nc, req, hs, used, up)
				return
			}
			if _, err := nc.Write(resp); err != nil || herr != nil {
				nc.Close()
				return
			}
			nc.SetDeadline(time.Time{})
			g.h.mu.Lock()
			if g.h.shutdown {
				g.h.mu.Unlock()
				nc.Close()
				return
			}
			g.h.addGoConn(g)
			g.h.mu.Unlock()
			g.run(nc, hs[used:], libws.RoleServer, neg.Subprotocol, req.RequestURI, req.Header, neg.Compression)
			return
		}
		if err != nil {
			nc.Close()
			return
		}
	}
}

// awaitAnswer hands a request to the host and carries out its answer
// (see request.go). The session's handshake deadline, run by the loop's
// tick, bounds the wait.
func (g *goConn) awaitAnswer(nc net.Conn, req *libws.Request, hs []byte, used int, up *libws.UpgradeOptions) {
	nc.SetDeadline(time.Time{})
	g.h.mu.Lock()
	if g.h.shutdown {
		g.h.mu.Unlock()
		nc.Close()
		return
	}
	g.h.addGoConn(g) // commands reach it from now on
	g.h.mu.Unlock()
	g.mu.Lock()
	if g.gone {
		g.unlock()
		nc.Close()
		return
	}
	g.pending = &pendingRequest{req: req, used: used, upgrade: up}
	g.answer = make(chan Record, 1)
	g.s.requested = true
	requestEvent(g, g.id(), g.listener, nc.RemoteAddr().String(), req)
	g.unlock()
	var r Record
	select {
	case r = <-g.answer:
	case <-g.done: // terminated: its close event is out
		nc.Close()
		return
	}
	switch r.Kind {
	case CmdAccept:
		resp, neg, err := g.pending.accept(r)
		if err != nil {
			g.refuse(nc, answerFailed(), EInval, err.Error())
			return
		}
		nc.SetWriteDeadline(time.Now().Add(g.opts.HandshakeTimeout))
		if _, err := nc.Write(resp); err != nil {
			g.mu.Lock()
			g.lost(err)
			g.unlock()
			nc.Close()
			return
		}
		nc.SetWriteDeadline(time.Time{})
		g.run(nc, hs[used:], libws.RoleServer, neg.Subprotocol, req.RequestURI, req.Header, neg.Compression)
	case CmdReject:
		resp, err := rejection(r)
		if err != nil {
			g.refuse(nc, answerFailed(), EInval, err.Error())
			return
		}
		g.refuse(nc, resp, 0, "rejected")
	default: // cmdLate
		g.refuse(nc, answerLate(), ETimedOut, "no answer to the request within the handshake timeout")
	}
}

// refuse answers a pending request with an HTTP response and ends the
// connection; a status reports why to the host first.
func (g *goConn) refuse(nc net.Conn, resp []byte, status int32, why string) {
	g.mu.Lock()
	if !g.gone {
		if status != 0 {
			g.errorEvent(g.id(), 0, status, why)
		}
		g.event(EventClose, 0, uint16(libws.StatusAbnormalClosure), g.id(), 0, []byte(why))
		g.goneLocked()
	}
	g.unlock()
	// Bounded: a peer that does not read cannot hold this goroutine.
	nc.SetWriteDeadline(time.Now().Add(g.opts.CloseTimeout))
	nc.Write(resp)
	shutWrite(nc)
	nc.Close()
}

// shutWrite ends our side of the stream: over TLS the close_notify alert,
// then the TCP FIN in every case. A peer that waits for the server to
// close (RFC 6455 7.1.1) takes only the FIN for that, and would otherwise
// wait until our linger deadline ends the connection.
func shutWrite(nc net.Conn) {
	if tc, ok := nc.(*tls.Conn); ok {
		tc.CloseWrite()
		nc = tc.NetConn()
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// answerLocked hands the host's (or the hub's) answer to a pending
// request to awaitAnswer, once (mu held).
func (g *goConn) answerLocked(r Record) {
	if g.pending == nil || g.answered {
		return
	}
	g.answered = true
	r.Payload = append([]byte(nil), r.Payload...) // the host's buffer is reused
	g.answer <- r
}

// run serves an open connection: a reader goroutine of its own reads and
// writers write. The reader is a new goroutine so that an idle connection
// does not keep the stack the TLS and HTTP handshakes grew.
func (g *goConn) run(nc net.Conn, rest []byte, role libws.Role, sub, path string, header map[string][]string, params *libws.DeflateParams) {
	g.mu.Lock()
	if g.gone {
		// Terminated (shutdown) while the handshake ran.
		g.unlock()
		nc.Close()
		return
	}
	g.nc = nc
	g.s.openProtocol(role, params)
	g.s.input(time.Now())
	g.ev = appendOpen(g.ev, g.id(), g.listener, nc.RemoteAddr().String(), path, sub, header)
	g.unlock()
	g.h.goWG.Add(1) // the caller's count holds it above 0
	go func() {
		defer g.h.goWG.Done()
		g.reader(rest)
		g.writers.Wait() // none starts once the reader is done: the connection is gone
	}()
}

// The reader waits for input in a buffer of readSmall bytes, which it
// gives up once the connection is idle (see idleReader). A read that fills it goes on in a
// buffer of readBig bytes from readPool, as long as reads fill what they
// are given, so that a busy connection reads in large pieces; the large
// buffer goes back once a read leaves part of it empty (the socket is
// drained) and its bytes are parsed. readSmall holds a 1 KiB message
// with its frame and TLS overheads in one read.
const (
	readSmall = 2 << 10
	readBig   = 32 << 10
)

var readPool = sync.Pool{New: func() any { b := make([]byte, readBig); return &b }}

func (g *goConn) reader(rest []byte) {
	small := make([]byte, readSmall)
	var big *[]byte // while reads fill their buffer
	drained := false
	defer func() {
		if big != nil {
			readPool.Put(big)
		}
	}()
	data := rest
	for {
		if len(data) > 0 && !g.waitResumed() {
			return // bytes of a read under way when the host paused wait unparsed
		}
		g.mu.Lock()
		if len(data) > 0 && g.s.state != stDraining {
			g.s.input(time.Now())
			end := g.s.feed(data, g)
			g.flushProtocol()
			if end == fedDone {
				g.finish()
			}
		}
		g.unlock()
		if drained { // parsed: the protocol copied what it keeps
			readPool.Put(big)
			big, drained = nil, false
		}
		if !g.waitResumed() || !g.h.hostCaughtUp(g.done) {
			return
		}
		if small == nil {
			small = make([]byte, readSmall)
		}
		buf := small
		if big != nil {
			buf = *big
		}
		g.waiting.Store(big == nil)
		n, err := g.nc.Read(buf)
		g.waiting.Store(false)
		if err != nil && g.idled.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
			// The tick's interrupt: TLS holds no whole record either
			// (it would have returned it), so the socket is waited on.
			g.nc.SetReadDeadline(time.Time{})
			g.idled.Store(false)
			small, data = nil, nil
			waitReadable(g.nc)
			continue
		}
		data = buf[:max(n, 0)]
		if n == len(buf) && big == nil {
			big = readPool.Get().(*[]byte)
		} else if n < len(buf) && big != nil {
			drained = true
		}
		if err != nil {
			g.mu.Lock()
			if len(data) > 0 && g.s.state != stDraining && g.s.feed(data, g) == fedDone {
				g.finish() // its last events are out; nothing can be written now
			}
			g.lost(err)
			g.unlock()
			return
		}
	}
}

// lost ends a connection whose socket failed or closed (mu held).
func (g *goConn) lost(err error) {
	if g.gone {
		return
	}
	if g.s.hostKnows() {
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			g.errorEvent(g.id(), 0, statusOf(err), err.Error())
		}
		g.event(EventClose, 0, uint16(libws.StatusAbnormalClosure), g.id(), 0, nil)
	}
	g.goneLocked()
}

// closeNow closes a connection's socket at once. A tls.Conn's Close would
// first send a close_notify alert, which blocks (up to 5 s) on a peer that
// does not read, and it is called with mu held, which the loop's tick
// takes too; the WebSocket close handshake has done that alert's job.
func closeNow(nc net.Conn) {
	if tc, ok := nc.(*tls.Conn); ok {
		tc.NetConn().Close()
		return
	}
	nc.Close()
}

// goneLocked closes the socket and forgets the connection (mu held).
func (g *goConn) goneLocked() {
	if g.gone {
		return
	}
	g.gone = true
	g.s.state = stDraining
	g.s.sendable.Store(false)
	if g.nc != nil {
		closeNow(g.nc)
	}
	close(g.done)
	n := g.buffered.Swap(0)
	g.h.addBuffered(-n)
	g.out = nil
	g.h.removeGoConn(g.id())
	g.h.goConnEnded(g.id())
}

// writer writes the output, shuts the write side once a finished
// connection's output is flushed, and waits for more until the tick
// retires it.
func (g *goConn) writer() {
	defer g.writers.Done()
	var chunk []byte
	for {
		g.mu.Lock()
		for !g.gone && len(g.out) == 0 {
			if g.s.state == stDraining && !g.shut {
				// Flushed: the peer reads our close, then EOF. A TLS
				// close_notify may block on a peer that does not read, so
				// not under mu.
				g.shut = true
				g.mu.Unlock()
				shutWrite(g.nc)
				g.mu.Lock()
				continue
			}
			if g.retire {
				g.retire, g.writerOn = false, false
				if cap(g.out) > readSmall {
					g.out = nil // an idle connection keeps no large buffer
				}
				g.mu.Unlock()
				return
			}
			g.mu.Unlock()
			select {
			case <-g.ready:
			case <-g.done:
			}
			g.mu.Lock()
		}
		if g.gone {
			g.writerOn = false
			g.mu.Unlock()
			return
		}
		chunk, g.out = g.out, chunk[:0]
		g.writing = len(chunk)
		g.wrote = true
		g.mu.Unlock()
		_, err := g.nc.Write(chunk)
		g.mu.Lock()
		g.writing = 0
		g.account(-int64(len(chunk)))
		if err != nil {
			g.lost(err)
		}
		g.unlock()
		if cap(chunk) > 1<<20 {
			chunk = nil
		}
	}
}

// wakeWriter has the output written (mu held): it wakes the writer, or
// starts one. Not before the connection is open (nothing is queued then)
// nor once it is gone.
func (g *goConn) wakeWriter() {
	if g.writerOn {
		g.retire = false
		select {
		case g.ready <- struct{}{}:
		default:
		}
		return
	}
	if g.gone || g.nc == nil {
		return
	}
	g.writerOn = true
	g.writers.Add(1)
	go g.writer()
}

// idleReader has a reader that waits in its buffer, with no input for
// readIdleAfter, wait without it (mu held): a read deadline in the past
// ends its read (a timeout is no error for crypto/tls, which goes on
// after it), and it waits until the socket is readable, holding nothing,
// then reads in a new buffer. A busy connection never pays for it.
func (g *goConn) idleReader(now time.Time) {
	if canWaitReadable && g.waiting.Load() && !g.idled.Load() && now.Sub(g.s.lastInput) > readIdleAfter {
		g.idled.Store(true)
		g.nc.SetReadDeadline(time.Unix(1, 0))
	}
}

// readIdleAfter is how long a reader keeps its buffer with no input.
const readIdleAfter = 200 * time.Millisecond

// retireWriter ends a writer that wrote nothing since the last tick
// (mu held).
func (g *goConn) retireWriter() {
	if g.writerOn && !g.wrote && g.writing == 0 && len(g.out) == 0 {
		g.retire = true
		select {
		case g.ready <- struct{}{}:
		default:
		}
	}
	g.wrote = false
}

// flushProtocol queues what the protocol queued itself (mu held).
func (g *goConn) flushProtocol() {
	if g.s.p == nil || g.gone {
		return
	}
	if out := g.s.p.Output(); len(out) > 0 {
		g.out = append(g.out, out...)
		g.s.p.Sent(len(out))
		g.account(int64(len(out)))
		g.wakeWriter()
	}
}

// account tracks unsent bytes (mu held): backpressure, MaxBuffered and the
// hub-wide total, as for an epoll connection.
func (g *goConn) account(delta int64) {
	if g.gone || delta == 0 {
		return
	}
	n := g.buffered.Add(delta)
	g.h.addBuffered(delta)
	switch g.s.pressure(int(n)) {
	case pressureOver:
		g.failBufferedLocked("send buffer limit reached: peer is not reading")
		return
	case pressureHigh:
		g.event(EventBackpressure, 0, 0, g.id(), saturate32(n), nil)
	case pressureLow:
		g.event(EventDrain, 0, 0, g.id(), saturate32(n), nil)
		g.syncReadingLocked()
	}
	if delta > 0 && g.h.overTotal() {
		g.h.loop.enforceTotalSoon()
	}
}

// failBuffered fails the connection with 1008 for holding too many unsent
// bytes. Like an epoll connection's, it is dropped without a close frame:
// the peer is not reading, so the frame would not reach it.
func (g *goConn) failBuffered(why string) {
	g.mu.Lock()
	g.failBufferedLocked(why)
	g.unlock()
}

func (g *goConn) failBufferedLocked(why string) {
	if g.gone {
		return
	}
	g.s.failBuffered(why, g)
	g.goneLocked()
}

// finish ends the connection for the host (mu held): our output is
// flushed, the write side shut, and the peer's last bytes read to EOF or
// until the linger deadline.
func (g *goConn) finish() {
	g.s.to(stDraining, time.Now())
	g.h.goConnEnded(g.id())
	g.s.paused = false
	close(g.resumed)
	g.resumed = make(chan struct{})
	g.wakeWriter()
}

// answerClose sends the close frame that waited for the host and ends the
// connection (mu held).
func (g *goConn) answerClose(code uint16, reason string) {
	if held := g.s.answer(code, reason); len(held) > 0 {
		g.out = append(g.out, held...)
		g.account(int64(len(held)))
	}
	g.flushProtocol()
	g.finish()
}

// command carries out a host command.
func (g *goConn) command(r Record) {
	switch r.Kind {
	case CmdPause, CmdResume:
		g.setPaused(r.Kind == CmdPause)
		return
	case CmdClose:
		g.setPaused(false) // the peer's close reply must be read
	}
	g.mu.Lock()
	defer g.unlock()
	if g.gone {
		return
	}
	if r.Kind == CmdAccept || r.Kind == CmdReject {
		g.answerLocked(r)
		return
	}
	if g.s.p == nil {
		// Still dialing or awaiting an answer: only ending it means anything.
		if r.Kind == CmdClose || r.Kind == CmdTerminate {
			g.terminateLocked()
		}
		return
	}
	switch r.Kind {
	case CmdSend:
		g.send(libws.Opcode(r.Opcode), r.Payload)
	case CmdClose:
		if g.s.awaitsAck() {
			g.answerClose(r.Code, string(r.Payload))
		} else if err := g.s.close(r.Code, string(r.Payload)); err != nil {
			g.errorEvent(g.id(), 0, EInval, err.Error())
		} else {
			g.flushProtocol()
			g.syncReadingLocked() // closing reads even while backed up
		}
	case CmdTerminate:
		g.terminateLocked()
	case CmdCloseAck:
		if g.s.ackAnswers() {
			g.answerClose(0, "")
		}
	}
}

// send queues a frame (mu held).
func (g *goConn) send(op libws.Opcode, payload []byte) {
	if g.s.state == stDraining {
		return
	}
	before := len(g.out)
	var err error
	if g.s.state == stFailed {
		g.out, err = g.s.appendUnchecked(g.out, op, payload)
	} else {
		g.out, err = g.s.p.AppendFrame(g.out, true, op, payload)
	}
	if err != nil {
		g.errorEvent(g.id(), 0, sendStatus(err), err.Error())
		return
	}
	g.account(int64(len(g.out) - before))
	g.flushSoon()
}

// terminateLocked drops the connection at once (mu held).
func (g *goConn) terminateLocked() {
	if g.s.hostKnows() || g.s.p == nil {
		g.event(EventClose, 0, uint16(libws.StatusAbnormalClosure), g.id(), 0, []byte("terminated"))
	}
	g.goneLocked()
}

// terminate drops the connection (shutdown past its timeout).
func (g *goConn) terminate() {
	g.mu.Lock()
	g.terminateLocked()
	g.unlock()
}

// shutdown starts the close handshake of a hub going away: a close the
// peer started is answered now, others get 1001.
func (g *goConn) shutdown() {
	g.mu.Lock()
	defer g.unlock()
	switch {
	case g.gone:
	case g.s.p == nil:
		g.terminateLocked()
	case g.s.awaitsAck():
		g.answerClose(0, "")
	case g.s.state == stOpen:
		if g.s.close(uint16(libws.StatusGoingAway), "server shutting down") == nil {
			g.flushProtocol()
		}
	}
}

// tick runs the session's timers (the loop calls it).
func (g *goConn) tick(now time.Time) {
	g.mu.Lock()
	defer g.unlock()
	if g.gone {
		return
	}
	g.retireWriter()
	g.idleReader(now)
	switch g.s.due(now) {
	case dueDrop:
		g.goneLocked()
	case dueRefuse:
		g.answerLocked(Record{Kind: cmdLate})
	case dueAnswer:
		g.answerClose(0, "")
	case dueCloseGone:
		g.s.closeTimedOut(g)
		g.goneLocked()
	case dueIdle:
		g.fail(uint16(libws.StatusPolicyViolation), ETimedOut, "idle timeout")
	case duePing:
		g.send(libws.OpPing, g.s.ping[:])
	case dueKeepalive:
		g.fail(uint16(libws.StatusInternalError), ETimedOut, "keepalive ping timeout")
	}
}

// fail closes the connection with a close frame of our own making and
// does not wait for the reply (mu held).
func (g *goConn) fail(code uint16, status int32, reason string) {
	g.s.fail(code, status, reason, g)
	g.flushProtocol()
	g.finish()
}

// tlsListener accepts TLS connections on a goroutine; each becomes a goConn.
type tlsListener struct {
	ln net.Listener
}

func (t *tlsListener) close() { t.ln.Close() }

func (h *Hub) listenTLS(id uint32, addr string, o *Options) (int, error) {
	var ln net.Listener
	var err error
	if o.TLS != nil {
		ln, err = listenTLS(addr, o)
	} else {
		ln, err = listenConfig(o).Listen(context.Background(), "tcp", addr) // the goroutine transport's plain listener
	}
	if err != nil {
		return 0, err
	}
	h.mu.Lock()
	h.tlsLns[id] = &tlsListener{ln: ln}
	h.goWG.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.goWG.Done()
		var rest time.Duration
		for {
			nc, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// Out of descriptors, most likely: the connection waits in
				// the backlog while descriptors are freed.
				rest = min(max(2*rest, 5*time.Millisecond), time.Second)
				time.Sleep(rest)
				continue
			}
			rest = 0
			h.mu.Lock()
			if h.shutdown {
				h.mu.Unlock()
				nc.Close()
				return
			}
			gc := newGoConn(h, h.newID(), id, o)
			h.goWG.Add(1)
			h.mu.Unlock()
			go gc.accept(nc)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
