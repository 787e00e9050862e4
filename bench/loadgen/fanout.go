//go:build linux

package main

// Fan-out mode (-fanout N): N subscriber connections and one publisher
// connection to a server that relays every text message it receives to
// all its connections (a topic, or a loop over its clients). The publisher
// keeps -inflight messages outstanding: a message is done when all N
// subscribers have it. Each message starts with a stamp, its sequence
// number and send time, so that every delivery is checked (opcode, length,
// contents, and the sequence: no gap, no duplicate, no reordering) and
// timed. The report's msgs_per_sec counts deliveries (one message reaching
// one subscriber), its latencies are delivery latencies (publisher's write
// to a subscriber's read), and with -server-pid its
// server_cpu_us_per_msg is server CPU per delivery
// (deliveries_per_cpu_sec is its inverse).
//
// Before the run the publisher sends probes (messages starting with '~')
// until every subscriber has seen one: servers that subscribe a connection
// after its handshake (an event the host handles later) then have all of
// them subscribed before message 0. The publisher connection receives the
// messages too (the servers exclude nobody); they are checked, not counted.

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// A stamp is stampSeqLen + stampTimeLen base-64 digits (printable ASCII,
// so that the message is valid UTF-8): the sequence number (up to 2^36)
// and the send time in ns since the run's epoch (up to 2^42 ns, 73 min).
const (
	stampSeqLen  = 6
	stampTimeLen = 7
	stampLen     = stampSeqLen + stampTimeLen
	probeByte    = '~' // not a base-64 digit
	maxFanoutRun = time.Duration(1<<42) - time.Minute
)

const stampDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

var stampValue = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(stampDigits); i++ {
		v[stampDigits[i]] = int8(i)
	}
	return
}()

func putDigits(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = stampDigits[v&63]
		v >>= 6
	}
}

func getDigits(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		d := stampValue[c]
		if d < 0 {
			return 0, false
		}
		v = v<<6 | uint64(d)
	}
	return v, true
}

// putStamp writes message seq's stamp, sent at ns, into b[:stampLen].
func putStamp(b []byte, seq uint64, ns int64) {
	putDigits(b[:stampSeqLen], seq)
	putDigits(b[stampSeqLen:stampLen], uint64(ns))
}

func getStamp(b []byte) (seq uint64, ns int64, ok bool) {
	if len(b) < stampLen {
		return 0, 0, false
	}
	seq, ok1 := getDigits(b[:stampSeqLen])
	t, ok2 := getDigits(b[stampSeqLen:stampLen])
	return seq, int64(t), ok1 && ok2
}

// fanout is the shared state of a fan-out run.
type fanout struct {
	l *load
	n int // subscribers
	k uint64
	// done[seq%k] counts the subscribers message seq reached; the one that
	// makes it n returns the publisher a credit. Deliveries are in order on
	// every connection, so messages complete in order, and slot seq%k is
	// free again once the publisher holds a credit for seq.
	done    []atomic.Int64
	credits chan struct{}
	ready   atomic.Int64 // subscribers that saw a probe
	readyCh chan struct{}
	sent    atomic.Uint64 // messages published
	closing atomic.Bool   // every message is in: connection ends are expected
	started chan struct{} // closed when message 0 is about to go
	// got[i]: messages connection i received, set when its reader ends.
	got []uint64
}

// fanoutMessage writes message seq (or a probe) of size bytes into b.
func (f *fanout) message(b []byte, seq uint64, ns int64, probe bool) []byte {
	size := f.l.o.size
	b = b[:size]
	off := int(seq % patternPeriod)
	copy(b[stampLen:], f.l.pattern[off:off+size-stampLen])
	if probe {
		for i := range stampLen {
			b[i] = probeByte
		}
	} else {
		putStamp(b, seq, ns)
	}
	return b
}

