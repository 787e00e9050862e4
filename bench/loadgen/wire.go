//go:build linux

package main

// The WebSocket client side of RFC 6455, written by hand on purpose: the
// load generator must share no code with any server it measures (gorilla,
// gws, gobwas, libws…), so that a bug or a fast path in one library can't
// flatter or hide itself on both ends of the wire.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA

	// maxHeader is the longest client frame header: 2 bytes, a 64-bit
	// extended length and the 4-byte mask key.
	maxHeader = 2 + 8 + 4

	wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
)

// closeError reports a close frame received from the server.
type closeError struct {
	code   int // 1005 (no status) when the frame had no payload
	reason string
}

func (e *closeError) Error() string {
	if e.reason != "" {
		return fmt.Sprintf("server sent close frame (code %d, %q)", e.code, e.reason)
	}
	return fmt.Sprintf("server sent close frame (code %d)", e.code)
}

// conn is one client WebSocket connection.
//
// Reading is owned by a single goroutine. Writing may come from two: the
// sender of data frames and the reader answering pings (or closing), so
// frame writes, and the mask-key generator they use, are serialized by wmu.
type conn struct {
	nc net.Conn
	br *bufio.Reader

	wmu   sync.Mutex
	rng   uint64                // mask-key generator state, guarded by wmu
	ctlTx [maxHeader + 125]byte // outgoing control frames, guarded by wmu

	ctlRx [125]byte // incoming control payloads, reader-owned

	// deflate: permessage-deflate was negotiated (see deflate.go);
	// extensions is the server's Sec-WebSocket-Extensions answer.
	deflate    bool
	extensions string
	zin        []byte // a compressed message being read, reader-owned

	// Payload bytes of data messages: tx is owned by the goroutine sending
	// data frames, rx by the reader; read them once both are done.
	tx, rx traffic
}

// traffic counts data messages and their payload bytes, as the
// application sees them (raw) and as they cross the wire (after
// compression, frame headers not included).
type traffic struct {
	msgs, compressed uint64 // compressed: messages sent or received with RSV1
	raw, wire        uint64
}

// count adds one message of raw payload bytes that took wire bytes on the
// wire.
func (t *traffic) count(raw, wire int, compressed bool) {
	t.msgs++
	if compressed {
		t.compressed++
	}
	t.raw += uint64(raw)
	t.wire += uint64(wire)
}

func (t *traffic) add(o traffic) {
	t.msgs += o.msgs
	t.compressed += o.compressed
	t.raw += o.raw
	t.wire += o.wire
}

// acceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// dial opens a TCP connection to addr and performs the opening handshake
// for path on it. host is sent as the Host header. rbufSize sizes the read
// buffer that outlives the handshake. offerDeflate offers permessage-deflate
// (deflateOffer); whether the server took it is in the conn's deflate.
// With tlsConf (wss://) the TLS handshake comes first, bounded by the
// same timeout.
func dial(addr, host, path string, timeout time.Duration, rbufSize int, offerDeflate bool, tlsConf *tls.Config) (*conn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tlsConf != nil {
		tc := tls.Client(nc, tlsConf)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err = tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		nc = tc
	}
	c, err := handshake(nc, host, path, timeout, rbufSize, offerDeflate)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func handshake(nc net.Conn, host, path string, timeout time.Duration, rbufSize int, offerDeflate bool) (*conn, error) {
	var seed [8 + 16]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString(seed[8:])
	if err := nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	// Without -deflate, no Sec-WebSocket-Extensions: every peer is then
	// measured without permessage-deflate.
	ext := ""
	if offerDeflate {
		ext = "Sec-WebSocket-Extensions: " + deflateOffer + "\r\n"
	}
	req := "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" + ext + "\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, fmt.Errorf("handshake: write request: %w", err)
	}

	// textproto reads through br without buffering on its own, so any frame
	// bytes that arrive with the response stay in br for the frame reader.
	br := bufio.NewReaderSize(nc, rbufSize)
	tp := textproto.NewReader(br)
	status, err := tp.ReadLine()
	if err != nil {
		return nil, fmt.Errorf("handshake: read status line: %w", err)
	}
	proto, rest, _ := strings.Cut(status, " ")
	code, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") || code != "101" {
		return nil, fmt.Errorf("handshake: server answered %q, want 101 Switching Protocols", status)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("handshake: read headers: %w", err)
	}
	if v := hdr.Get("Upgrade"); !strings.EqualFold(v, "websocket") {
		return nil, fmt.Errorf("handshake: Upgrade header is %q, want websocket", v)
	}
	if !hasToken(hdr.Values("Connection"), "upgrade") {
		return nil, fmt.Errorf("handshake: Connection header %q lacks the upgrade token", hdr.Values("Connection"))
	}
	if got, want := hdr.Get("Sec-WebSocket-Accept"), acceptKey(key); got != want {
		return nil, fmt.Errorf("handshake: Sec-WebSocket-Accept is %q, want %q", got, want)
	}
	c := &conn{nc: nc, br: br, rng: binary.LittleEndian.Uint64(seed[:8]) | 1}
	if offerDeflate {
		exts := hdr.Values("Sec-WebSocket-Extensions")
		if _, c.deflate, err = parseDeflateResponse(exts); err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		c.extensions = strings.Join(exts, ", ")
	} else if v := hdr.Get("Sec-WebSocket-Extensions"); v != "" {
		return nil, fmt.Errorf("handshake: server negotiated extensions %q that were not offered", v)
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return c, nil
}

