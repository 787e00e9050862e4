package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libws/libws/libws"
)

// goConn is a connection served by goroutines on a libws.Conn: clients and
// TLS server connections. A reader goroutine publishes its events; a writer
// goroutine drains a queue, so host commands never block the loop. Its
// session (under mu) is driven like an epoll connection's: the loop's tick
// runs its idle and ping timers, and its queued bytes count against
// MaxBuffered and the hub-wide MaxTotalBuffered.
type goConn struct {
	h        *Hub
	id       uint64
	listener uint32
	opts     Options

	mu      sync.Mutex
	s       session
	c       *libws.Conn
	queue   []Record
	ready   chan struct{}
	done    chan struct{}
	dead    bool
	closing bool          // we sent the first close frame
	acked   chan struct{} // closed when the host acknowledged our close event
	ackOnce sync.Once
	resumed chan struct{} // closed and replaced when a pause ends
	// buffered is the payload bytes queued for the writer; dropped says
	// they were written off (the connection failed), so the writer's
	// accounting of the ones it still holds is void.
	buffered atomic.Int64
	dropped  bool

	pubMu sync.Mutex // the reader, the writer and the host's thread publish
	ev    []byte
}

func newGoConn(h *Hub, id uint64, listener uint32, o *Options) *goConn {
	g := &goConn{h: h, id: id, listener: listener, opts: *o, ready: make(chan struct{}, 1), resumed: make(chan struct{}), done: make(chan struct{}), acked: make(chan struct{})}
	g.s.start(time.Now(), &g.opts)
	return g
}

// connOptions are the Conn settings; the close reply is ours to send (see
// serve), not the Conn's, so that it can wait for the host's replies.
func (g *goConn) connOptions() libws.ConnOptions {
	return libws.ConnOptions{Options: protocolOptions(&g.opts), CloseTimeout: g.opts.CloseTimeout}
}

func (g *goConn) publish(kind, opcode uint8, code uint16, aux uint32, payload ...[]byte) {
	g.pubMu.Lock()
	g.ev = AppendRecord(g.ev[:0], kind, opcode, code, g.id, aux, payload...)
	g.h.host.Publish(g.ev)
	g.pubMu.Unlock()
}

func (g *goConn) publishError(code uint16, status int32, msg string) {
	g.pubMu.Lock()
	g.ev = AppendError(g.ev[:0], code, status, g.id, msg)
	g.h.host.Publish(g.ev)
	g.pubMu.Unlock()
}

// setPaused stops or resumes the reader before its next read.
func (g *goConn) setPaused(paused bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.s.paused == paused {
		return
	}
	g.s.paused = paused
	if !paused {
		close(g.resumed)
		g.resumed = make(chan struct{})
	}
}

// waitResumed blocks the reader while the host has it paused; it reports
// false when the connection ended meanwhile.
func (g *goConn) waitResumed() bool {
	for {
		g.mu.Lock()
		paused, resumed := g.s.paused, g.resumed
		g.mu.Unlock()
		if !paused {
			return true
		}
		select {
		case <-resumed:
		case <-g.done:
			return false
		}
	}
}

func (g *goConn) dial(url string) {
	defer g.h.goWG.Done()
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.HandshakeTimeout)
	go func() {
		select {
		case <-g.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	c, resp, err := libws.Dial(ctx, url, &libws.DialOptions{
		ConnOptions:  g.connOptions(),
		Header:       g.opts.Header,
		Subprotocols: g.opts.Subprotocols,
		TLSConfig:    g.opts.TLS,
		Compression:  g.opts.Compression,
	})
	cancel()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		g.publishError(0, statusOf(err), err.Error())
		g.finish(uint16(libws.StatusAbnormalClosure), "")
		return
	}
	path := "/"
	if resp != nil && resp.Request != nil {
		path = resp.Request.URL.RequestURI()
	}
	g.serve(c, c.RemoteAddr().String(), path, resp.Header)
}

