//go:build (linux || darwin || freebsd || netbsd || openbsd || dragonfly) && !hubgoroutine

package hub

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/libws/libws/libws"
)

// conn is a plain-TCP server connection owned by the loop goroutine. While
// idle it holds no buffer: reads go through the loop's shared buffer and
// only an unfinished frame or handshake keeps bytes of its own.
type conn struct {
	session
	fd       int
	listener uint32
	writable bool // output readiness is watched
	armedIn  bool // input readiness is watched
	hs       []byte
	// out[outOff:] is what the socket has not taken yet. A partial write
	// advances outOff instead of moving the rest to the front, so draining
	// a backlog in small writes costs O(bytes) (see compactOut).
	out    []byte
	outOff int
	peer   string
	// pending is the request the host was asked about (RequestEvents).
	pending *pendingRequest
}

type listener struct {
	id   uint32
	fd   int
	opts Options
	// retryAt, when set, is when accepting resumes after the process ran
	// out of descriptors (see backOff).
	retryAt time.Time
}

// acceptBackoff is how long a listener rests after accept failed for want
// of descriptors: its pending connection keeps it readable, so watching it
// meanwhile would wake the loop at once, for as long as the limit holds.
const acceptBackoff = 100 * time.Millisecond

type loop struct {
	h    *Hub
	poll *poller
	// wakefd is what hosts write to (Hub.WakeFD), wakeIn what the loop
	// watches for it: one eventfd on Linux, a pipe's ends elsewhere.
	wakefd int
	wakeIn int
	// notifyfd is an InlineHost's wake-up fd, watched so that a host
	// waiting on the poller's fd also sees events published by goroutines;
	// -1 if none.
	notifyfd int
	inline   bool
	// hostBehind: this turn reads no connection (see iterate).
	hostBehind bool
	quiet      InlineHost // the host, when inline and able to take events quietly

	// pollMu admits one waiter in the poller at a time; it is held across
	// the wait, runMu is not.
	pollMu sync.Mutex
	events []pollEvent

	// runMu guards everything below: the loop's state is touched by
	// whichever thread runs an iteration, a host command or a control call.
	runMu     sync.Mutex
	stopped   bool
	timerOn   bool
	fds       []*conn
	listeners map[int]*listener
	rbuf      []byte
	iov       [2]unix.Iovec // writev's vector, kept so that a call allocates nothing
	wbuf      []byte
	ev        []byte
	// runBuf holds the frames of consecutive small sends of one command batch
	// to one connection, runConn, so that they leave in one write: a host
	// echoing several messages of a connection at once makes one system call
	// for them, and its peer one read (see dispatchAll).
	runBuf   []byte
	runConn  *conn
	batching bool
	// direct is the host's own buffer while a turn of RunInto serves
	// sockets: events go there while they fit and none went to ev first.
	direct   []byte
	taker    DirectHost // the host, when it can take events in place
	draining []*conn
	stopping bool
	stopAt   time.Time
	resting  int // listeners backing off (see backOff)
	// enforce asks the loop to hold the hub-wide buffered bytes under the
	// cap (a goroutine connection went over it; see enforceTotal).
	enforce atomic.Bool
	// turns counts the loop's wake-ups, so tests can tell a loop that
	// waits from one that spins.
	turns uint64
	// now is when the turn's wait ended: the time of every read it serves
	// (one clock read per turn, not per message).
	now time.Time

	// byID is written under runMu and mu; BufferedAmount reads it under mu
	// alone, so that asking about a goroutine connection does not wait for
	// the loop.
	mu   sync.Mutex
	byID map[uint64]*conn

	done chan struct{}
}

func newLoop(h *Hub) (*loop, error) {
	l := &loop{
		h: h, wakefd: -1, wakeIn: -1, notifyfd: -1,
		inline:    h.opts.Inline,
		events:    make([]pollEvent, 512),
		listeners: map[int]*listener{},
		rbuf:      make([]byte, 64<<10),
		byID:      map[uint64]*conn{},
		done:      make(chan struct{}),
	}
	var err error
	if l.poll, err = newPoller(); err == nil {
		l.wakeIn, l.wakefd, err = newWaker()
	}
	watch := []int{l.wakeIn}
	if ih, ok := h.host.(InlineHost); ok && l.inline {
		l.quiet = ih
		l.taker, _ = ih.(DirectHost)
		l.notifyfd = ih.NotifyFD()
		watch = append(watch, l.notifyfd)
	}
	for _, fd := range watch {
		if err == nil {
			err = l.poll.add(fd, true, false)
		}
	}
	if err != nil {
		l.closeFDs()
		return nil, err
	}
	return l, nil
}

