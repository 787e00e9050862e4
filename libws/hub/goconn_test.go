package hub

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// selfSigned is a TLS server configuration with a throwaway certificate
// for 127.0.0.1.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "libws test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// tlsUpgrade is rawUpgrade over TLS.
func tlsUpgrade(t *testing.T, port int) (net.Conn, *libws.Protocol) {
	t.Helper()
	nc, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc, upgradeOn(t, nc)
}

// upgradeOn does a client's opening handshake on nc, reading no byte
// past the response head.
func upgradeOn(t *testing.T, nc net.Conn) *libws.Protocol {
	t.Helper()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := nc.Read(b); err != nil {
			t.Fatalf("handshake: %v after %q", err, head)
		}
		head = append(head, b[0])
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
		t.Fatalf("handshake: %q", head)
	}
	return libws.NewProtocol(libws.RoleClient, nil)
}

// A close the server starts ends with the server closing the TCP
// connection as soon as the peer has answered (RFC 6455 7.1.1), plain or
// TLS: a peer that waits for that FIN before closing its own side must
// not wait for the hub's linger deadline. Over TLS the close_notify alert
// alone is not a FIN.
func TestServerCloseEndsTCPPromptly(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", secure), func(t *testing.T) {
			host := newTestHost()
			h, err := New(host, nil)
			if err != nil {
				t.Fatal(err)
			}
			host.hub = h
			t.Cleanup(func() { h.Shutdown(time.Second) })
			lo := &Options{}
			if secure {
				lo.TLS = selfSigned(t)
			}
			_, port, err := h.Listen("127.0.0.1:0", lo)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			nc := raw
			if secure {
				nc = tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
			}
			p := upgradeOn(t, nc)
			id := waitEvent(t, host, EventOpen, 0, 5*time.Second).Conn
			host.send(CmdClose, 0, 4000, id, []byte("bye"))
			if got := readFrames(t, nc, p, 1); got[0].OpCode != libws.OpClose {
				t.Fatalf("got %+v, want the close frame", got[0])
			}
			if _, err := nc.Write(maskedFrame(0x88, []byte{0x0f, 0xa0})); err != nil {
				t.Fatal(err)
			}
			waitEvent(t, host, EventClose, id, 5*time.Second)
			// The peer keeps its side open and reads: the FIN must come
			// well before the hub's 2 s linger (a liveness bound).
			start := time.Now()
			raw.SetReadDeadline(start.Add(5 * time.Second))
			var err2 error
			for b := make([]byte, 256); err2 == nil; {
				_, err2 = raw.Read(b) // a close_notify record may come first
			}
			if took := time.Since(start); !errors.Is(err2, io.EOF) || took > time.Second {
				t.Fatalf("TCP ended with %v after %v, want EOF at once", err2, took)
			}
		})
	}
}

// A TLS connection follows the session's close rules like a plain one:
// replies before the close of a violation, and a close reply that echoes
// the peer's code and reason.
func TestTLSCloseOrdering(t *testing.T) {
	for _, tc := range []struct {
		name string
		last []byte
		code libws.StatusCode
		why  string
	}{
		{"violation", maskedFrame(0x81|0x40, []byte("x")), 1002, ""},
		{"peer close", maskedFrame(0x88, append([]byte{0x0f, 0xa1}, "bye"...)), 4001, "bye"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, port, _ := startEcho(t, &Options{TLS: selfSigned(t)})
			nc, p := tlsUpgrade(t, port)
			in := append(maskedFrame(0x81, []byte("one")), maskedFrame(0x81, []byte("two"))...)
			nc.Write(append(in, tc.last...))
			got := readFrames(t, nc, p, 3)
			if len(got) != 3 || string(got[0].Payload) != "one" || string(got[1].Payload) != "two" || got[2].OpCode != libws.OpClose {
				t.Fatalf("got %d frames: %+v", len(got), got)
			}
			code, reason, _ := p.CloseStatus()
			if code != tc.code || (tc.why != "" && reason != tc.why) {
				t.Fatalf("close %d %q, want %d %q", code, reason, tc.code, tc.why)
			}
		})
	}
}