// hasToken reports whether a comma-separated header holds token.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// nextKey returns a frame mask key. RFC 6455 asks for keys unpredictable to
// intermediaries (against cache poisoning); there are none on loopback, and
// a crypto/rand call per frame would cost more than the framing itself, so
// an xorshift64* generator seeded from crypto/rand is used. Call with wmu.
func (c *conn) nextKey() uint32 {
	c.rng ^= c.rng >> 12
	c.rng ^= c.rng << 25
	c.rng ^= c.rng >> 27
	return uint32((c.rng * 2685821657736338717) >> 32)
}

// appendFrame writes into buf[:0] a final, masked frame carrying payload and
// returns it. buf should have room for maxHeader+len(payload) bytes so that
// the steady state allocates nothing.
func appendFrame(buf []byte, op byte, payload []byte, key uint32) []byte {
	n := len(payload)
	buf = buf[:0]
	switch {
	case n <= 125:
		buf = append(buf, 0x80|op, 0x80|byte(n))
	case n <= 0xFFFF:
		buf = append(buf, 0x80|op, 0x80|126, byte(n>>8), byte(n))
	default:
		buf = append(buf, 0x80|op, 0x80|127)
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	// Key byte j masks payload byte i when i%4 == j; storing the key little
	// endian lets maskCopy use it as-is on little-endian 8-byte words.
	buf = binary.LittleEndian.AppendUint32(buf, key)
	h := len(buf)
	if cap(buf)-h >= n {
		buf = buf[:h+n]
	} else {
		buf = append(buf, make([]byte, n)...)
	}
	maskCopy(buf[h:], payload, key)
	return buf
}

// maskCopy sets dst[i] = src[i] ^ key byte (i%4), 8 bytes at a time.
// Unmasking is the same operation.
func maskCopy(dst, src []byte, key uint32) {
	n := len(src)
	dst = dst[:n]
	k := uint64(key) | uint64(key)<<32
	i := 0
	for ; i+32 <= n; i += 32 {
		d, s := dst[i:i+32], src[i:i+32]
		binary.LittleEndian.PutUint64(d[0:], binary.LittleEndian.Uint64(s[0:])^k)
		binary.LittleEndian.PutUint64(d[8:], binary.LittleEndian.Uint64(s[8:])^k)
		binary.LittleEndian.PutUint64(d[16:], binary.LittleEndian.Uint64(s[16:])^k)
		binary.LittleEndian.PutUint64(d[24:], binary.LittleEndian.Uint64(s[24:])^k)
	}
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(src[i:])^k)
	}
	// i is a multiple of 8 here, so the key phase restarts at byte 0.
	for ; i < n; i++ {
		dst[i] = src[i] ^ byte(key>>(8*(i&3)))
	}
}

