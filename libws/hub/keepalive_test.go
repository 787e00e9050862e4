package hub

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// keepaliveOpts pings after 200 ms without input and gives up 300 ms
// after an unanswered ping.
var keepaliveOpts = Options{PingInterval: 200 * time.Millisecond, PongTimeout: 300 * time.Millisecond}

// expectKeepaliveTimeout waits for a connection to be failed for an
// unanswered ping: an error event 1011 with status ETimedOut, then its
// close event, within interval + timeout and the tick's slack.
func expectKeepaliveTimeout(t *testing.T, host *testHost, id uint64, start time.Time) {
	t.Helper()
	r := waitEvent(t, host, EventError, id, 5*time.Second)
	if r.Code != uint16(libws.StatusInternalError) || r.Status != ETimedOut || string(r.Payload) != "keepalive ping timeout" {
		t.Fatalf("error event code %d status %d %q", r.Code, r.Status, r.Payload)
	}
	waitEvent(t, host, EventClose, id, 5*time.Second)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("closed after %v, want about interval + timeout (500 ms)", took)
	}
}

// readUntilClose reads the frames a silent peer gets: a ping, then the
// close frame 1011 "keepalive ping timeout".
func readUntilClose(t *testing.T, nc net.Conn, p *libws.Protocol) {
	t.Helper()
	sawPing := false
	buf := make([]byte, 4096)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("no close frame (ping seen: %v): %v", sawPing, err)
		}
		p.Feed(buf[:n])
		for {
			f, ok, err := p.NextFrame()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			switch f.OpCode {
			case libws.OpPing:
				sawPing = true
			case libws.OpClose:
				code, reason, _ := p.CloseStatus()
				if !sawPing || code != libws.StatusInternalError || reason != "keepalive ping timeout" {
					t.Fatalf("close %d %q, ping seen %v", code, reason, sawPing)
				}
				return
			}
		}
	}
}

// A peer that never answers a ping (a pulled cable: no FIN, no input) is
// closed within PingInterval + PongTimeout, as websockets does: 1011
// "keepalive ping timeout", status ETimedOut.
func TestKeepaliveClosesSilentPeerEpoll(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		h, host, _ := newHostHub(t, o)
		lo := keepaliveOpts
		_, port, err := h.Listen("127.0.0.1:0", &lo)
		if err != nil {
			t.Fatal(err)
		}
		id, nc, p := openRaw(t, host, port, "/")
		start := time.Now()
		done := make(chan struct{})
		go func() { defer close(done); readUntilClose(t, nc, p) }()
		expectKeepaliveTimeout(t, host, id, start)
		<-done
	})
}

func TestKeepaliveClosesSilentPeerTLS(t *testing.T) {
	h, host, _ := newHostHub(t, Options{})
	lo := keepaliveOpts
	lo.TLS = selfSigned(t)
	_, port, err := h.Listen("127.0.0.1:0", &lo)
	if err != nil {
		t.Fatal(err)
	}
	nc, p := tlsUpgrade(t, port)
	start := time.Now()
	id := waitEvent(t, host, EventOpen, 0, 5*time.Second).Conn
	done := make(chan struct{})
	go func() { defer close(done); readUntilClose(t, nc, p) }()
	expectKeepaliveTimeout(t, host, id, start)
	<-done
}

// A hub client whose server never answers pings (it never reads).
func TestKeepaliveClosesSilentServerClient(t *testing.T) {
	h, host := newClientHub(t)
	lo := keepaliveOpts
	id, err := h.Connect(stuckServer(t), &lo)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, host, EventOpen, id, 5*time.Second)
	expectKeepaliveTimeout(t, host, id, time.Now())
}

// answerPings reads a peer's frames and answers each ping with a pong,
// until the socket closes.
func answerPings(nc net.Conn, p *libws.Protocol) {
	buf := make([]byte, 4096)
	nc.SetReadDeadline(time.Time{})
	for {
		n, err := nc.Read(buf)
		if err != nil {
			return
		}
		p.Feed(buf[:n])
		for {
			f, ok, err := p.NextFrame()
			if err != nil || !ok {
				break
			}
			if f.OpCode == libws.OpPing {
				out, _ := p.AppendFrame(nil, true, libws.OpPong, f.Payload)
				time.Sleep(2 * time.Millisecond) // a round trip long enough to measure
				nc.Write(out)
			}
		}
	}
}

// A peer that answers stays open, and the pong event of a keepalive ping
// carries its round trip in microseconds (aux), which Hub.Latency also
// gives.
func TestKeepaliveLatency(t *testing.T) {
	check := func(t *testing.T, h *Hub, host *testHost, id uint64) {
		t.Helper()
		r := waitEvent(t, host, EventPong, id, 5*time.Second)
		if r.Aux < 2000 || r.Aux > 2_000_000 {
			t.Fatalf("pong aux %d µs, want the round trip (>= 2 ms)", r.Aux)
		}
		if d, ok := h.Latency(id); !ok || d < 2*time.Millisecond {
			t.Fatalf("Latency %v %v", d, ok)
		}
		// Answered pings keep it open past interval + timeout.
		noEvent(t, host, EventClose, time.Second)
	}
	t.Run("epoll", func(t *testing.T) {
		eachMode(t, func(t *testing.T, o Options) {
			h, host, _ := newHostHub(t, o)
			lo := keepaliveOpts
			_, port, err := h.Listen("127.0.0.1:0", &lo)
			if err != nil {
				t.Fatal(err)
			}
			id, nc, p := openRaw(t, host, port, "/")
			go answerPings(nc, p)
			check(t, h, host, id)
		})
	})
	t.Run("tls", func(t *testing.T) {
		h, host, _ := newHostHub(t, Options{})
		lo := keepaliveOpts
		lo.TLS = selfSigned(t)
		_, port, err := h.Listen("127.0.0.1:0", &lo)
		if err != nil {
			t.Fatal(err)
		}
		nc, p := tlsUpgrade(t, port)
		id := waitEvent(t, host, EventOpen, 0, 5*time.Second).Conn
		go answerPings(nc, p)
		check(t, h, host, id)
	})
	t.Run("client", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			defer nc.Close()
			if _, _, err := libws.UpgradeConn(nc, nil); err != nil {
				return
			}
			answerPings(nc, libws.NewProtocol(libws.RoleServer, nil))
		}()
		h, host := newClientHub(t)
		lo := keepaliveOpts
		id, err := h.Connect(fmt.Sprintf("ws://%s/", ln.Addr()), &lo)
		if err != nil {
			t.Fatal(err)
		}
		waitEvent(t, host, EventOpen, id, 5*time.Second)
		check(t, h, host, id)
	})
}

// A connection the host paused is not failed for an unread pong: the peer
// answered, the hub just is not reading. Resumed, it reads the pong.
func TestKeepaliveSparesPausedConnection(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		h, host, _ := newHostHub(t, o)
		lo := keepaliveOpts
		_, port, err := h.Listen("127.0.0.1:0", &lo)
		if err != nil {
			t.Fatal(err)
		}
		id, nc, p := openRaw(t, host, port, "/")
		go answerPings(nc, p)
		host.send(CmdPause, 0, 0, id, nil)
		noEvent(t, host, EventClose, 1500*time.Millisecond)
		host.send(CmdResume, 0, 0, id, nil)
		waitEvent(t, host, EventPong, id, 5*time.Second)
		noEvent(t, host, EventClose, 500*time.Millisecond)
	})
}