// A hub client over wss with compression: the negotiated parameters are
// taken from the response, and messages round-trip through a hub server.
func TestClientWSSCompressedEcho(t *testing.T) {
	_, port, _ := startEcho(t, &Options{TLS: selfSigned(t), Compression: &libws.CompressionOptions{}})
	h, host := newClientHub(t)
	id, err := h.Connect(fmt.Sprintf("wss://127.0.0.1:%d/c", port), &Options{
		TLS:         &tls.Config{InsecureSkipVerify: true},
		Compression: &libws.CompressionOptions{},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := waitEvent(t, host, EventOpen, id, 5*time.Second)
	f, err := OpenFields(r.Payload)
	if err != nil || !bytes.Contains([]byte(f[OpenHeaders]), []byte("permessage-deflate")) {
		t.Fatalf("open %q %v: no compression negotiated", f, err)
	}
	msg := bytes.Repeat([]byte("compressible "), 1000)
	for i := 0; i < 3; i++ {
		host.send(CmdSend, uint8(libws.OpText), 0, id, msg)
		if r := waitEvent(t, host, EventMessage, id, 5*time.Second); !bytes.Equal(r.Payload, msg) {
			t.Fatalf("echo %d: %d bytes", i, len(r.Payload))
		}
	}
	host.send(CmdClose, 0, 1000, id, []byte("done"))
	if r := waitEvent(t, host, EventClose, id, 5*time.Second); r.Code != 1000 || string(r.Payload) != "done" {
		t.Fatalf("close %d %q", r.Code, r.Payload)
	}
}

// Frames a server sends in the same segment as its 101 response reach the
// hub client's host.
// serveRaw accepts one client on a socket of its own, answers its
// handshake with a 101, then lets serve write what it likes; it returns
// the address to dial.
func serveRaw(t *testing.T, serve func(nc net.Conn, response []byte)) string {
	t.Helper()
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
		var req []byte
		b := make([]byte, 1)
		for !bytes.HasSuffix(req, []byte("\r\n\r\n")) {
			if _, err := nc.Read(b); err != nil {
				return
			}
			req = append(req, b[0])
		}
		r, _, _ := libws.ParseRequest(req)
		if r == nil {
			return
		}
		resp, _, _ := r.Accept(nil)
		serve(nc, resp)
	}()
	return ln.Addr().String()
}

func TestClientGetsFramesBehindTheResponse(t *testing.T) {
	addr := serveRaw(t, func(nc net.Conn, resp []byte) {
		resp = append(resp, 0x81, 5, 'h', 'e', 'l', 'l', 'o', 0x82, 1, 7)
		nc.Write(resp)
		time.Sleep(2 * time.Second)
	})
	h, host := newClientHub(t)
	id, err := h.Connect("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, host, EventOpen, id, 5*time.Second)
	if r := waitEvent(t, host, EventMessage, id, 5*time.Second); string(r.Payload) != "hello" {
		t.Fatalf("first %q", r.Payload)
	}
	if r := waitEvent(t, host, EventMessage, id, 5*time.Second); !bytes.Equal(r.Payload, []byte{7}) {
		t.Fatalf("second %q", r.Payload)
	}
}

// A client that cannot connect gets an error event with a status and a
// close event.
func TestClientDialErrorStatus(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h, host := newClientHub(t)
	for _, tc := range []struct {
		url    string
		status int32
	}{
		{"ws://" + addr + "/", EIO},
		{"http://" + addr + "/", EHandshake},
	} {
		id, err := h.Connect(tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := waitEvent(t, host, EventError, id, 5*time.Second); r.Status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.url, r.Status, tc.status, r.Payload)
		}
		waitEvent(t, host, EventClose, id, 5*time.Second)
	}
}

// A client still in its handshake when the hub shuts down (or the host
// terminates it) gets exactly one close event.
func TestClientEndedWhileDialing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			defer nc.Close() // accepts, never answers
		}
	}()
	host := newTestHost()
	h, err := New(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	host.hub = h
	a, _ := h.Connect("ws://"+ln.Addr().String()+"/", nil)
	b, _ := h.Connect("ws://"+ln.Addr().String()+"/", nil)
	time.Sleep(100 * time.Millisecond)
	host.send(CmdTerminate, 0, 0, a, nil)
	waitEvent(t, host, EventClose, a, 5*time.Second)
	h.Shutdown(time.Second)
	closes := map[uint64]int{a: 1}
	time.Sleep(300 * time.Millisecond) // a late event would come by now
	host.mu.Lock()
	for _, r := range host.events { // not host.next: the hub is gone
		if r.Kind == EventClose {
			closes[r.Conn]++
		}
	}
	host.mu.Unlock()
	if closes[a] != 1 || closes[b] != 1 {
		t.Fatalf("close events: %v (want one each for %d and %d)", closes, a, b)
	}
}