// send writes one data frame. buf is the caller's reusable frame buffer and
// is returned (grown only if it was too small).
func (c *conn) send(buf []byte, op byte, payload []byte) ([]byte, error) {
	c.wmu.Lock()
	buf = appendFrame(buf, op, payload, c.nextKey())
	_, err := c.nc.Write(buf)
	c.wmu.Unlock()
	return buf, err
}

// writeFrame writes a frame built beforehand (see load.frames).
func (c *conn) writeFrame(frame []byte) error {
	c.wmu.Lock()
	_, err := c.nc.Write(frame)
	c.wmu.Unlock()
	return err
}

// sendControl writes a control frame (payload at most 125 bytes).
func (c *conn) sendControl(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	f := appendFrame(c.ctlTx[:0], op, payload, c.nextKey())
	_, err := c.nc.Write(f)
	return err
}

// sendClose starts the closing handshake with status 1000 (normal closure).
func (c *conn) sendClose() error {
	return c.sendControl(opClose, []byte{0x03, 0xE8})
}

// readHeader reads one server frame header and checks what RFC 6455 says a
// client must check: no RSV bits (but RSV1, compressed, on the first frame
// of a data message once permessage-deflate is negotiated), no mask, sane
// control frames, known opcodes.
func (c *conn) readHeader() (fin bool, op byte, n int64, compressed bool, err error) {
	b, err := c.br.Peek(2)
	if err != nil {
		return false, 0, 0, false, err
	}
	b0, b1 := b[0], b[1]
	c.br.Discard(2) // cannot fail: Peek returned the bytes
	fin, op, n, compressed = b0&0x80 != 0, b0&0x0F, int64(b1&0x7F), b0&rsv1 != 0
	switch rsv := b0 & 0x70; {
	case rsv == 0:
	case !c.deflate:
		return fin, op, n, compressed, fmt.Errorf("protocol error: RSV bits set (%#x) without a negotiated extension", rsv)
	case rsv != rsv1:
		return fin, op, n, compressed, fmt.Errorf("protocol error: RSV bits set (%#x) beyond permessage-deflate's RSV1", rsv)
	case op != opText && op != opBinary:
		return fin, op, n, compressed, fmt.Errorf("protocol error: RSV1 set on a frame with opcode %#x, only allowed on a message's first frame", op)
	}
	if b1&0x80 != 0 {
		return fin, op, n, compressed, errors.New("protocol error: server frame is masked")
	}
	switch n {
	case 126:
		if b, err = c.br.Peek(2); err != nil {
			return fin, op, n, compressed, err
		}
		n = int64(binary.BigEndian.Uint16(b))
		c.br.Discard(2)
	case 127:
		if b, err = c.br.Peek(8); err != nil {
			return fin, op, n, compressed, err
		}
		u := binary.BigEndian.Uint64(b)
		c.br.Discard(8)
		if u>>63 != 0 {
			return fin, op, n, compressed, errors.New("protocol error: 64-bit frame length has its top bit set")
		}
		n = int64(u)
	}
	switch op {
	case opCont, opText, opBinary:
	case opClose, opPing, opPong:
		if !fin || n > 125 {
			return fin, op, n, compressed, fmt.Errorf("protocol error: control frame %#x fragmented or longer than 125 bytes (%d)", op, n)
		}
	default:
		return fin, op, n, compressed, fmt.Errorf("protocol error: reserved opcode %#x", op)
	}
	return fin, op, n, compressed, nil
}

// handleControl consumes the payload of a control frame whose header was
// just read: pings are answered, pongs ignored, and a close frame is
// returned as a *closeError.
func (c *conn) handleControl(op byte, n int64) error {
	p := c.ctlRx[:n]
	if _, err := io.ReadFull(c.br, p); err != nil {
		return err
	}
	switch op {
	case opPing:
		return c.sendControl(opPong, p)
	case opClose:
		ce := &closeError{code: 1005}
		if len(p) >= 2 {
			ce.code = int(binary.BigEndian.Uint16(p))
			ce.reason = string(p[2:])
		}
		return ce
	}
	return nil
}