func (l *loop) closeFDs() {
	if l.poll != nil {
		l.poll.close()
	}
	closeWaker(l.wakeIn, l.wakefd)
}

func (l *loop) wake() {
	var one = [8]byte{1}
	unix.Write(l.wakefd, one[:])
}

// do runs f with the loop's state to itself. A loop waiting for
// readiness does not hold it, so f runs at once.
func (l *loop) do(f func()) {
	l.runMu.Lock()
	defer l.runMu.Unlock()
	f()
}

// run is the loop goroutine of a hub that is not inline.
func (l *loop) run() { l.runToEnd(-1) }

// runToEnd turns the loop, waiting up to timeout ms a turn, until it stops.
func (l *loop) runToEnd(timeout int) {
	for {
		if stopped, _ := l.iterate(timeout, nil); stopped {
			return
		}
	}
}

// iterate runs one turn of the loop: it carries out queued commands, waits
// up to timeout milliseconds (-1: no limit) for readiness, serves what is
// ready and publishes the events that came of it. With a dst (a
// DirectHost's buffer, see RunInto) the events of serving are written
// there as far as they fit; n is how many bytes of dst the host takes. It
// reports whether the loop has stopped.
func (l *loop) iterate(timeout int, dst []byte) (stopped bool, n int) {
	l.pollMu.Lock()
	defer l.pollMu.Unlock()
	l.runMu.Lock()
	if l.stopped {
		l.runMu.Unlock()
		return true, 0
	}
	l.runCommands()
	if l.enforce.Swap(false) {
		l.enforceTotal()
	}
	l.armTimer()
	if len(l.ev) > 0 {
		timeout = 0 // the host has events to take: do not keep them waiting
	}
	l.publish()
	l.runMu.Unlock()

	// A threaded loop's host takes events in its own time: while it holds
	// more than hostBacklogMax of them, the loop reads nothing (TCP pushes
	// back on the peers) and turns every few ms for commands and writes.
	l.hostBehind = !l.inline && l.h.hostBehind()
	if l.hostBehind {
		time.Sleep(hostBehindTurn)
		timeout = 0
	}
	ready, err := l.poll.wait(l.events, timeout)
	if err != nil && !errors.Is(err, unix.EINTR) {
		ready = 0
		time.Sleep(10 * time.Millisecond) // cannot happen with a valid poller; do not spin if it does
	}

	l.runMu.Lock()
	l.turns++
	l.now = time.Now()
	defer func() {
		// Even when serving panicked (ws__hub_run recovers): the host's
		// buffer is only lent for this turn.
		l.direct = nil
		l.runMu.Unlock()
	}()
	if l.taker != nil {
		l.direct = dst[:0]
	}
	tickID := l.poll.tickID()
	for i := 0; i < ready; i++ {
		ev := &l.events[i]
		fd := ev.ident()
		switch {
		case fd == l.wakeIn:
			// Read before taking the queue: a command queued after the take
			// writes the waker again, so none is left behind.
			drainWake(l.wakeIn)
			l.runCommands()
		case fd == tickID:
			l.poll.ackTick()
			l.tick()
		case fd == l.notifyfd:
			// Events of goroutine connections: the host's poll takes them.
		case l.listeners[fd] != nil:
			l.accept(l.listeners[fd])
		default:
			if fd < len(l.fds) && l.fds[fd] != nil {
				l.ready(l.fds[fd], ev)
			}
		}
	}
	if l.stopping && (len(l.byID) == 0 || time.Now().After(l.stopAt)) {
		l.dropAll()
		l.stopped = true
	}
	if !l.stopped {
		// A host may next wait on PollFD without running a turn first
		// (ws_hub_poll waits in C): connections this turn accepted need
		// the timer armed now.
		l.armTimer()
	}
	n = l.handOver()
	if l.stopped {
		close(l.done)
	}
	return l.stopped, n
}

// event records an event for the host: in the host's buffer (see
// iterate) while it has room and no event went to ev first, so that the
// host reads them in order; else in ev.
func (l *loop) event(kind, opcode uint8, code uint16, id uint64, aux uint32, payload []byte) {
	if l.direct != nil && len(l.ev) == 0 && recordSize(len(payload)) <= cap(l.direct)-len(l.direct) {
		l.direct = AppendRecord(l.direct, kind, opcode, code, id, aux, payload)
		return
	}
	l.ev = AppendRecord(l.ev, kind, opcode, code, id, aux, payload)
}

