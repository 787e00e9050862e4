//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package hub

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The poller (epoll here, kqueue on macOS and the BSDs, where this test
// runs too) is level-triggered: unread input is reported on every wait,
// a descriptor watched for nothing is silent, write readiness is reported
// only while asked for, the peer's end comes as hup, and del silences.
func TestPollerLevelTriggered(t *testing.T) {
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := pair[0], pair[1]
	defer unix.Close(a)
	for _, fd := range pair {
		unix.SetNonblock(fd, true)
	}
	evs := make([]pollEvent, 8)
	type readinessOf struct{ read, write, hup bool }
	// readiness waits up to ms and merges the events for a.
	readiness := func(ms int) (got readinessOf, n int) {
		t.Helper()
		k, err := p.wait(evs, ms)
		if err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
		for i := range evs[:k] {
			e := &evs[i]
			if e.ident() != a {
				t.Fatalf("event for fd %d, watching %d", e.ident(), a)
			}
			got.read, got.write, got.hup = got.read || e.readable(), got.write || e.writable(), got.hup || e.hup()
			n++
		}
		return got, n
	}
	steps := []struct {
		name        string
		do          func() error
		wait        int
		read, write bool
		hup, none   bool
	}{
		{name: "idle", do: func() error { return p.add(a, true, false) }, wait: 50, none: true},
		{name: "input", do: func() error { _, err := unix.Write(b, []byte("x")); return err }, wait: 5000, read: true},
		{name: "input again, unread", do: func() error { return nil }, wait: 5000, read: true},
		{name: "paused", do: func() error { return p.mod(a, false, false) }, wait: 50, none: true},
		{name: "writable", do: func() error { return p.mod(a, false, true) }, wait: 5000, write: true},
		{name: "both", do: func() error { return p.mod(a, true, true) }, wait: 5000, read: true, write: true},
		{name: "peer gone", do: func() error {
			var buf [8]byte
			unix.Read(a, buf[:])
			p.mod(a, true, false)
			return unix.Close(b)
		}, wait: 5000, read: true, hup: true},
		{name: "deleted", do: func() error { return p.del(a) }, wait: 50, none: true},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, n := readiness(s.wait)
		if s.none {
			if n != 0 {
				t.Fatalf("%s: %d events %+v, want none", s.name, n, got)
			}
			continue
		}
		if got.read != s.read || got.write != s.write || got.hup != s.hup {
			t.Fatalf("%s: got read=%v write=%v hup=%v, want %v %v %v", s.name, got.read, got.write, got.hup, s.read, s.write, s.hup)
		}
	}
}

// pollIdents waits up to ms and returns the idents reported.
func pollIdents(t *testing.T, p *poller, ms int) []int {
	t.Helper()
	evs := make([]pollEvent, 8)
	n, err := p.wait(evs, ms)
	if err != nil && err != unix.EINTR {
		t.Fatal(err)
	}
	var ids []int
	for i := range evs[:max(n, 0)] {
		ids = append(ids, evs[i].ident())
	}
	return ids
}

// The tick (a timerfd, or kqueue's EVFILT_TIMER) is reported as tickID
// while set, keeps coming, and stops when set to 0: an idle loop costs
// nothing.
func TestPollerTick(t *testing.T) {
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if ids := pollIdents(t, p, 50); len(ids) != 0 {
		t.Fatalf("events %v before any tick was set", ids)
	}
	if err := p.setTick(10 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ids := pollIdents(t, p, 5000)
		if len(ids) != 1 || ids[0] != p.tickID() {
			t.Fatalf("tick %d: events %v, want [%d]", i, ids, p.tickID())
		}
		p.ackTick()
	}
	if err := p.setTick(0); err != nil {
		t.Fatal(err)
	}
	p.ackTick() // one may have come between the last wait and the stop
	if ids := pollIdents(t, p, 100); len(ids) != 0 {
		t.Fatalf("events %v after the tick was stopped", ids)
	}
}

// The waker: what hosts write to it (8-byte counts, many before the loop
// looks) makes its read side readable, and one drainWake takes them all.
func TestWakerDrains(t *testing.T) {
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	r, w, err := newWaker()
	if err != nil {
		t.Fatal(err)
	}
	defer closeWaker(r, w)
	if err := p.add(r, true, false); err != nil {
		t.Fatal(err)
	}
	for _, writes := range []int{1, 3, 100} {
		one := [8]byte{1}
		for range writes {
			if _, err := unix.Write(w, one[:]); err != nil {
				t.Fatalf("%d writes: %v", writes, err)
			}
		}
		if ids := pollIdents(t, p, 5000); len(ids) != 1 || ids[0] != r {
			t.Fatalf("%d writes: events %v, want [%d]", writes, ids, r)
		}
		drainWake(r)
		if ids := pollIdents(t, p, 50); len(ids) != 0 {
			t.Fatalf("%d writes: events %v after drainWake", writes, ids)
		}
	}
}
