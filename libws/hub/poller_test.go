//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package hub

import (
	"testing"

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
	// readiness waits up to ms and merges the events for a.
	readiness := func(ms int) (got pollEvent, n int) {
		t.Helper()
		k, err := p.wait(evs, ms)
		if err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
		for _, e := range evs[:k] {
			if e.fd != a {
				t.Fatalf("event for fd %d, watching %d", e.fd, a)
			}
			got.read, got.write, got.hup = got.read || e.read, got.write || e.write, got.hup || e.hup
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