// errorEvent records an error event: code is the close code sent to the
// peer or 0, status the E* code that classifies it.
func (l *loop) errorEvent(id uint64, code uint16, status int32, msg string) {
	if l.direct != nil && len(l.ev) == 0 && recordSize(len(msg)) <= cap(l.direct)-len(l.direct) {
		l.direct = AppendError(l.direct, code, status, id, msg)
		return
	}
	l.ev = AppendError(l.ev, code, status, id, msg)
}

// handOver ends a turn: the events in the host's buffer stay there if the
// host takes them in place, else they are published before the rest. It
// returns how many bytes the host took in place.
func (l *loop) handOver() int {
	d := l.direct
	l.direct = nil
	n := 0
	if len(d) > 0 {
		if l.taker.TakeInPlace() {
			n = len(d)
		} else {
			l.quiet.PublishQuiet(d)
		}
	}
	l.publish()
	return n
}

// exec carries out host commands at once, on the caller's thread; an
// inline hub's host sends this way instead of queueing.
func (l *loop) exec(records []byte, one *Record, deref func([]byte) []byte) {
	l.runMu.Lock()
	defer l.runMu.Unlock()
	if l.stopped {
		return
	}
	if one != nil {
		l.h.dispatch(*one)
	}
	l.dispatchAll(records, deref)
	if len(l.ev) > 0 {
		// Outside an iteration: the host may be waiting on its fd.
		l.h.host.Publish(l.ev)
		l.ev = l.ev[:0]
	}
}

// armTimer runs the tick timer while any connection may need it.
func (l *loop) armTimer() {
	want := l.needsTimer()
	if want == l.timerOn {
		return
	}
	l.timerOn = want
	var every time.Duration
	if want {
		every = tickEvery
	}
	l.poll.setTick(every)
}

func (l *loop) runCommands() {
	l.dispatchAll(l.h.host.Commands(), nil)
	l.dispatchAll(l.h.topics.takeInbox(), nil)
}

// dispatchAll carries out a batch of commands; with a deref, by-reference
// sends are sends of the bytes it finds for them.
func (l *loop) dispatchAll(cmds []byte, deref func([]byte) []byte) {
	l.batching = true
	defer func() {
		l.batching = false
		l.flushRun()
		l.flushPublished()
	}()
	for {
		r, rest, ok := NextRecord(cmds)
		if !ok {
			return
		}
		cmds = rest
		if r.Kind == CmdSendRef && deref != nil {
			r.Kind, r.Payload = CmdSend, deref(r.Payload)
		}
		if r.Kind != CmdSend {
			l.flushRun() // what was sent before a close goes out before it
		}
		l.h.dispatch(r)
	}
}

// runMax bounds a run of coalesced sends: past it the run is written and a
// new one begins.
const runMax = 64 << 10

// flushRun writes the coalesced sends waiting in runBuf.
func (l *loop) flushRun() {
	c := l.runConn
	if c == nil {
		return
	}
	l.runConn = nil
	if c.fd >= 0 {
		l.write(c, l.runBuf)
	}
	l.runBuf = l.runBuf[:0] // runMax keeps it small: kept for the next run
}

// tickEvery is the period of the tick that enforces deadlines, idle
// timeouts and pings.
const tickEvery = 200 * time.Millisecond

// needsTimer says whether the loop must wake by itself: any connection may
// have a deadline, an idle timeout or a ping due. Scanning them to find out
// would cost O(connections) per wake-up; tick does that scan instead, five
// times a second.
func (l *loop) needsTimer() bool {
	return l.stopping || len(l.draining) > 0 || len(l.byID) > 0 || l.resting > 0 || l.h.goCount.Load() > 0
}

