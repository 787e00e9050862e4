//go:build (!linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly) || hubgoroutine

package hub

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libws/libws/libws"
)

// goroutineTransport says that every connection of a hub is a goConn:
// plain-TCP listeners are served as TLS ones are, by goroutines, and the
// loop below only carries out commands, runs the connections' timers and
// holds the hub-wide buffer cap. It is the transport wherever the hub has
// no epoll loop (every platform but Linux), and on Linux with the build
// tag hubgoroutine, so that the whole test suite covers it there too.
//
// What Options.Inline means with it: the connections still run on their
// own goroutines, so nothing waits for Run; the host carries out its
// commands on its own thread (Exec), and Run waits up to its timeout for
// events (or queued commands) and returns as soon as any were published.
// PollFD is the InlineHost's NotifyFD, readable while events are queued.
const goroutineTransport = true

type loop struct {
	h      *Hub
	inline bool
	// wakefd is written by hosts after queueing commands (an 8-byte count,
	// as to an eventfd); a goroutine reads it and wakes the loop. -1 where
	// the platform has no pipe (Windows): hosts call Wake there.
	wakefd int
	pollfd int

	wakeCh chan struct{} // commands are queued
	evCh   chan struct{} // goroutine connections published events
	stopCh chan struct{} // shutdown began: a waiting Run returns
	quit   chan struct{} // release: the timer goroutine ends
	done   chan struct{} // the loop has stopped

	// enforce asks for a goroutine that holds the hub-wide buffered bytes
	// under the cap (see enforceTotal).
	enforce atomic.Bool

	// batching is set while dispatchAll carries out a batch of commands;
	// the connections it sent to are flushed at its end (see deferFlush).
	batchMu  sync.Mutex
	batching bool
	batched  []*goConn

	pollMu   sync.Mutex // one Run waits at a time
	runMu    sync.Mutex
	stopping bool
	stopped  bool
	// turns counts the loop's wake-ups, so tests can tell a loop that
	// waits from one that spins.
	turns uint64

	// ev and byID are the epoll loop's, which topics.go reads: here no
	// events wait in the loop and no connection is the loop's own.
	ev   []byte
	byID map[uint64]*conn
}

// conn is the epoll loop's connection, named by the registry of topics
// (topics.go, member.c); the goroutine transport makes none.
type conn struct {
	session
	fd int
}

func newLoop(h *Hub) (*loop, error) {
	l := &loop{
		h: h, inline: h.opts.Inline, pollfd: -1,
		wakeCh: make(chan struct{}, 1),
		evCh:   make(chan struct{}, 1),
		stopCh: make(chan struct{}),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if ih, ok := h.host.(InlineHost); ok && l.inline {
		l.pollfd = ih.NotifyFD()
	}
	var err error
	if l.wakefd, err = newWakePipe(l.wake); err != nil {
		return nil, err
	}
	go l.timers()
	return l, nil
}

// wake has the loop fetch the host's commands.
func (l *loop) wake() {
	select {
	case l.wakeCh <- struct{}{}:
	default:
	}
}

// published tells a Run that waits that goroutine connections published
// events (goConn.unlock calls it). Only an inline host's Run waits for
// them: a loop goroutine has nothing to do with them.
func (l *loop) published() {
	if !l.inline {
		return
	}
	select {
	case l.evCh <- struct{}{}:
	default:
	}
}

func (l *loop) do(f func()) {
	l.runMu.Lock()
	defer l.runMu.Unlock()
	f()
}

// timers runs the connections' timers in both modes: with goroutine
// connections they do not need the host's thread.
// It keeps running through Shutdown, whose close handshakes it times,
// until release.
func (l *loop) timers() {
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case now := <-t.C:
			if l.h.goCount.Load() > 0 {
				l.tick(now)
			}
		}
	}
}

// run is the loop goroutine of a hub that is not inline.
func (l *loop) run() {
	for {
		if stopped, _ := l.iterate(-1, nil); stopped {
			return
		}
	}
}

// iterate carries out queued commands, waits up to timeout ms (-1: no
// limit) for more commands or for published events, and carries out what
// was queued meanwhile. Events are the goroutine connections' to publish,
// so none are written to dst: n is always 0.
func (l *loop) iterate(timeout int, dst []byte) (stopped bool, n int) {
	l.pollMu.Lock()
	defer l.pollMu.Unlock()
	if l.turn() {
		return true, 0
	}
	if timeout != 0 {
		var expired <-chan time.Time
		if timeout > 0 {
			t := time.NewTimer(time.Duration(timeout) * time.Millisecond)
			defer t.Stop()
			expired = t.C
		}
		select {
		case <-l.wakeCh:
		case <-l.evCh:
		case <-l.stopCh:
		case <-expired:
		}
	}
	return l.turn(), 0
}

