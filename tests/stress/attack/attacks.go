//go:build linux

package main

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libws/libws/libws"
)

const mib = 1 << 20

// errStopped ends a sender when the attack was stopped (RSS past the limit,
// the server gone).
var errStopped = errors.New("attack stopped")

// forEach calls fn(0..n-1) from par goroutines and waits for them.
func forEach(n, par int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, max(par, 1)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// firstError keeps the first of many errors, and counts them.
type firstError struct {
	mu    sync.Mutex
	n     int
	first error
}

func (f *firstError) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.first == nil {
		f.first = err
	}
}

// dialAll opens n connections, o.dialers at a time; each failure is kept in
// errs, each success is tracked.
func (r *run) dialAll(n int, do dialOptions, errs *firstError) []*client {
	conns := make([]*client, n)
	forEach(n, r.o.dialers, func(i int) {
		if r.stopped() {
			return
		}
		c, err := dial(r.o.addr, do)
		if err != nil {
			errs.add(fmt.Errorf("client %d: %w", i, err))
			return
		}
		if r.track(c) {
			conns[i] = c
		}
	})
	return conns
}

// attackClients holds o.clients connections open at once; each then echoes
// o.messages messages of up to o.maxSize bytes, text and binary, checked
// byte by byte, all connections at the same time.
func attackClients(r *run) {
	o := r.o
	stop := r.prober("during the attack")
	var errs firstError
	conns := r.dialAll(o.clients, dialOptions{timeout: 30 * time.Second}, &errs)
	open := 0
	for _, c := range conns {
		if c != nil {
			open++
		}
	}
	var echoed atomic.Int64
	forEach(len(conns), len(conns), func(i int) {
		c := conns[i]
		if c == nil {
			return
		}
		for k := range o.messages {
			op := libws.OpBinary
			if (i+k)%2 == 0 {
				op = libws.OpText
			}
			if err := c.echo(op, payload(op, 1+mrand.IntN(o.maxSize)), 30*time.Second); err != nil {
				if !r.stopped() {
					errs.add(fmt.Errorf("client %d, message %d: %w", i, k, err))
				}
				return
			}
			echoed.Add(1)
		}
	})
	stop()
	r.finalProbe(fmt.Sprintf("with %d clients open", open))
	forEach(len(conns), len(conns), func(i int) {
		if c := conns[i]; c != nil {
			c.shutdown(5 * time.Second)
			r.untrack(c)
		}
	})
	r.note("%d of %d clients open at once; %d of %d echoes byte-exact", open, o.clients, echoed.Load(), o.clients*o.messages)
	if errs.n > 0 && !r.stopped() {
		r.fail("%d clients failed; first: %v", errs.n, errs.first)
	}
}

// sendMiB writes frame (1 MiB of payload) n times on each connection, all
// connections at once, until fillEnd; it returns the MiB each sent and how
// each stopped (nil: sent them all).
func (r *run) sendMiB(conns []*client, frame []byte, n int, fillEnd time.Time) ([]int, []error) {
	sent := make([]int, len(conns))
	errs := make([]error, len(conns))
	forEach(len(conns), len(conns), func(i int) {
		for range n {
			left := time.Until(fillEnd)
			if r.stopped() {
				errs[i] = errStopped
				return
			}
			if left <= 0 {
				errs[i] = os.ErrDeadlineExceeded
				return
			}
			if err := conns[i].writeRaw(frame, left); err != nil {
				errs[i] = err
				if r.stopped() {
					errs[i] = errStopped
				}
				return
			}
			sent[i]++
		}
	})
	return sent, errs
}

// outcome sums up how the senders stopped.
func outcome(sent []int, errs []error) string {
	var total, all, stalled, dropped, stopped int
	for i, err := range errs {
		total += sent[i]
		switch {
		case err == nil:
			all++
		case errors.Is(err, os.ErrDeadlineExceeded):
			stalled++
		case errors.Is(err, errStopped):
			stopped++
		default:
			dropped++
		}
	}
	s := fmt.Sprintf("sent %d MiB in all: %d sent everything, %d stalled (the server stopped reading), %d dropped by the server",
		total, all, stalled, dropped)
	if stopped > 0 {
		s += fmt.Sprintf(", %d stopped by the driver", stopped)
	}
	return s
}

func (r *run) dialEach(n int, do dialOptions) []*client {
	var errs firstError
	conns := r.dialAll(n, do, &errs)
	if errs.n > 0 {
		r.fail("%d of %d connections failed to open; first: %v", errs.n, n, errs.first)
	}
	var ok []*client
	for _, c := range conns {
		if c != nil {
			ok = append(ok, c)
		}
	}
	return ok
}