// reader reads connection id's deliveries and checks each one. Connections
// below f.n are subscribers, whose deliveries are counted and timed.
func (f *fanout) reader(id int, c *conn) error {
	size := f.l.o.size
	rbuf := make([]byte, size)
	want := make([]byte, size)
	counted := id < f.n
	probed := false
	next := uint64(0)
	defer func() { f.got[id] = next }()
	for {
		op, msg, err := c.readMessage(rbuf)
		if err != nil {
			if f.closing.Load() {
				return nil
			}
			return fmt.Errorf("after message %d: read: %w", int64(next)-1, err)
		}
		if op != opText {
			return fmt.Errorf("after message %d: opcode %#x, want text", int64(next)-1, op)
		}
		if len(msg) != size {
			return fmt.Errorf("after message %d: %d bytes, want %d", int64(next)-1, len(msg), size)
		}
		if msg[0] == probeByte {
			if next > 0 {
				return fmt.Errorf("a probe after message %d", next-1)
			}
			if string(msg) != string(f.message(want, 0, 0, true)) {
				return errors.New("a probe differs from the one sent")
			}
			if !probed && counted {
				probed = true
				if f.ready.Add(1) == int64(f.n) {
					close(f.readyCh)
				}
			}
			continue
		}
		seq, ns, ok := getStamp(msg)
		if !ok {
			return fmt.Errorf("after message %d: no valid stamp", int64(next)-1)
		}
		switch {
		case seq < next:
			return fmt.Errorf("message %d again (duplicate or reordered) after message %d", seq, next-1)
		case seq > next:
			return fmt.Errorf("message %d lost: got message %d", next, seq)
		}
		if string(msg) != string(f.message(want, seq, ns, false)) {
			return fmt.Errorf("message %d: contents differ from what was sent", seq)
		}
		next++
		if counted {
			f.l.record(id, f.l.now()-ns)
			if f.done[seq%f.k].Add(1) == int64(f.n) {
				f.credits <- struct{}{} // never blocks: at most k credits exist
			}
		}
	}
}

