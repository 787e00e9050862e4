//go:build linux

package main

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

func TestDeflateBomb(t *testing.T) {
	const size = 8 * mib
	bomb, err := deflateBomb(size)
	if err != nil {
		t.Fatal(err)
	}
	if len(bomb) > size/500 {
		t.Errorf("bomb is %d bytes for %d inflated: not a bomb", len(bomb), size)
	}
	// The receiver appends the 00 00 ff ff the sender dropped (RFC 7692).
	in := append(bytes.Clone(bomb), 0, 0, 0xff, 0xff)
	out, err := io.ReadAll(flate.NewReader(bytes.NewReader(in)))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("inflate: %v", err)
	}
	if len(out) != size || bytes.IndexFunc(out, func(r rune) bool { return r != 0 }) >= 0 {
		t.Errorf("inflated to %d bytes (want %d zeros)", len(out), size)
	}
	for _, bad := range []int{0, -mib, mib + 1} {
		if _, err := deflateBomb(bad); err == nil {
			t.Errorf("deflateBomb(%d) = nil error", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		rss, hwm int64
		ok       bool
	}{
		{"running", "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n", 1024, 2048, true},
		{"zombie", "Name:\tx\nState:\tZ (zombie)\n", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rss, hwm, ok := parseStatus([]byte(tc.in))
			if rss != tc.rss || hwm != tc.hwm || ok != tc.ok {
				t.Errorf("got %d %d %v, want %d %d %v", rss, hwm, ok, tc.rss, tc.hwm, tc.ok)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
		err  bool
	}{
		// utime 150 and stime 50 ticks: fields 14 and 15.
		{"plain", "42 (node) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0", 2 * time.Second, false},
		{"name with ) and spaces", "42 (a) b (c) R 1 2 3 4 5 6 7 8 9 10 3 4 0 0", 70 * time.Millisecond, false},
		{"truncated", "42 (x) S 1 2", 0, true},
		{"no name", "42 x S", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.in))
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestMonitorStopsTheAttack: past the limit the attack's context ends with
// the reason, and the peak is recorded; the process is not killed below
// killAt.
func TestMonitorStopsTheAttack(t *testing.T) {
	m := &monitor{pid: os.Getpid(), limit: 1, killAt: 1 << 40}
	ctx, stop := context.WithCancelCause(context.Background())
	m.sample(stop)
	if !m.over || m.killed || m.gone {
		t.Fatalf("over %v killed %v gone %v", m.over, m.killed, m.gone)
	}
	if cause := context.Cause(ctx); cause == nil || !strings.Contains(cause.Error(), "passed the limit") {
		t.Errorf("cause %v", cause)
	}
	if m.peakKiB() <= 0 {
		t.Errorf("peak %d KiB", m.peakKiB())
	}
}

// echoServer serves libws's Go connection on a loopback port; alter, if
// set, changes each message before it goes back.
func echoServer(t *testing.T, alter func([]byte)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c, _, err := libws.UpgradeConn(nc, nil)
				if err != nil {
					return
				}
				defer c.CloseNow()
				for {
					op, msg, err := c.ReadMessage()
					if err != nil {
						return
					}
					if alter != nil {
						alter(msg)
					}
					if c.WriteMessage(op, msg) != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestClientEcho(t *testing.T) {
	tests := []struct {
		name    string
		alter   func([]byte)
		wantErr string
	}{
		{"exact", nil, ""},
		{"a byte changed", func(b []byte) { b[len(b)/2] ^= 1 }, "echo differs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := echoServer(t, tc.alter)
			c, err := dial(addr, dialOptions{timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.shutdown(time.Second)
			for _, op := range []libws.Opcode{libws.OpText, libws.OpBinary} {
				for _, n := range []int{1, 125, 126, 70000} {
					err := c.echo(op, payload(op, n), 5*time.Second)
					if tc.wantErr == "" && err != nil {
						t.Fatalf("%s of %d bytes: %v", op, n, err)
					}
					if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
						t.Fatalf("%s of %d bytes: error %v, want %q", op, n, err, tc.wantErr)
					}
				}
			}
		})
	}
}