// serve runs an open connection: the caller's goroutine reads, a new one writes.
func (g *goConn) serve(c *libws.Conn, peer, path string, header map[string][]string) {
	g.mu.Lock()
	if g.dead {
		g.mu.Unlock()
		c.CloseNow()
		g.finish(uint16(libws.StatusAbnormalClosure), "")
		return
	}
	g.c = c
	g.s.opened()
	g.s.input(time.Now())
	g.mu.Unlock()
	g.pubMu.Lock()
	g.ev = appendOpen(g.ev[:0], g.id, g.listener, peer, path, c.Subprotocol(), header)
	g.h.host.Publish(g.ev)
	g.pubMu.Unlock()
	writerDone := make(chan struct{})
	go g.writer(c, writerDone)
	code, reason := g.reader(c)
	g.mu.Lock()
	peerClosed := !g.closing && code != uint16(libws.StatusAbnormalClosure)
	if peerClosed {
		g.s.to(stPeerClosed, time.Now())
	}
	g.mu.Unlock()
	if peerClosed {
		// The peer closed first: tell the host now, answer once the host has
		// acted on it (its replies to earlier messages go out first).
		g.publish(EventClose, 0, code, 0, []byte(reason))
		timer := time.NewTimer(g.opts.CloseTimeout)
		select {
		case <-g.acked:
		case <-timer.C:
		}
		timer.Stop()
		if !g.opts.DisableAutoClose {
			echo := libws.StatusCode(code)
			if echo == libws.StatusNoStatusReceived {
				echo = 0
			}
			if echo == 0 {
				reason = ""
			}
			c.Close(echo, reason)
		}
	}
	c.CloseNow()
	g.mu.Lock()
	g.dead = true
	g.s.state = stDraining
	g.mu.Unlock()
	close(g.done)
	<-writerDone
	g.drop()
	if peerClosed {
		g.h.removeGoConn(g.id)
		return
	}
	g.finish(code, reason)
}

func (g *goConn) reader(c *libws.Conn) (uint16, string) {
	for {
		if !g.waitResumed() {
			return uint16(libws.StatusAbnormalClosure), ""
		}
		f, err := c.ReadNext()
		g.mu.Lock()
		g.s.input(time.Now())
		g.mu.Unlock()
		if err != nil {
			var ce *libws.CloseError
			if errors.As(err, &ce) {
				return uint16(ce.Code), ce.Reason
			}
			var pe *libws.ProtocolError
			code := uint16(0)
			if errors.As(err, &pe) {
				code = uint16(pe.Code)
			}
			g.publishError(code, statusOf(err), err.Error())
			return uint16(libws.StatusAbnormalClosure), ""
		}
		switch f.OpCode {
		case libws.OpPing:
			g.publish(EventPing, uint8(f.OpCode), 0, 0, f.Payload)
		case libws.OpPong:
			g.publish(EventPong, uint8(f.OpCode), 0, 0, f.Payload)
		default:
			g.publish(EventMessage, uint8(f.OpCode), 0, 0, f.Payload)
		}
	}
}

func (g *goConn) writer(c *libws.Conn, writerDone chan struct{}) {
	defer close(writerDone)
	for {
		select {
		case <-g.ready:
		case <-g.done:
			return
		}
		g.mu.Lock()
		q := g.queue
		g.queue = nil
		g.mu.Unlock()
		for _, r := range q {
			var err error
			switch r.Kind {
			case CmdSend:
				err = c.WriteFrame(true, libws.Opcode(r.Opcode), r.Payload)
			case CmdClose:
				g.mu.Lock()
				g.closing = true
				if g.s.state == stOpen {
					g.s.to(stClosing, time.Now())
				}
				g.mu.Unlock()
				err = c.Close(libws.StatusCode(r.Code), string(r.Payload))
			case CmdTerminate:
				c.CloseNow()
			case CmdCloseAck:
				g.ack()
			}
			if err != nil && !errors.Is(err, libws.ErrClosed) && !errors.Is(err, net.ErrClosed) {
				status := statusOf(err)
				if r.Kind == CmdClose {
					status = EInval
				}
				g.publishError(0, status, err.Error())
			}
			g.account(-int64(len(r.Payload)))
		}
	}
}

// enqueue queues a host command; the payload is copied because the host's
// command buffer is reused.
func (g *goConn) enqueue(kind, opcode uint8, code uint16, payload []byte) {
	switch kind {
	case CmdPause, CmdResume:
		g.setPaused(kind == CmdPause)
		return
	case CmdClose:
		g.setPaused(false) // the peer's close reply must be read
	}
	g.mu.Lock()
	if g.dead || g.dropped {
		g.mu.Unlock()
		return
	}
	g.queue = append(g.queue, Record{Kind: kind, Opcode: opcode, Code: code, Conn: g.id, Payload: append([]byte(nil), payload...)})
	g.mu.Unlock()
	g.account(int64(len(payload)))
	select {
	case g.ready <- struct{}{}:
	default:
	}
}