// attackNonReaders: o.nonreaders clients each send o.nonreaderMiB messages
// of 1 MiB as fast as the server takes them, and never read a byte. A
// server that keeps echoing into its own buffers grows by all of it; one
// that pauses reading (TCP then pushes back) or fails them with 1008 does
// not.
func attackNonReaders(r *run) {
	o := r.o
	stop := r.prober("during the attack")
	conns := r.dialEach(o.nonreaders, dialOptions{timeout: 2 * o.liveness})
	frame := appendFrame(nil, true, 0, libws.OpBinary, payload(libws.OpBinary, mib))
	sent, errs := r.sendMiB(conns, frame, o.nonreaderMiB, time.Now().Add(o.fill))
	stop()
	r.finalProbe("with the non-readers still connected")
	r.note("%d non-reading clients, %d MiB each offered: %s", len(conns), o.nonreaderMiB, outcome(sent, errs))
}

// attackSlowReaders: o.slow clients with a small receive window send
// o.slowMiB MiB each without reading, so that the server holds their echoes
// as a backlog, then read it 4 KiB at a time, a millisecond apart, for
// o.drain. Every read frees a few KiB of window, so the server writes in
// small pieces: a server whose partial writes cost O(backlog) stalls every
// other connection while the readers drain.
func attackSlowReaders(r *run) {
	o := r.o
	stop := r.prober("during the attack")
	defer stop()
	conns := r.dialEach(o.slow, dialOptions{timeout: 2 * o.liveness, rcvbuf: o.rcvbuf})
	frame := appendFrame(nil, true, 0, libws.OpBinary, payload(libws.OpBinary, mib))
	sent, errs := r.sendMiB(conns, frame, o.slowMiB, time.Now().Add(o.fill))
	r.note("%d slow readers, %d MiB each offered: %s", len(conns), o.slowMiB, outcome(sent, errs))
	if r.stopped() {
		return
	}

	cpu0, _ := cpuTime(o.pid)
	start := time.Now()
	end := start.Add(o.drain)
	var read atomic.Int64
	forEach(len(conns), len(conns), func(i int) {
		c := conns[i]
		buf := make([]byte, 4096)
		c.nc.SetReadDeadline(end)
		for !r.stopped() {
			n, err := c.nc.Read(buf)
			read.Add(int64(n))
			if err != nil {
				return
			}
			if o.readPause > 0 {
				time.Sleep(o.readPause)
			}
		}
	})
	cpu1, _ := cpuTime(o.pid)
	stop()
	r.finalProbe("after the drain phase, slow readers still connected")
	r.note("read %d MiB back in 4 KiB reads over %s; server CPU meanwhile %s",
		read.Load()/mib, time.Since(start).Round(100*time.Millisecond), (cpu1 - cpu0).Round(10*time.Millisecond))
}

// deflateBomb returns the permessage-deflate payload of a message of size
// zero bytes (a multiple of 1 MiB): about size/1000 bytes. Zeros compress
// to the same bytes after every flush once the window holds nothing but
// zeros, so 1 MiB is compressed three times and the steady block repeated,
// instead of compressing a GiB; the result is checked by inflating it.
func deflateBomb(size int) ([]byte, error) {
	if size <= 0 || size%mib != 0 {
		return nil, fmt.Errorf("bomb size %d is not a positive multiple of 1 MiB", size)
	}
	var buf bytes.Buffer
	zw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return nil, err
	}
	zero := make([]byte, mib)
	var blocks [3][]byte
	for i := range blocks {
		zw.Write(zero)
		zw.Flush()
		blocks[i] = bytes.Clone(buf.Bytes())
		buf.Reset()
	}
	if !bytes.Equal(blocks[1], blocks[2]) {
		return nil, errors.New("flate's output for zeros does not repeat; cannot build the bomb")
	}
	bomb := append([]byte(nil), blocks[0]...)
	for range size/mib - 1 {
		bomb = append(bomb, blocks[1]...)
	}
	n, err := io.Copy(io.Discard, flate.NewReader(bytes.NewReader(bomb)))
	if n != int64(size) || !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("bomb inflates to %d bytes (%v), want %d", n, err, size)
	}
	// RFC 7692 §7.2.1: the sender drops the 00 00 ff ff of the final flush.
	return bytes.TrimSuffix(bomb, []byte{0, 0, 0xff, 0xff}), nil
}

