//go:build linux

package main

// A minimal RFC 6455 client that an attack can misuse: it writes any frame
// it is told to (huge, compressed or never read back), and reads frames
// itself. The wire format comes from libws's exported primitives
// (PutHeader, ParseHeader, Mask, AcceptKey), so the stress driver holds no
// second copy of it; what it tests is resource use, not conformance, which
// the interop suite and bench/loadgen (written without libws) cover.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libws/libws/libws"
)

// deflateOffer is what a browser offers; the servers under test accept it
// when their compression is on.
const deflateOffer = "permessage-deflate; client_max_window_bits"

type client struct {
	nc      net.Conn
	br      *bufio.Reader
	deflate bool // the server accepted permessage-deflate

	wmu sync.Mutex // frames are written whole, one writer at a time
	wb  []byte
}

// closeError is a close frame received from the server.
type closeError struct{ code libws.StatusCode }

func (e *closeError) Error() string { return fmt.Sprintf("server closed with %d", e.code) }

// dialOptions shape one connection.
type dialOptions struct {
	timeout      time.Duration // dial + handshake
	offerDeflate bool
	rcvbuf       int // SO_RCVBUF before connect (0: the kernel's default)
	readBuf      int // bufio size (0: 4 KiB)
}

// dial opens a TCP connection to addr and performs the opening handshake.
func dial(addr string, o dialOptions) (*client, error) {
	d := net.Dialer{Timeout: o.timeout}
	if o.rcvbuf > 0 {
		// Set before connect so that the window the server sees is small
		// from the start: every read the client makes then frees little.
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c, err := handshake(nc, addr, o)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func handshake(nc net.Conn, host string, o dialOptions) (*client, error) {
	var seed [16]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString(seed[:])
	if err := nc.SetDeadline(time.Now().Add(o.timeout)); err != nil {
		return nil, err
	}
	ext := ""
	if o.offerDeflate {
		ext = "Sec-WebSocket-Extensions: " + deflateOffer + "\r\n"
	}
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n" + ext + "\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, fmt.Errorf("handshake: write request: %w", err)
	}
	size := o.readBuf
	if size <= 0 {
		size = 4096
	}
	br := bufio.NewReaderSize(nc, size)
	tp := textproto.NewReader(br)
	status, err := tp.ReadLine()
	if err != nil {
		return nil, fmt.Errorf("handshake: read status line: %w", err)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 101") {
		return nil, fmt.Errorf("handshake: server answered %q", status)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("handshake: read headers: %w", err)
	}
	if got, want := hdr.Get("Sec-WebSocket-Accept"), libws.AcceptKey(key); got != want {
		return nil, fmt.Errorf("handshake: Sec-WebSocket-Accept is %q, want %q", got, want)
	}
	c := &client{nc: nc, br: br}
	if v := hdr.Get("Sec-WebSocket-Extensions"); v != "" {
		if !o.offerDeflate || !strings.HasPrefix(strings.TrimSpace(v), "permessage-deflate") {
			return nil, fmt.Errorf("handshake: unexpected extensions %q", v)
		}
		c.deflate = true
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return c, nil
}

// appendFrame appends a masked client frame to dst.
func appendFrame(dst []byte, fin bool, rsv byte, op libws.Opcode, payload []byte) []byte {
	h := libws.Header{Fin: fin, Rsv: rsv, OpCode: op, Masked: true, Length: int64(len(payload))}
	k := mrand.Uint32()
	h.Mask = [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	var hb [libws.MaxHeaderSize]byte
	n, _ := libws.PutHeader(hb[:], &h)
	dst = append(dst, hb[:n]...)
	start := len(dst)
	dst = append(dst, payload...)
	libws.Mask(dst[start:], h.Mask, 0)
	return dst
}

// writeFrame sends one frame, bounded by timeout (0: no bound).
func (c *client) writeFrame(rsv byte, op libws.Opcode, payload []byte, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wb = appendFrame(c.wb[:0], true, rsv, op, payload)
	return c.writeRaw(c.wb, timeout)
}

// writeRaw sends bytes already framed (e.g. one frame built once and sent
// many times).
func (c *client) writeRaw(b []byte, timeout time.Duration) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	if err := c.nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := c.nc.Write(b)
	return err
}

// readMessage reads the next data message, joining fragments. Its payload
// is returned when at most max bytes; a longer one is read and discarded
// and counted in n. Pings and pongs are skipped; a close frame gives a
// *closeError.
func (c *client) readMessage(max int64) (op libws.Opcode, msg []byte, n int64, err error) {
	var hb [libws.MaxHeaderSize]byte
	for {
		if _, err = io.ReadFull(c.br, hb[:2]); err != nil {
			return 0, nil, n, err
		}
		size := 2
		switch hb[1] & 0x7F {
		case 126:
			size += 2
		case 127:
			size += 8
		}
		if hb[1]&0x80 != 0 {
			size += 4
		}
		if _, err = io.ReadFull(c.br, hb[2:size]); err != nil {
			return 0, nil, n, err
		}
		h, _, err := libws.ParseHeader(hb[:size])
		if err != nil {
			return 0, nil, n, err
		}
		if h.Masked {
			return 0, nil, n, errors.New("server sent a masked frame")
		}
		if h.OpCode.IsControl() {
			p := make([]byte, h.Length)
			if _, err = io.ReadFull(c.br, p); err != nil {
				return 0, nil, n, err
			}
			if h.OpCode == libws.OpClose {
				code, _, perr := libws.ParseClosePayload(p)
				if perr != nil {
					return 0, nil, n, fmt.Errorf("bad close frame: %w", perr)
				}
				return 0, nil, n, &closeError{code}
			}
			continue
		}
		if h.OpCode != libws.OpContinuation {
			op = h.OpCode
		}
		// A compressed message is counted, not inflated: no attack reads one
		// back but to see that it came.
		if h.Rsv != 0 && !(c.deflate && h.Rsv == libws.Rsv1 && h.OpCode != libws.OpContinuation) {
			return 0, nil, n, fmt.Errorf("server set reserved bits %#x", h.Rsv)
		}
		if n+h.Length <= max {
			start := len(msg)
			msg = append(msg, make([]byte, h.Length)...)
			if _, err = io.ReadFull(c.br, msg[start:]); err != nil {
				return 0, nil, n, err
			}
		} else {
			if _, err = io.CopyN(io.Discard, c.br, h.Length); err != nil {
				return 0, nil, n, err
			}
			msg = nil
		}
		n += h.Length
		if h.Fin {
			return op, msg, n, nil
		}
	}
}

// echo sends payload as one message of op and checks that the same bytes
// come back with the same opcode, all within timeout.
func (c *client) echo(op libws.Opcode, payload []byte, timeout time.Duration) error {
	if err := c.nc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if err := c.writeFrame(0, op, payload, timeout); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	gotOp, got, _, err := c.readMessage(int64(len(payload)))
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	if gotOp != op || !bytes.Equal(got, payload) {
		return fmt.Errorf("echo differs: sent %s of %d bytes, got %s of %d bytes", op, len(payload), gotOp, len(got))
	}
	return c.nc.SetReadDeadline(time.Time{})
}

// shutdown runs the closing handshake within timeout, then drops the
// connection whatever happened: the server then closes first and keeps the
// TIME_WAIT, so a run of 5,000 clients does not use up local ports.
func (c *client) shutdown(timeout time.Duration) {
	defer c.nc.Close()
	if c.writeFrame(0, libws.OpClose, libws.ClosePayload(nil, libws.StatusNormalClosure, ""), timeout) != nil {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	for {
		if _, _, _, err := c.readMessage(0); err != nil {
			return
		}
	}
}

// payload returns n bytes for a message of op: printable ASCII for text
// (valid UTF-8 whatever the cut), random bytes for binary.
func payload(op libws.Opcode, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(mrand.Uint32())
		if op == libws.OpText {
			b[i] = ' ' + b[i]%95
		}
	}
	return b
}