// errTooLong is returned by readMessage when a message outgrows dst.
type errTooLong struct{ got, want int64 }

func (e errTooLong) Error() string {
	return fmt.Sprintf("echo longer than the message sent: at least %d bytes, want %d", e.got, e.want)
}

// readMessage reads the next data message, reassembling fragments,
// inflating compressed messages and handling control frames in between.
// dst must be at least as long as the message. It returns the message's
// opcode and bytes: a message that came as one uncompressed frame the read
// buffer holds is returned as a view of that buffer, valid until the next
// read on c (copying each echo out cost loadgen as much CPU as masking);
// any other message is assembled in dst.
func (c *conn) readMessage(dst []byte) (op byte, msg []byte, err error) {
	n := 0
	started, compressed := false, false
	// Frames of a compressed message go to c.zin first. Deflate can expand
	// incompressible data a little (stored blocks: 5 bytes per 64 KiB);
	// this bound is loose, only there against an endless stream.
	zmax := len(dst) + len(dst)/16 + 1024
	for {
		fin, fop, ln, rsv, err := c.readHeader()
		if err != nil {
			return 0, nil, err
		}
		if fop >= opClose {
			if err := c.handleControl(fop, ln); err != nil {
				return 0, nil, err
			}
			continue
		}
		switch {
		case !started && fop == opCont:
			return 0, nil, errors.New("protocol error: continuation frame without a message to continue")
		case started && fop != opCont:
			return 0, nil, errors.New("protocol error: new data frame inside a fragmented message")
		case !started:
			op, started, compressed = fop, true, rsv
			c.zin = c.zin[:0]
		}
		if compressed {
			if int64(len(c.zin))+ln > int64(zmax) {
				return op, nil, fmt.Errorf("compressed echo longer than %d bytes, for a message of %d", zmax, len(dst))
			}
			z := len(c.zin)
			c.zin = append(c.zin, make([]byte, ln)...) // no allocation once c.zin has grown
			if _, err := io.ReadFull(c.br, c.zin[z:]); err != nil {
				return op, nil, err
			}
			if !fin {
				continue
			}
			wire := len(c.zin)
			c.zin = append(c.zin, inflateTail...)
			inf := inflaters.Get().(*inflater)
			n, err = inf.inflate(dst, c.zin)
			inflaters.Put(inf)
			if err != nil {
				return op, nil, err
			}
			c.rx.count(n, wire, true)
			return op, dst[:n], nil
		}
		if int64(n)+ln > int64(len(dst)) {
			return op, nil, errTooLong{int64(n) + ln, int64(len(dst))}
		}
		if fin && n == 0 && ln <= int64(c.br.Size()) {
			view, err := c.br.Peek(int(ln))
			if err != nil {
				return op, nil, err
			}
			c.br.Discard(len(view)) // the bytes stay put until the next read
			c.rx.count(len(view), len(view), false)
			return op, view, nil
		}
		// A large destination makes bufio read straight into dst once its
		// own buffer is drained, so big payloads are not copied twice.
		if _, err := io.ReadFull(c.br, dst[n:n+int(ln)]); err != nil {
			return op, nil, err
		}
		n += int(ln)
		if fin {
			c.rx.count(n, n, false)
			return op, dst[:n], nil
		}
	}
}

// discardUntilClose reads and drops everything up to the server's close
// frame, answering pings; it returns nil once that frame arrives.
func (c *conn) discardUntilClose() error {
	for {
		_, op, n, _, err := c.readHeader()
		if err != nil {
			return err
		}
		if op >= opClose {
			err := c.handleControl(op, n)
			var ce *closeError
			if errors.As(err, &ce) {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		}
		if _, err := c.br.Discard(int(n)); err != nil {
			return err
		}
	}
}