// turn carries out the queued commands and ends the loop once a shutdown
// is over; it reports whether the loop has stopped.
func (l *loop) turn() bool {
	l.runMu.Lock()
	defer l.runMu.Unlock()
	if l.stopped {
		return true
	}
	l.turns++
	l.runCommands()
	if l.stopping {
		l.stopped = true
		close(l.done)
	}
	return l.stopped
}

// runCommands carries out the host's queued commands, then the messages
// the topics' broker received (runMu held).
func (l *loop) runCommands() {
	l.dispatchAll(l.h.host.Commands(), nil)
	l.dispatchAll(l.h.topics.takeInbox(), nil)
}

// publishLocal delivers a message to the subscribers of tp on this hub
// but exclude (runMu held); each is a goroutine connection.
func (l *loop) publishLocal(tp *topic, op libws.Opcode, data []byte, exclude uint64) {
	if tp == nil {
		return
	}
	p := &prepared{op: op, payload: data}
	for _, m := range tp.members {
		if m.id != exclude && m.g != nil {
			m.g.deliverGo(p)
		}
	}
}

// flushMember has nothing to write: goroutine connections take published
// frames at once (deliverGo), none are pending.
func (l *loop) flushMember(*member) {}

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
}

func (l *loop) dispatchAll(cmds []byte, deref func([]byte) []byte) {
	l.batchMu.Lock()
	l.batching = true
	l.batchMu.Unlock()
	defer l.flushBatch()
	for {
		r, rest, ok := NextRecord(cmds)
		if !ok {
			return
		}
		cmds = rest
		if r.Kind == CmdSendRef && deref != nil {
			r.Kind, r.Payload = CmdSend, deref(r.Payload)
		}
		l.h.dispatch(r)
	}
}

// deferFlush holds back the flush of a send made during a batch (g.mu
// held) and reports whether it did.
func (l *loop) deferFlush(g *goConn) bool {
	l.batchMu.Lock()
	defer l.batchMu.Unlock()
	if !l.batching {
		return false
	}
	if n := len(l.batched); n == 0 || l.batched[n-1] != g {
		l.batched = append(l.batched, g)
	}
	return true
}

// flushBatch ends a batch: each connection it sent to writes what it
// queued, in one write as far as the socket takes it.
func (l *loop) flushBatch() {
	l.batchMu.Lock()
	gs := l.batched
	l.batched, l.batching = l.batched[:0], false
	l.batchMu.Unlock()
	for i, g := range gs {
		g.mu.Lock()
		g.writeNow()
		g.wakeWriter()
		g.unlock()
		gs[i] = nil
	}
}

// tickEvery is the period of the tick that enforces deadlines, idle
// timeouts and pings.
const tickEvery = 200 * time.Millisecond

func (l *loop) tick(now time.Time) {
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

// listen serves a plain-TCP listener with goroutines, as a TLS one.
func (l *loop) listen(id uint32, addr string, o *Options) (int, error) {
	return l.h.listenTLS(id, addr, o)
}

// command reports that no connection is the loop's own: every one is a
// goConn.
func (l *loop) command(Record) bool { return false }

func (l *loop) sendable(uint64) (yes, known bool) { return false, false }

func (l *loop) buffered(uint64) (int64, bool) { return 0, false }

// enforceTotalSoon enforces the hub-wide cap on a goroutine of its own:
// the caller holds a connection's lock, which failing it takes.
func (l *loop) enforceTotalSoon() {
	if !l.enforce.Swap(true) {
		go func() {
			if l.enforce.Swap(false) {
				l.enforceTotal()
			}
		}()
	}
}

// enforceTotal fails the connections with the largest buffers with 1008
// until the hub's unsent bytes are under MaxTotalBuffered, as the epoll
// loop does.
func (l *loop) enforceTotal() {
	if !l.h.overTotal() {
		return
	}
	l.h.failLargest(nil)
}

// shutdown stops the loop; the goroutine connections' close handshakes,
// started by Hub.Shutdown, run on their own and are timed by timers.
func (l *loop) shutdown(time.Duration) {
	l.runMu.Lock()
	if !l.stopping {
		l.stopping = true
		close(l.stopCh)
	}
	l.runMu.Unlock()
	if !l.inline {
		<-l.done
		return
	}
	l.turn()
}

// release frees the loop's descriptors once it has stopped.
func (l *loop) release() {
	<-l.done
	l.pollMu.Lock() // a Run may still be leaving its wait
	defer l.pollMu.Unlock()
	l.closeFDs()
}

// closeFDs ends the timer goroutine and closes the wake pipe (release, or
// New failing after newLoop).
func (l *loop) closeFDs() {
	close(l.quit)
	closeWakePipe(l.wakefd)
}

func (l *loop) pollFD() int { return l.pollfd }

// readWakes calls wake for each read of the wake pipe's read side r (or
// socket, on Windows) until its write side is closed.
func readWakes(r io.ReadCloser, wake func()) {
	defer r.Close()
	buf := make([]byte, 64)
	for {
		if n, err := r.Read(buf); n <= 0 || err != nil {
			return
		}
		wake()
	}
}