// tick enforces the sessions' deadlines, idle timeouts and pings.
func (l *loop) tick() {
	now := time.Now()
	if l.resting > 0 {
		l.retryListeners(now)
	}
	kept := l.draining[:0]
	for _, c := range l.draining {
		if c.fd >= 0 && c.due(now) == dueDrop {
			l.remove(c, false, 0, "")
		}
		if c.fd >= 0 {
			kept = append(kept, c)
		}
	}
	l.draining = kept
	if l.h.goCount.Load() > 0 {
		l.h.mu.Lock()
		gcs := make([]*goConn, 0, len(l.h.goConns))
		for _, g := range l.h.goConns {
			gcs = append(gcs, g)
		}
		l.h.mu.Unlock()
		for _, g := range gcs {
			g.tick(now)
		}
	}
	for _, c := range l.byID {
		switch c.due(now) {
		case dueDrop:
			l.remove(c, false, 0, "")
		case dueRefuse:
			l.answerRequest(c, Record{Kind: cmdLate})
		case dueAnswer:
			l.answerClose(c, 0, "")
		case dueCloseGone:
			c.closeTimedOut(l)
			l.remove(c, false, 0, "")
		case dueIdle:
			l.fail(c, uint16(libws.StatusPolicyViolation), ETimedOut, "idle timeout")
		case duePing:
			l.sendFrame(c, libws.OpPing, c.ping[:])
		case dueKeepalive:
			l.fail(c, uint16(libws.StatusInternalError), ETimedOut, "keepalive ping timeout")
		}
	}
}

// listen binds a plain-TCP listener and registers it with the loop.
func (l *loop) listen(id uint32, addr string, o *Options) (int, error) {
	ln, err := listenConfig(o).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return 0, err
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	var regErr error = ErrClosed
	l.do(func() {
		if l.stopping {
			return
		}
		regErr = l.poll.add(fd, true, false)
		if regErr == nil {
			l.listeners[fd] = &listener{id: id, fd: fd, opts: *o}
		}
	})
	if regErr != nil {
		unix.Close(fd)
		return 0, regErr
	}
	return port, nil
}

func (l *loop) accept(ln *listener) {
	for {
		fd, sa, err := acceptConn(ln.fd)
		if err != nil {
			switch err {
			case unix.ECONNABORTED, unix.EINTR:
				continue
			case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
				l.backOff(ln)
			}
			// EAGAIN ends the batch.
			return
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := l.poll.add(fd, true, false); err != nil {
			unix.Close(fd)
			continue
		}
		c := &conn{fd: fd, listener: ln.id, peer: sockaddrString(sa), armedIn: true}
		c.id = l.h.newID()
		c.start(time.Now(), &ln.opts)
		l.register(c)
	}
}

// backOff stops watching a listener until the tick after acceptBackoff;
// its pending connections wait in the kernel's backlog meanwhile.
// register files a new connection under its fd and its id.
func (l *loop) register(c *conn) {
	for c.fd >= len(l.fds) {
		l.fds = append(l.fds, make([]*conn, len(l.fds)+64)...)
	}
	l.fds[c.fd] = c
	l.mu.Lock()
	l.byID[c.id] = c
	l.mu.Unlock()
}

func (l *loop) backOff(ln *listener) {
	l.poll.mod(ln.fd, false, false)
	ln.retryAt = time.Now().Add(acceptBackoff)
	l.resting++
}

// retryListeners watches again the listeners whose rest is over.
func (l *loop) retryListeners(now time.Time) {
	for _, ln := range l.listeners {
		if !ln.retryAt.IsZero() && !now.Before(ln.retryAt) {
			ln.retryAt = time.Time{}
			l.resting--
			l.poll.mod(ln.fd, true, false)
		}
	}
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	}
	return ""
}

func (l *loop) ready(c *conn, ev *pollEvent) {
	if ev.writable() {
		l.flushOut(c)
		if c.fd < 0 {
			return
		}
	}
	if ev.readable() && !l.hostBehind {
		l.read(c)
	}
}

