package hub

import (
	"testing"
	"time"
)

// The session's timers, without I/O: what each state asks of the
// transport once a deadline or timer passes.
func TestSessionDue(t *testing.T) {
	opts := (&Options{IdleTimeout: 10 * time.Second, PingInterval: 3 * time.Second, PongTimeout: 1500 * time.Millisecond}).withDefaults()
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name  string
		setup func(s *session)
		at    time.Duration
		want  int
	}{
		{"handshake in time", func(s *session) {}, 9 * time.Second, dueNone},
		{"handshake too slow", func(s *session) {}, 11 * time.Second, dueDrop},
		{"open, quiet", func(s *session) { s.opened() }, time.Second, dueNone},
		{"open, ping due", func(s *session) { s.opened() }, 4 * time.Second, duePing},
		{"open, ping out", func(s *session) { s.opened(); s.pinged = true; s.pongDue = t0.Add(5 * time.Second) }, 4 * time.Second, dueNone},
		{"open, idle", func(s *session) { s.opened() }, 11 * time.Second, dueIdle},
		{"input resets idle", func(s *session) { s.opened(); s.input(t0.Add(5 * time.Second)) }, 11 * time.Second, duePing},
		{"peer closed, host slow", func(s *session) { s.opened(); s.to(stPeerClosed, t0) }, 6 * time.Second, dueAnswer},
		{"failed, host slow", func(s *session) { s.opened(); s.to(stFailed, t0) }, 6 * time.Second, dueAnswer},
		{"failed, no idle timer", func(s *session) { s.opened(); s.to(stFailed, t0) }, 4 * time.Second, dueNone},
		{"closing, no reply", func(s *session) { s.opened(); s.to(stClosing, t0) }, 6 * time.Second, dueCloseGone},
		{"ping out, pong late", func(s *session) { s.opened(); s.due(t0.Add(4 * time.Second)) }, 6 * time.Second, dueKeepalive},
		{"ping out, pong in time", func(s *session) { s.opened(); s.due(t0.Add(4 * time.Second)) }, 5 * time.Second, dueNone},
		{"ping out, paused", func(s *session) { s.opened(); s.due(t0.Add(4 * time.Second)); s.setPaused(true, t0) }, 6 * time.Second, dueNone},
		{"ping out, input", func(s *session) { s.opened(); s.due(t0.Add(4 * time.Second)); s.input(t0.Add(4500 * time.Millisecond)) }, 6 * time.Second, dueNone},
		{"draining over", func(s *session) { s.opened(); s.to(stDraining, t0) }, 3 * time.Second, dueDrop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s session
			s.start(t0, &opts)
			tc.setup(&s)
			if got := s.due(t0.Add(tc.at)); got != tc.want {
				t.Fatalf("due %d, want %d", got, tc.want)
			}
		})
	}
}

// Backpressure is reported once per crossing, with hysteresis, and
// MaxBuffered fails the connection unless it is already draining.
func TestSessionPressure(t *testing.T) {
	opts := (&Options{HighWater: 100, MaxBuffered: 1000}).withDefaults()
	var s session
	s.start(time.Now(), &opts)
	s.opened()
	for i, step := range []struct {
		n    int
		want int
	}{
		{50, pressureNone}, {101, pressureHigh}, {500, pressureNone}, {60, pressureNone},
		{50, pressureLow}, {40, pressureNone}, {1000, pressureOver},
	} {
		if got := s.pressure(step.n); got != step.want {
			t.Fatalf("step %d (%d bytes): %d, want %d", i, step.n, got, step.want)
		}
	}
	s.to(stDraining, time.Now())
	if got := s.pressure(2000); got == pressureOver {
		t.Fatal("a draining connection is failed again")
	}
}