// A TLS listener that hits the descriptor limit keeps accepting once
// descriptors are free again.
func TestTLSAcceptSurvivesFDLimit(t *testing.T) {
	_, port, seen := startEcho(t, &Options{TLS: selfSigned(t)})
	release := exhaustFDs(t, 1) // one for the client's socket, none for accept
	raw, dialErr := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	time.Sleep(300 * time.Millisecond)
	release()
	if dialErr != nil {
		t.Fatal(dialErr)
	}
	defer raw.Close()
	nc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	for deadline := time.After(5 * time.Second); ; {
		select {
		case r := <-seen:
			if r.Kind == EventOpen {
				return
			}
		case <-deadline:
			t.Fatal("no connection accepted after the limit was lifted")
		}
	}
}

// Many hub clients echo through a hub's TLS listener at once: both ends
// are goroutine connections, every message comes back, in order.
func TestManyClientsThroughTLS(t *testing.T) {
	_, port, _ := startEcho(t, &Options{TLS: selfSigned(t)})
	h, host := newClientHub(t)
	const clients, msgs = 20, 50
	url := fmt.Sprintf("wss://127.0.0.1:%d/", port)
	opts := &Options{TLS: &tls.Config{InsecureSkipVerify: true}}
	next := map[uint64]int{}
	for i := 0; i < clients; i++ {
		id, err := h.Connect(url, opts)
		if err != nil {
			t.Fatal(err)
		}
		next[id] = 0
	}
	for done, deadline := 0, time.Now().Add(20*time.Second); done < clients*msgs; {
		r, ok := host.next(time.Until(deadline))
		if !ok {
			t.Fatalf("%d of %d echoes", done, clients*msgs)
		}
		switch r.Kind {
		case EventOpen:
			for j := 0; j < msgs; j++ {
				host.send(CmdSend, uint8(libws.OpText), 0, r.Conn, []byte(fmt.Sprintf("%d:%d", r.Conn, j)))
			}
		case EventMessage:
			if want := fmt.Sprintf("%d:%d", r.Conn, next[r.Conn]); string(r.Payload) != want {
				t.Fatalf("got %q, want %q", r.Payload, want)
			}
			next[r.Conn]++
			done++
		case EventError, EventClose:
			t.Fatalf("event %d for %d: %q", r.Kind, r.Conn, r.Payload)
		}
	}
}

// An idle TLS connection holds one goroutine, its reader: the writer a
// message started ends at a tick that finds it idle, and a new one starts
// for the next message.
func TestIdleTLSConnectionHoldsOneGoroutine(t *testing.T) {
	_, port, _ := startEcho(t, &Options{TLS: selfSigned(t)})
	const n = 20
	base := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	protos := make([]*libws.Protocol, n)
	for i := range conns {
		conns[i], protos[i] = tlsUpgrade(t, port)
	}
	echo := func(what string) {
		t.Helper()
		for i, nc := range conns {
			nc.Write(maskedFrame(0x81, []byte(what)))
			if got := readFrames(t, nc, protos[i], 1); string(got[0].Payload) != what {
				t.Fatalf("conn %d echoed %q, want %q", i, got[0].Payload, what)
			}
		}
	}
	echo("one")
	// Each connection's writer ran; within a few ticks only the readers
	// are left (a liveness bound: ticks come every 200 ms).
	var extra int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if extra = runtime.NumGoroutine() - base; extra <= n {
			break
		}
	}
	if extra > n {
		t.Fatalf("%d goroutines more than before for %d idle connections, want at most %d", extra, n, n)
	}
	echo("two") // a retired writer is started again
}