func (l *loop) read(c *conn) {
	n, err := sysRead(c.fd, l.rbuf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	if n <= 0 {
		l.remove(c, c.hostKnows(), uint16(libws.StatusAbnormalClosure), "")
		return
	}
	if c.state == stDraining {
		return
	}
	c.input(l.now)
	if c.state == stHandshake {
		if c.pending != nil {
			// Read before the pause took effect: kept for after the 101.
			c.hs = append(c.hs, l.rbuf[:n]...)
			return
		}
		l.handshake(c, l.rbuf[:n])
		return
	}
	l.feed(c, l.rbuf[:n])
}

func (l *loop) handshake(c *conn, data []byte) {
	c.hs = append(c.hs, data...)
	req, used, err := libws.ParseRequest(c.hs)
	if err != nil {
		unix.Write(c.fd, refusal(err))
		l.remove(c, false, 0, "")
		return
	}
	if req == nil {
		return
	}
	if c.opts.StaticDir != "" && !isUpgrade(req) {
		l.handOff(c, func(nc net.Conn) { serveStatic(nc, c.opts.StaticDir, req) })
		return
	}
	up := upgradeOptions(c.opts)
	resp, n, err := req.Accept(up)
	if err == nil && c.opts.RequestEvents {
		// Nothing more is read until the host answers.
		c.pending = &pendingRequest{req: req, used: used, upgrade: up}
		c.requested = true
		l.setPaused(c, true)
		requestEvent(l, c.id, c.listener, c.peer, req)
		return
	}
	l.write(c, resp)
	if err != nil || c.fd < 0 {
		l.remove(c, false, 0, "")
		return
	}
	l.open(c, req, used, n)
}

// open starts serving frames once the 101 is written.
func (l *loop) open(c *conn, req *libws.Request, used int, n libws.Negotiated) {
	rest := c.hs[used:]
	c.hs, c.pending = nil, nil
	c.openProtocol(libws.RoleServer, n.Compression)
	l.ev = appendOpen(l.ev, c.id, c.listener, c.peer, req.RequestURI, n.Subprotocol, req.Header)
	if len(rest) > 0 {
		l.feed(c, rest)
	}
}

// answerRequest carries out the host's answer to a request event.
func (l *loop) answerRequest(c *conn, r Record) {
	switch r.Kind {
	case CmdAccept:
		resp, n, err := c.pending.accept(r)
		if err != nil {
			l.refuseRequest(c, answerFailed(), EInval, err.Error())
			return
		}
		l.write(c, resp)
		if c.fd < 0 {
			return // the write failed: its close event is out
		}
		l.setPaused(c, false)
		l.open(c, c.pending.req, c.pending.used, n)
	case CmdReject:
		resp, err := rejection(r)
		if err != nil {
			l.refuseRequest(c, answerFailed(), EInval, err.Error())
			return
		}
		l.refuseRequest(c, resp, 0, "rejected")
	case cmdLate:
		l.refuseRequest(c, answerLate(), ETimedOut, "no answer to the request within the handshake timeout")
	case CmdClose, CmdTerminate:
		l.remove(c, true, uint16(libws.StatusAbnormalClosure), "terminated")
	}
}

// refuseRequest answers a pending request with an HTTP response and ends
// the connection; a status reports why to the host first.
func (l *loop) refuseRequest(c *conn, resp []byte, status int32, why string) {
	if status != 0 {
		l.errorEvent(c.id, 0, status, why)
	}
	l.write(c, resp)
	if c.fd < 0 {
		return // the write failed: its close event is out
	}
	l.event(EventClose, 0, uint16(libws.StatusAbnormalClosure), c.id, 0, []byte(why))
	c.pending, c.hs = nil, nil
	l.finish(c)
}

// feed hands received bytes to the connection's session and writes what
// its protocol queued (pongs, close frames).
func (l *loop) feed(c *conn, data []byte) {
	end := c.feed(data, l)
	l.flushProtocol(c)
	if end == fedDone {
		l.finish(c)
	}
}

// flushProtocol sends what the protocol queued itself (pongs, close replies).
func (l *loop) flushProtocol(c *conn) {
	if out := c.p.Output(); len(out) > 0 {
		l.write(c, out)
		c.p.Sent(len(out))
	}
}

// command carries out a host command for a connection of the loop; it reports
// false when the connection is not one of the loop's.
func (l *loop) command(r Record) bool {
	c := l.byID[r.Conn]
	if c == nil {
		return false
	}
	if c.state == stHandshake {
		if c.pending != nil {
			l.answerRequest(c, r)
		}
		return true
	}
	switch r.Kind {
	case CmdSend:
		if c.state == stFailed {
			l.sendUnchecked(c, libws.Opcode(r.Opcode), r.Payload)
			break
		}
		l.sendFrame(c, libws.Opcode(r.Opcode), r.Payload)
	case CmdClose:
		l.closeConn(c, r.Code, string(r.Payload))
		// The peer's close reply must be read to finish the handshake.
		l.setPaused(c, false)
	case CmdPause:
		l.setPaused(c, true)
	case CmdResume:
		l.setPaused(c, false)
	case CmdTerminate:
		l.remove(c, c.hostKnows(), uint16(libws.StatusAbnormalClosure), "terminated")
	case CmdCloseAck:
		if c.ackAnswers() {
			l.answerClose(c, 0, "")
		}
	}
	return true
}

// answerClose sends the close frame that waited for the host (see
// session.answer) and ends the connection.
func (l *loop) answerClose(c *conn, code uint16, reason string) {
	if held := c.answer(code, reason); len(held) > 0 {
		l.write(c, held)
	}
	l.flushProtocol(c)
	l.finish(c)
}

// finish ends a connection whose close event is out: once our output is
// flushed the write side is shut and the peer's last bytes are drained.
func (l *loop) finish(c *conn) {
	if c.fd < 0 {
		return
	}
	l.mu.Lock()
	delete(l.byID, c.id)
	l.mu.Unlock()
	l.leaveTopics(c.id)
	c.to(stDraining, time.Now())
	l.setPaused(c, false) // the peer's last bytes are read to EOF
	l.draining = append(l.draining, c)
	if c.outLen() == 0 {
		unix.Shutdown(c.fd, unix.SHUT_WR)
	}
}

func (l *loop) sendFrame(c *conn, op libws.Opcode, payload []byte) {
	var buf, body []byte
	var err error
	if l.batching && len(payload) < writevMin {
		if l.runConn != c || len(l.runBuf) >= runMax {
			l.flushRun()
		}
		if buf, err = c.p.AppendFrame(l.runBuf, true, op, payload); err != nil {
			l.sendFailed(c, err)
			return
		}
		l.runBuf, l.runConn = buf, c
		return
	}
	l.flushRun() // in order with what this connection sent before
	if len(payload) >= writevMin {
		buf, body, err = c.p.AppendHeader(l.wbuf[:0], true, op, payload)
	} else {
		buf, err = c.p.AppendFrame(l.wbuf[:0], true, op, payload)
	}
	if err != nil {
		l.sendFailed(c, err)
		return
	}
	if cap(buf) <= 1<<20 {
		l.wbuf = buf[:0]
	}
	l.writev(c, buf, body)
}

// sendUnchecked writes a frame in stFailed (see session.appendUnchecked).
func (l *loop) sendUnchecked(c *conn, op libws.Opcode, payload []byte) {
	buf, err := c.appendUnchecked(l.wbuf[:0], op, payload)
	if err != nil {
		l.sendFailed(c, err)
		return
	}
	l.flushRun() // in order with what this connection sent before
	l.write(c, buf)
	if cap(buf) <= 1<<20 {
		l.wbuf = buf[:0]
	}
}

func (l *loop) sendFailed(c *conn, err error) {
	l.errorEvent(c.id, 0, sendStatus(err), err.Error())
}

// writevMin is the payload size from which a frame goes out as header and
// payload in one writev rather than copied behind its header: below it the
// copy costs less than the longer system call.
const writevMin = 2048

func (l *loop) closeConn(c *conn, code uint16, reason string) {
	if c.awaitsAck() {
		l.answerClose(c, code, reason)
		return
	}
	if err := c.close(code, reason); err != nil {
		l.errorEvent(c.id, 0, EInval, err.Error())
		return
	}
	l.flushProtocol(c)
}

// fail closes a connection with a close frame of our own making and drops
// it without waiting for the reply.
func (l *loop) fail(c *conn, code uint16, status int32, reason string) {
	c.session.fail(code, status, reason, l)
	l.flushProtocol(c)
	l.finish(c)
}

// handOff takes a connection out of the loop and gives its socket, as a
// blocking net.Conn, to serve on a goroutine of its own.
func (l *loop) handOff(c *conn, serve func(net.Conn)) {
	dup, err := unix.Dup(c.fd)
	l.remove(c, false, 0, "")
	if err != nil {
		return
	}
	unix.CloseOnExec(dup)
	f := os.NewFile(uintptr(dup), "")
	nc, err := net.FileConn(f) // a descriptor of its own, in Go's poller
	f.Close()
	if err != nil {
		return
	}
	go serve(nc)
}

// write sends b, queueing what the socket does not take now.
func (l *loop) write(c *conn, b []byte) { l.writev(c, b, nil) }

// writev sends a then b (b may be empty), straight to the socket while
// nothing is buffered, and buffers what the socket does not take.
func (l *loop) writev(c *conn, a, b []byte) {
	if c.outLen() == 0 {
		var n int
		var err error
		if len(b) == 0 {
			n, err = sysWrite(c.fd, a)
		} else {
			n, err = sysWritev2(c.fd, &l.iov, a, b)
		}
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			l.remove(c, c.hostKnows(), uint16(libws.StatusAbnormalClosure), "")
			return
		}
		n = max(n, 0)
		if n >= len(a) {
			b, a = b[n-len(a):], nil
		} else {
			a = a[n:]
		}
		if len(a)+len(b) == 0 {
			return
		}
	}
	before := c.outLen()
	c.compactOut(len(a) + len(b))
	c.out = append(append(c.out, a...), b...)
	l.h.addBuffered(int64(c.outLen() - before))
	if l.h.overTotal() {
		l.enforceTotal()
		if c.fd < 0 {
			return
		}
	}
	if !c.writable {
		c.writable = true
		l.rearm(c)
	}
	l.checkPressure(c)
}