// publish sends probes until every subscriber saw one, then messages
// while credits allow, until the run stops; then it waits for the
// messages still in flight.
func (f *fanout) publish(c *conn) error {
	l := f.l
	wbuf := make([]byte, 0, maxHeader+l.o.size)
	msg := make([]byte, l.o.size)
	var z *compressor
	write := func(m []byte) error {
		var err error
		if c.deflate {
			if z == nil {
				z = newCompressor()
			}
			p := z.compress(m)
			c.tx.count(len(m), len(p), true)
			wbuf, err = c.send(wbuf, opText|rsv1, p)
		} else {
			c.tx.count(len(m), len(m), false)
			wbuf, err = c.send(wbuf, opText, m)
		}
		return err
	}
	deadline := time.Now().Add(l.o.timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	// Probes back off (100 ms, 200 ms, … 1.6 s apart) and wait while the
	// last one still reaches new subscribers: at 10,000 subscribers a
	// probe every tick queued more deliveries than loadgen reads in one,
	// and message 0 waited behind seconds of probes.
	seen, gap, next := int64(-1), 100*time.Millisecond, time.Time{}
probing:
	for {
		r := f.ready.Load()
		if now := time.Now(); seen < 0 || r == seen && !now.Before(next) {
			if err := write(f.message(msg, 0, 0, true)); err != nil {
				return fmt.Errorf("probe: write: %w", err)
			}
			next, gap = now.Add(gap), min(2*gap, 1600*time.Millisecond)
		}
		seen = r
		select {
		case <-f.readyCh:
			break probing
		case <-l.fail.ch:
			return nil
		case <-tick.C:
			select {
			case <-f.readyCh: // both ready: readiness wins
				break probing
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("only %d of %d subscribers got a probe within %v: not subscribed?", f.ready.Load(), f.n, l.o.timeout)
			}
		}
	}
	close(f.started)
	held := uint64(0) // credits taken but not spent on a message
	for seq := uint64(0); ; seq++ {
		select {
		case <-f.credits:
			held = 1
		case <-l.done:
		case <-l.fail.ch:
			return nil
		}
		if l.stop.Load() {
			break
		}
		held = 0
		f.done[seq%f.k].Store(0)
		if err := write(f.message(msg, seq, l.now(), false)); err != nil {
			return fmt.Errorf("message %d: write: %w", seq, err)
		}
		f.sent.Store(seq + 1)
	}
	// Wait until the messages in flight reached every subscriber.
	timeout := time.NewTimer(l.o.timeout)
	defer timeout.Stop()
	for ; held < f.k; held++ {
		select {
		case <-f.credits:
		case <-l.fail.ch:
			return nil
		case <-timeout.C:
			return fmt.Errorf("%d messages did not reach every subscriber within %v", f.k-held, l.o.timeout)
		}
	}
	return nil
}

// measureFanout runs a fan-out load (see the top of this file).
func measureFanout(o *options) (*report, error) {
	o.text = true
	l := &load{o: o, op: opText, done: make(chan struct{}), fail: newFailure()}
	l.pattern = newPattern(o.size, true)
	f := &fanout{
		l: l, n: o.fanout, k: uint64(o.inflight),
		done:    make([]atomic.Int64, o.inflight),
		credits: make(chan struct{}, o.inflight),
		readyCh: make(chan struct{}),
		started: make(chan struct{}),
		got:     make([]uint64, o.fanout+1),
	}
	for range o.inflight {
		f.credits <- struct{}{}
	}
	conns, err := dialAll(o, o.fanout+1, readBufferSize(o.size))
	if err != nil {
		return nil, err
	}
	l.epoch = time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.reader(i, c); err != nil {
				l.fail.fail(fmt.Errorf("conn %d: %w", i, err))
			}
		}()
	}
	pubErr := make(chan error, 1)
	go func() { pubErr <- f.publish(conns[o.fanout]) }()

	ok := true
	select {
	case <-f.started:
	case <-l.fail.ch:
		ok = false
	case err := <-pubErr:
		l.fail.fail(fmt.Errorf("publisher: %w", err))
		ok = false
		pubErr <- nil
	}
	windows := l.measure(ok && l.sleep(o.warmup))
	l.stop.Store(true)
	close(l.done)
	if err := <-pubErr; err != nil {
		l.fail.fail(fmt.Errorf("publisher: %w", err))
	}

	// Every message is in (or the run failed): close politely, bounded.
	f.closing.Store(true)
	deadline := time.Now().Add(min(o.timeout, 2*time.Second))
	for _, c := range conns {
		c.nc.SetDeadline(deadline)
		c.sendClose()
	}
	wg.Wait()
	for _, c := range conns {
		c.nc.Close()
	}
	sent := f.sent.Load()
	if l.fail.err == nil {
		for i, got := range f.got {
			if got != sent {
				l.fail.fail(fmt.Errorf("conn %d: got %d of the %d messages published", i, got, sent))
				break
			}
		}
	}

	rep := report{
		URL: o.url, Conns: o.fanout, Size: o.size, Inflight: o.inflight,
		Mode: "fanout", Warmup: o.warmup.Seconds(), Duration: o.duration.Seconds(),
		Errors: l.fail.count.Load(), Published: sent, Deliveries: sent * uint64(o.fanout),
	}
	if o.deflate {
		rep.addDeflate(conns)
	}
	if l.fail.err == nil {
		for _, w := range windows {
			rep.Runs = append(rep.Runs, w.summarize())
		}
		rep.median()
		if rep.ServerCPUPerMsg > 0 {
			rep.DeliveriesPerCPUSec = 1e6 / rep.ServerCPUPerMsg
		}
	} else {
		rep.Error = l.fail.err.Error()
	}
	return &rep, l.fail.err
}

func runFanout(o *options) error {
	rep, err := measureFanout(o)
	if rep != nil {
		rep.print(o.json)
	}
	return err
}

// checkFanout checks the options of fan-out mode.
func (o *options) checkFanout() error {
	switch {
	case o.fanout < 0:
		return errors.New("-fanout must not be negative")
	case o.fanout == 0:
		return nil
	case o.size < stampLen:
		return fmt.Errorf("-fanout: -size must be at least %d (the stamp)", stampLen)
	case o.idle > 0:
		return errors.New("-fanout and -idle do not go together")
	case o.warmup+time.Duration(o.runs)*o.duration > maxFanoutRun:
		return fmt.Errorf("-fanout: a run of at most %v (the stamp's clock)", maxFanoutRun)
	}
	return nil
}