// splitWriter writes its next Write in two parts, pause apart, when armed.
type splitWriter struct {
	net.Conn
	armed bool
	pause time.Duration
}

func (s *splitWriter) Write(b []byte) (int, error) {
	if !s.armed || len(b) < 2 {
		return s.Conn.Write(b)
	}
	s.armed = false
	n, err := s.Conn.Write(b[:3])
	if err != nil {
		return n, err
	}
	time.Sleep(s.pause)
	m, err := s.Conn.Write(b[3:])
	return n + m, err
}

// A reader that gave up its buffer while idle (past readIdleAfter, at a
// tick) reads what comes next, whole or in pieces that straddle the idle
// time: a TLS record cut after its third byte, a frame cut in two
// records, over TLS and plain TCP.
func TestIdleReaderWakesForSplitInput(t *testing.T) {
	idle := readIdleAfter + 3*tickEvery
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", secure), func(t *testing.T) {
			o := &Options{}
			if secure {
				o.TLS = selfSigned(t)
			}
			_, port, _ := startEcho(t, o)
			raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { raw.Close() })
			sw := &splitWriter{Conn: raw, pause: idle}
			var nc net.Conn = sw
			if secure {
				nc = tls.Client(sw, &tls.Config{InsecureSkipVerify: true})
			}
			p := upgradeOn(t, nc)
			echo := func(what string, send func([]byte)) {
				t.Helper()
				send(maskedFrame(0x81, []byte(what)))
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				if got := readFrames(t, nc, p, 1); string(got[0].Payload) != what {
					t.Fatalf("echoed %q, want %q", got[0].Payload, what)
				}
			}
			time.Sleep(idle)
			echo("after idle", func(f []byte) { nc.Write(f) })
			time.Sleep(idle)
			echo("cut write", func(f []byte) { sw.armed = true; nc.Write(f) })
			echo("cut frame", func(f []byte) {
				nc.Write(f[:4])
				time.Sleep(idle)
				nc.Write(f[4:])
			})
		})
	}
}

// A connection read on its own goroutine runs ahead of a host that does
// not take its events by a bounded amount, as one the loop reads does: the
// reader waits while the host holds more than hostBacklogMax bytes, and
// everything arrives, in order, once the host takes it.
func TestReaderWaitsForASlowHost(t *testing.T) {
	const count, size = 200, 64 << 10 // 12.5 MiB, far more than the socket buffers hold
	addr := serveRaw(t, func(nc net.Conn, resp []byte) {
		nc.Write(resp)
		payload := make([]byte, size)
		for i := 0; i < count; i++ {
			binary.BigEndian.PutUint32(payload, uint32(i))
			frame := append([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 0}, payload...)
			binary.BigEndian.PutUint64(frame[2:], size)
			if _, err := nc.Write(frame); err != nil {
				return
			}
		}
		time.Sleep(10 * time.Second)
	})
	h, host := newClientHub(t)
	id, err := h.Connect("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, host, EventOpen, id, 5*time.Second)
	time.Sleep(time.Second) // the host takes nothing meanwhile
	// One read past the mark at most: the message it completes.
	if held, limit := host.Backlog(), hostBacklogMax+readBig+size+2*recordHeader; held > limit {
		t.Fatalf("the host holds %d bytes of events, over %d", held, limit)
	}
	for i := 0; i < count; i++ {
		r := waitEvent(t, host, EventMessage, id, 5*time.Second)
		if len(r.Payload) != size || binary.BigEndian.Uint32(r.Payload) != uint32(i) {
			t.Fatalf("message %d: %d bytes, number %d", i, len(r.Payload), binary.BigEndian.Uint32(r.Payload))
		}
	}
}