func (c *conn) outLen() int { return len(c.out) - c.outOff }

// outCopied counts the bytes moved inside send buffers, so tests can
// assert that draining costs O(bytes).
var outCopied atomic.Int64

// compactOut makes room for more bytes: the unsent rest moves to the
// front only when the sent prefix is at least as long as it, so each byte
// is moved at most once per time its length is written (amortized O(1)).
func (c *conn) compactOut(more int) {
	if c.outOff == 0 || c.outOff < c.outLen() && len(c.out)+more <= cap(c.out) {
		return
	}
	n := copy(c.out, c.out[c.outOff:])
	outCopied.Add(int64(n))
	c.out, c.outOff = c.out[:n], 0
}

// rearm registers the readiness the connection waits for: input while it
// reads (see session.reads; the level-triggered poller would otherwise
// report unread input on every wait), output while bytes are buffered.
func (l *loop) rearm(c *conn) {
	c.armedIn = c.reads()
	l.poll.mod(c.fd, c.armedIn, c.writable)
}

// setPaused stops or resumes reading a connection. Input the kernel holds
// meanwhile is reported again by the level-triggered poller once re-armed.
func (l *loop) setPaused(c *conn, paused bool) {
	c.session.setPaused(paused, time.Now())
	l.syncReading(c)
}