// account tracks queued bytes and reports high-water crossings; past
// MaxBuffered the connection fails with 1008 instead of growing without
// bound, as an epoll connection does.
func (g *goConn) account(delta int64) {
	g.mu.Lock()
	if g.dropped {
		g.mu.Unlock()
		return
	}
	n := g.buffered.Add(delta)
	g.h.addBuffered(delta)
	action := g.s.pressure(int(n))
	g.mu.Unlock()
	switch action {
	case pressureOver:
		g.failBuffered("send buffer limit reached: peer is not reading")
	case pressureHigh:
		g.publish(EventBackpressure, 0, 0, saturate32(n))
	case pressureLow:
		g.publish(EventDrain, 0, 0, saturate32(n))
	}
	if delta > 0 && g.h.overTotal() {
		g.h.loop.enforceTotalSoon()
	}
}

// drop writes off the queued bytes: the connection is gone or failed.
func (g *goConn) drop() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dropped {
		return 0
	}
	g.dropped = true
	g.queue = nil
	n := g.buffered.Swap(0)
	g.h.addBuffered(-n)
	return n
}

// failBuffered fails the connection with 1008 for holding too many unsent
// bytes. Like an epoll connection's, it is dropped without a close frame:
// the peer is not reading, so the frame would not reach it.
func (g *goConn) failBuffered(why string) {
	if g.drop() == 0 {
		return
	}
	g.publishError(uint16(libws.StatusPolicyViolation), EPolicy, why)
	g.mu.Lock()
	c := g.c
	g.mu.Unlock()
	if c != nil {
		c.CloseNow()
	}
}

// tick runs the session's idle and ping timers (the loop calls it). The
// close deadlines are the libws.Conn's and serve's own.
func (g *goConn) tick(now time.Time) {
	g.mu.Lock()
	due := dueNone
	if g.c != nil && !g.dead {
		due = g.s.due(now)
	}
	g.mu.Unlock()
	switch due {
	case dueIdle:
		g.publishError(uint16(libws.StatusPolicyViolation), ETimedOut, "idle timeout")
		g.enqueue(CmdClose, 0, uint16(libws.StatusPolicyViolation), []byte("idle timeout"))
	case duePing:
		g.enqueue(CmdSend, uint8(libws.OpPing), 0, nil)
	}
}

func (g *goConn) ack() { g.ackOnce.Do(func() { close(g.acked) }) }

// terminate drops the connection at once (shutdown past its timeout).
func (g *goConn) terminate() {
	g.ack()
	g.mu.Lock()
	c := g.c
	g.dead = true
	g.mu.Unlock()
	if c != nil {
		c.CloseNow()
	}
}

func (g *goConn) finish(code uint16, reason string) {
	g.publish(EventClose, 0, code, 0, []byte(reason))
	g.h.removeGoConn(g.id)
}

// tlsListener accepts TLS connections on a goroutine; each becomes a goConn.
type tlsListener struct {
	ln net.Listener
}

func (t *tlsListener) close() { t.ln.Close() }

func (h *Hub) listenTLS(id uint32, addr string, o *Options) (int, error) {
	ln, err := tls.Listen("tcp", addr, o.TLS)
	if err != nil {
		return 0, err
	}
	h.mu.Lock()
	h.tlsLns[id] = &tlsListener{ln: ln}
	h.goWG.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.goWG.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
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

func (g *goConn) accept(nc net.Conn) {
	defer g.h.goWG.Done()
	nc.SetDeadline(time.Now().Add(g.opts.HandshakeTimeout))
	c, req, err := libws.UpgradeConn(nc, &libws.UpgradeOptions{
		ConnOptions:  g.connOptions(),
		Subprotocols: g.opts.Subprotocols,
		CheckOrigin:  g.opts.CheckOrigin,
		Header:       g.opts.Header,
		Compression:  g.opts.Compression,
	})
	if err != nil {
		return
	}
	nc.SetDeadline(time.Time{})
	g.h.mu.Lock()
	g.h.addGoConn(g)
	g.h.mu.Unlock()
	g.serve(c, nc.RemoteAddr().String(), req.RequestURI, req.Header)
}