// attackDeflateBomb sends one compressed message that inflates to
// o.bombMiB MiB. A server with a message limit fails the connection with
// 1009 while inflating; one without inflates (and echoes) all of it.
func attackDeflateBomb(r *run) {
	o := r.o
	bomb, err := deflateBomb(o.bombMiB * mib)
	if err != nil {
		r.fail("%v", err)
		return
	}
	stop := r.prober("during the attack")
	defer stop()
	c, err := dial(o.addr, dialOptions{timeout: 2 * o.liveness, offerDeflate: true})
	if err != nil {
		r.fail("dial: %v", err)
		return
	}
	if !r.track(c) {
		return
	}
	if !c.deflate {
		r.fail("the server declined permessage-deflate: no bomb sent")
		return
	}
	start := time.Now()
	werr := make(chan error, 1)
	go func() { werr <- c.writeFrame(libws.Rsv1, libws.OpBinary, bomb, o.bombWait) }()
	c.nc.SetReadDeadline(start.Add(o.bombWait))
	var echoed int64
	for {
		var n int64
		_, _, n, err = c.readMessage(0)
		echoed += n
		if err != nil {
			break
		}
	}
	took := time.Since(start).Round(10 * time.Millisecond)
	sendErr := <-werr
	stop()
	r.finalProbe("after the bomb")
	r.note("%d KiB compressed, %d MiB inflated; send: %s; server echoed %d MiB (on the wire); ended after %s: %v",
		len(bomb)>>10, o.bombMiB, describe(sendErr), echoed/mib, took, describe(err))
	var ce *closeError
	switch {
	case errors.As(err, &ce) && ce.code == libws.StatusMessageTooBig && echoed == 0:
	case r.stopped():
		// the RSS limit or the server's death is the failure
	case echoed > 0:
		r.fail("the server echoed the bomb (%d bytes on the wire) instead of refusing it with 1009", echoed)
	default:
		r.fail("the server did not refuse the bomb with 1009: %v", err)
	}
}

// attackFDChurn brings a server started with RLIMIT_NOFILE = o.fdLimit to
// that limit with o.churnConns connections (those past it wait in the
// listen backlog), then for o.window keeps dropping the oldest and opening
// new ones. A server whose accept fails with EMFILE must neither spin (its
// CPU time over the window is measured) nor stay unable to accept: once the
// connections are gone a fresh client must be echoed.
func attackFDChurn(r *run) {
	o := r.o
	req := []byte("GET / HTTP/1.1\r\nHost: " + o.addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	var mu sync.Mutex
	var held []*client
	var dialErrs firstError
	openOne := func() {
		nc, err := net.DialTimeout("tcp", o.addr, 2*time.Second)
		if err == nil {
			nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, err = nc.Write(req)
		}
		if err != nil {
			if nc != nil {
				nc.Close()
			}
			dialErrs.add(err)
			return
		}
		c := &client{nc: nc}
		if r.track(c) {
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}
	dropOne := func() {
		mu.Lock()
		defer mu.Unlock()
		if len(held) > 0 {
			held[0].nc.Close()
			r.untrack(held[0])
			held = held[1:]
		}
	}
	forEach(o.churnConns, 32, func(int) {
		if !r.stopped() {
			openOne()
		}
	})
	peakFDs := openFDs(o.pid)
	for wait := time.Now().Add(5 * time.Second); peakFDs < o.fdLimit-8 && time.Now().Before(wait) && !r.stopped(); {
		time.Sleep(50 * time.Millisecond)
		peakFDs = max(peakFDs, openFDs(o.pid))
	}

	cpu0, err := cpuTime(o.pid)
	start := time.Now()
	churned := 0
	for time.Since(start) < o.window && !r.stopped() {
		dropOne()
		openOne()
		churned++
		peakFDs = max(peakFDs, openFDs(o.pid))
		time.Sleep(20 * time.Millisecond)
	}
	cpu1, err1 := cpuTime(o.pid)
	elapsed := time.Since(start)
	mu.Lock()
	nheld := len(held)
	mu.Unlock()
	r.note("server at up to %d fds (RLIMIT_NOFILE %d) with %d connections held; %d dropped and replaced at the limit (%d dials failed)",
		peakFDs, o.fdLimit, nheld, churned, dialErrs.n)
	if r.stopped() {
		return
	}
	if err != nil || err1 != nil {
		r.fail("server CPU time unreadable: %v %v", err, err1)
	} else {
		share := float64(cpu1-cpu0) / float64(elapsed)
		r.note("server CPU over %s at the fd limit: %s (%.0f%% of a core; allowed %.0f%%)",
			elapsed.Round(10*time.Millisecond), (cpu1 - cpu0).Round(10*time.Millisecond), 100*share, 100*o.maxCPU)
		if share > o.maxCPU {
			r.fail("the server spins at the fd limit: %.0f%% of a core", 100*share)
		}
	}
	if peakFDs < o.fdLimit*3/4 {
		r.fail("the attack did not bring the server to its fd limit (%d of %d fds)", peakFDs, o.fdLimit)
	}
	for {
		mu.Lock()
		n := len(held)
		mu.Unlock()
		if n == 0 {
			break
		}
		dropOne()
	}
	r.finalProbe("once the connections at the fd limit were dropped")
}