// syncReading re-arms the connection when whether it reads has changed
// (a pause, a high-water crossing, a state that must read to the end).
func (l *loop) syncReading(c *conn) {
	if c.fd >= 0 && c.reads() != c.armedIn {
		l.rearm(c)
	}
}

func (l *loop) flushOut(c *conn) {
	before := c.outLen()
	for c.outLen() > 0 {
		n, err := sysWrite(c.fd, c.out[c.outOff:])
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			l.remove(c, c.hostKnows(), uint16(libws.StatusAbnormalClosure), "")
			return
		}
		c.outOff += n
	}
	l.h.addBuffered(int64(c.outLen() - before))
	if c.outLen() == 0 {
		c.out, c.outOff = nil, 0
		if c.state == stDraining {
			unix.Shutdown(c.fd, unix.SHUT_WR)
		}
		if c.writable {
			c.writable = false
			l.rearm(c)
		}
	}
	l.checkPressure(c)
}

// checkPressure reports crossings of the high-water mark and fails a
// connection whose peer stopped reading before its buffer grows unbounded.
func (l *loop) checkPressure(c *conn) {
	n := c.outLen()
	switch c.pressure(n) {
	case pressureOver:
		l.failBuffered(c, "send buffer limit reached: peer is not reading")
	case pressureHigh:
		l.event(EventBackpressure, 0, 0, c.id, saturate32(int64(n)), nil)
		l.syncReading(c)
	case pressureLow:
		l.event(EventDrain, 0, 0, c.id, saturate32(int64(n)), nil)
		l.syncReading(c)
	}
}

// failBuffered fails a connection with 1008 for holding too many unsent
// bytes. The peer is not reading, so a close frame would never reach it:
// the socket is dropped.
func (l *loop) failBuffered(c *conn, why string) {
	l.h.addBuffered(-int64(c.outLen()))
	c.out, c.outOff = nil, 0
	c.session.failBuffered(why, l)
	l.remove(c, false, 0, "")
}

// enforceTotalSoon has the loop enforce the hub-wide cap at its next turn.
func (l *loop) enforceTotalSoon() {
	if !l.enforce.Swap(true) {
		l.wake()
	}
}

// enforceTotal holds the unsent bytes of all connections under
// MaxTotalBuffered: past it the connections with the largest buffers fail
// with 1008 until the total is under it again. Scanning every connection
// costs O(connections), but only when the cap is passed.
func (l *loop) enforceTotal() {
	if !l.h.overTotal() {
		return
	}
	var hs []bufferHolder
	for _, c := range l.byID {
		if n := c.outLen(); n > 0 {
			hs = append(hs, bufferHolder{n: int64(n), fail: func() { l.failBuffered(c, whyTotalCap) }})
		}
	}
	for _, c := range l.draining {
		if n := c.outLen(); n > 0 && c.fd >= 0 {
			// Done for the host already: only its socket goes.
			hs = append(hs, bufferHolder{n: int64(n), fail: func() { l.remove(c, false, 0, "") }})
		}
	}
	l.h.failLargest(hs)
}

// remove closes the socket and forgets the connection; withEvent says
// whether the host knew it (an open event went out) and gets a close event.
func (l *loop) remove(c *conn, withEvent bool, code uint16, reason string) {
	if c.fd < 0 {
		return
	}
	c.sendable.Store(false)
	l.poll.del(c.fd)
	unix.Close(c.fd)
	l.h.addBuffered(-int64(c.outLen()))
	c.out, c.outOff = nil, 0
	l.fds[c.fd] = nil
	c.fd = -1
	l.mu.Lock()
	delete(l.byID, c.id)
	l.mu.Unlock()
	l.leaveTopics(c.id)
	if withEvent {
		l.event(EventClose, 0, code, c.id, 0, []byte(reason))
	}
}

// sendable reports whether id is one of the loop's connections and takes
// sends (see Hub.Sendable).
func (l *loop) sendable(id uint64) (yes, known bool) {
	l.mu.Lock()
	c := l.byID[id]
	l.mu.Unlock()
	if c == nil {
		return false, false
	}
	return c.sendable.Load(), true
}

// latency is Hub.Latency for the loop's connections.
func (l *loop) latency(id uint64) (int64, bool) {
	l.mu.Lock()
	c := l.byID[id]
	l.mu.Unlock()
	if c == nil {
		return 0, false
	}
	return c.latency.Load(), true
}

func (l *loop) buffered(id uint64) (int64, bool) {
	l.mu.Lock()
	c := l.byID[id]
	l.mu.Unlock()
	if c == nil {
		return 0, false
	}
	var n int64
	l.do(func() { n = int64(c.outLen()) })
	return n, true
}

// publish hands the events of an iteration to the host. An inline host is
// the caller of the iteration and takes them when it returns, so it needs
// no wake-up for them.
func (l *loop) publish() {
	if len(l.ev) == 0 {
		return
	}
	if l.quiet != nil {
		l.quiet.PublishQuiet(l.ev)
	} else {
		l.h.host.Publish(l.ev)
	}
	if cap(l.ev) > 4<<20 {
		l.ev = nil
	} else {
		l.ev = l.ev[:0]
	}
}

// shutdown stops accepting and starts the close handshake of every
// connection; the loop ends once they are gone or timeout passed.
func (l *loop) shutdown(timeout time.Duration) {
	l.do(func() {
		for fd := range l.listeners {
			l.poll.del(fd)
			unix.Close(fd)
		}
		l.listeners = map[int]*listener{}
		l.resting = 0
		for _, c := range l.byID {
			switch c.state {
			case stHandshake:
				l.remove(c, c.hostKnows(), uint16(libws.StatusAbnormalClosure), "shut down")
			case stPeerClosed, stFailed:
				l.answerClose(c, 0, "")
			default:
				l.closeConn(c, uint16(libws.StatusGoingAway), "server shutting down")
			}
		}
		l.stopping = true
		l.stopAt = time.Now().Add(timeout)
	})
	if !l.inline {
		l.wake() // its wait has no timeout: make it see stopping
		<-l.done
		return
	}
	// Nobody else drives an inline loop to its end. A host thread waiting
	// in it wakes up and finds it stopped.
	l.wake()
	l.runToEnd(10)
}

func (l *loop) dropAll() {
	for _, c := range l.byID {
		l.remove(c, c.hostKnows(), uint16(libws.StatusAbnormalClosure), "shut down")
	}
	for _, c := range l.draining {
		l.remove(c, false, 0, "")
	}
	l.draining = nil
}

// release frees the loop's descriptors once it has stopped.
func (l *loop) release() {
	<-l.done
	l.pollMu.Lock() // an inline host thread may still be leaving the wait
	defer l.pollMu.Unlock()
	l.closeFDs()
}
