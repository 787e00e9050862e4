package libws

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// ConnOptions tune a Conn. The zero value gives the defaults.
type ConnOptions struct {
	Options
	// ReadBufferSize is the size of the buffer reads go through (4 KiB).
	ReadBufferSize int
	// WriteBufferSize is the size of the buffer small frames are assembled
	// in; a frame that does not fit goes out with one writev of header and
	// payload instead (4 KiB).
	WriteBufferSize int
	// CloseTimeout bounds how long Close waits for the peer's close reply (5 s).
	CloseTimeout time.Duration
}

const defaultBufferSize = 4096

// Conn is a WebSocket connection over a net.Conn. One goroutine may read
// while others write: reads are serialised by one lock and writes by
// another, so a reader never waits for a writer.
type Conn struct {
	nc           net.Conn
	server       bool
	subprotocol  string
	closeTimeout time.Duration

	rmu     sync.Mutex
	p       Protocol
	rbuf    []byte
	readErr error

	wmu       sync.Mutex
	wbuf      []byte
	hdr       [MaxHeaderSize]byte
	iov       [2][]byte
	bufs      net.Buffers
	closeSent bool
	writeErr  error

	closeOnce sync.Once
}

// NewConn wraps nc, on which the opening handshake is already done, as a
// WebSocket. buffered holds bytes the handshake read past its end; they are
// copied, so the caller may reuse them.
func NewConn(nc net.Conn, role Role, buffered []byte, opts *ConnOptions) *Conn {
	var o ConnOptions
	if opts != nil {
		o = *opts
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = defaultBufferSize
	}
	if o.WriteBufferSize <= 0 {
		o.WriteBufferSize = defaultBufferSize
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 5 * time.Second
	}
	if o.KeepBuffer == 0 {
		o.KeepBuffer = 64 << 10
	}
	c := &Conn{
		nc:           nc,
		server:       role == RoleServer,
		closeTimeout: o.CloseTimeout,
		rbuf:         make([]byte, o.ReadBufferSize),
		wbuf:         make([]byte, 0, o.WriteBufferSize),
	}
	c.p.init(role, &o.Options)
	c.p.sink = c
	if len(buffered) > 0 {
		c.p.Feed(append([]byte(nil), buffered...))
	}
	return c
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Subprotocol returns the subprotocol the handshake agreed on, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// LocalAddr and RemoteAddr return the socket's addresses.
func (c *Conn) LocalAddr() net.Addr  { return c.nc.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetReadDeadline, SetWriteDeadline and SetDeadline set deadlines on the
// underlying connection; a read or write past it fails with a timeout.
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.nc.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }
func (c *Conn) SetDeadline(t time.Time) error      { return c.nc.SetDeadline(t) }

// ReadFrame returns the next frame. Pings and the peer's close frame are
// returned after their automatic reply went out. The payload stays valid
// until the next read. After the close frame, reads return a *CloseError.
func (c *Conn) ReadFrame() (Frame, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.read(false)
}

// ReadMessage returns the next data message with its fragments joined and
// text validated. Pings and pongs are answered and skipped; the peer's
// close frame ends the connection and is returned as a *CloseError. The
// payload is a fresh slice the caller owns, as gorilla/websocket's is; a
// loop that only looks at each message before the next read can use
// ReadMessageBorrowed and allocate nothing.
func (c *Conn) ReadMessage() (Opcode, []byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	// The copy is made under the read lock: a concurrent Close reads the
	// peer's close reply into the same buffer.
	op, p, err := c.readMessageLocked()
	if err != nil {
		return op, nil, err
	}
	owned := make([]byte, len(p))
	copy(owned, p)
	return op, owned, nil
}

// ReadMessageBorrowed is ReadMessage without the copy: the payload is
// borrowed from the connection's read buffer and is valid only until the
// next read on c (any Read method, or Close, which reads the peer's close
// reply). The next message overwrites it; copy what must outlive that.
func (c *Conn) ReadMessageBorrowed() (Opcode, []byte, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.readMessageLocked()
}

// readMessageLocked skips control frames to the next data message (rmu held).
func (c *Conn) readMessageLocked() (Opcode, []byte, error) {
	for {
		f, err := c.read(true)
		if err != nil {
			return 0, nil, err
		}
		if !f.OpCode.IsControl() {
			return f.OpCode, f.Payload, nil
		}
	}
}

// ReadNext returns the next whole data message, or the next control frame
// (ping, pong, close) where one arrives, so an event-driven caller sees
// everything in order. The payload stays valid until the next read.
func (c *Conn) ReadNext() (Frame, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.read(true)
}

// ReadMessageContext is ReadMessage (a payload the caller owns) that gives
// up when ctx is done; the connection is then unusable for reading, as
// after a deadline.
func (c *Conn) ReadMessageContext(ctx context.Context) (Opcode, []byte, error) {
	stop := context.AfterFunc(ctx, func() { c.nc.SetReadDeadline(time.Unix(1, 0)) })
	op, p, err := c.ReadMessage()
	if !stop() && err != nil {
		err = ctx.Err()
	}
	return op, p, err
}

func (c *Conn) read(collect bool) (Frame, error) {
	for {
		f, ok, err := c.p.next(collect)
		if err != nil {
			// A violation: the Protocol has sent its close frame already.
			c.lingerClose()
			return Frame{}, err
		}
		if ok {
			if f.OpCode == OpClose {
				c.peerClosed()
				if collect {
					code, reason, _ := c.p.CloseStatus()
					return f, &CloseError{Code: code, Reason: reason}
				}
			}
			return f, nil
		}
		if code, reason, received := c.p.CloseStatus(); received {
			return Frame{}, &CloseError{Code: code, Reason: reason}
		}
		if c.readErr != nil {
			var lost *CloseError
			if errors.As(c.readErr, &lost) {
				// The transport is gone (EOF, reset): nothing more can
				// travel either way, so the socket is released now, not
				// when a garbage collection finds the Conn.
				c.closeNet()
			} else {
				// The peer's close frame can no longer arrive: if ours is
				// out, as after Close with another goroutine reading, the
				// close handshake is over and the TCP connection must not
				// linger.
				c.peerClosed()
			}
			return Frame{}, c.readErr
		}
		c.fill()
	}
}

// fill reads once from the socket: straight into the Protocol's buffer when
// a large frame is being assembled there, else through rbuf.
func (c *Conn) fill() {
	var n int
	var err error
	if space := c.p.Space(); len(space) >= len(c.rbuf) {
		n, err = c.nc.Read(space)
		c.p.Commit(n)
	} else {
		n, err = c.nc.Read(c.rbuf)
		c.p.Feed(c.rbuf[:n])
	}
	if err != nil {
		c.readErr = c.abnormal(err)
	}
}

// abnormal turns a transport error into the error reads report.
func (c *Conn) abnormal(err error) error {
	// A read failing in a system call (a reset, a keepalive timeout) is the
	// transport lost too; deadlines are not system call errors.
	var se *os.SyscallError
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.As(err, &se) {
		return &CloseError{Code: StatusAbnormalClosure}
	}
	return err
}

// peerClosed finishes the close handshake once the peer's close frame is in
// (or can no longer come): if our close frame is out too, the TCP
// connection has done its job.
func (c *Conn) peerClosed() {
	c.wmu.Lock()
	sent := c.closeSent
	c.wmu.Unlock()
	if sent {
		c.closeNet()
	}
}

// CloseStatus returns the peer's close code and reason, and whether its
// close frame has arrived.
func (c *Conn) CloseStatus() (StatusCode, string, bool) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.p.CloseStatus()
}

// WriteFrame writes one frame. Control frames must have fin set and at most
// 125 bytes of payload. payload is not modified.
func (c *Conn) WriteFrame(fin bool, op Opcode, payload []byte) error {
	if err := checkWrite(fin, op, payload); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(fin, 0, op, payload)
}

// WriteMessage writes a whole message as one frame.
func (c *Conn) WriteMessage(op Opcode, payload []byte) error {
	if op == OpContinuation {
		return ErrInvalidOpcode
	}
	return c.WriteFrame(true, op, payload)
}

// WriteText and WriteBinary write a whole text or binary message.
func (c *Conn) WriteText(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if MaxHeaderSize+len(s) > cap(c.wbuf) {
		// Not through wbuf: the masked path of writeLocked assembles the
		// frame in wbuf and would overwrite the text's first bytes with
		// the header, and appending would grow wbuf for good.
		return c.writeLocked(true, 0, OpText, []byte(s))
	}
	c.wbuf = append(c.wbuf[:0], s...)
	return c.writeLocked(true, 0, OpText, c.wbuf)
}
func (c *Conn) WriteBinary(b []byte) error { return c.WriteFrame(true, OpBinary, b) }

// Ping and Pong send a control frame with up to 125 bytes of payload.
func (c *Conn) Ping(payload []byte) error { return c.WriteFrame(true, OpPing, payload) }
func (c *Conn) Pong(payload []byte) error { return c.WriteFrame(true, OpPong, payload) }

func (c *Conn) writeControl(op Opcode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return nil
	}
	return c.writeLocked(true, 0, op, payload)
}

// writeLocked puts one frame on the wire; c.wmu is held. Small frames are
// assembled in wbuf and written at once; large ones go out as one writev of
// header and payload (servers) or masked through wbuf in pieces (clients,
// which must not modify the caller's payload).
func (c *Conn) writeLocked(fin bool, rsv byte, op Opcode, payload []byte) error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return ErrClosed
	}
	if op == OpClose {
		c.closeSent = true
	}
	if rsv == 0 {
		rsv, payload = c.p.deflate.encode(fin, op, payload)
	}
	masked := !c.server
	h := Header{Fin: fin, Rsv: rsv, OpCode: op, Masked: masked, Length: int64(len(payload))}
	if masked {
		h.Mask = newMaskKey()
	}
	var err error
	switch {
	case h.Size()+len(payload) <= cap(c.wbuf):
		// payload may alias wbuf (WriteText), so it moves before the header.
		n := h.Size()
		buf := c.wbuf[:n+len(payload)]
		copy(buf[n:], payload)
		PutHeader(buf, &h)
		if masked {
			Mask(buf[n:], h.Mask, 0)
		}
		_, err = c.nc.Write(buf)
	case !masked:
		n, _ := PutHeader(c.hdr[:], &h)
		c.iov[0], c.iov[1] = c.hdr[:n], payload
		c.bufs = c.iov[:]
		_, err = c.bufs.WriteTo(c.nc)
	default:
		n, _ := PutHeader(c.hdr[:], &h)
		buf := append(c.wbuf[:0], c.hdr[:n]...)
		pos := 0
		for len(payload) > 0 {
			k := min(len(payload), cap(buf)-len(buf))
			chunk := append(buf, payload[:k]...)
			pos = Mask(chunk[len(buf):], h.Mask, pos)
			if _, err = c.nc.Write(chunk); err != nil {
				break
			}
			payload = payload[k:]
			buf = c.wbuf[:0]
		}
	}
	if err != nil {
		c.writeErr = err
	}
	return err
}

// Close starts or finishes the close handshake with code and reason (a
// zero code sends no status), waits up to the close timeout for the peer's
// reply unless another goroutine is reading (that reader then receives it),
// and closes the TCP connection.
func (c *Conn) Close(code StatusCode, reason string) error {
	var ctrl [2 + MaxControlPayload]byte
	payload, err := closePayload(ctrl[:0], code, reason)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	already := c.closeSent
	if !already {
		err = c.writeLocked(true, 0, OpClose, payload)
	}
	c.wmu.Unlock()
	if already {
		return ErrClosed
	}
	if err != nil {
		c.closeNet()
		return err
	}
	if !c.rmu.TryLock() {
		c.nc.SetReadDeadline(time.Now().Add(c.closeTimeout))
		return nil
	}
	defer c.rmu.Unlock()
	c.nc.SetReadDeadline(time.Now().Add(c.closeTimeout))
	for {
		if _, _, received := c.p.CloseStatus(); received {
			break
		}
		if _, err := c.read(false); err != nil {
			break
		}
	}
	c.closeNet()
	return nil
}

// CloseNow closes the TCP connection without a close handshake.
func (c *Conn) CloseNow() error {
	c.closeNet()
	return nil
}

// lingerDrain bounds how long a failed connection reads and discards
// input after its close frame went out.
const lingerDrain = 2 * time.Second

// lingerClose ends a connection we failed. Closing a socket with unread
// input makes the kernel send a reset, which can overtake our close frame
// and leave the peer with 1006 instead of the code we sent; so the write
// side is shut first and what the peer still sends is discarded for a
// moment, in the background.
func (c *Conn) lingerClose() {
	type closeWriter interface{ CloseWrite() error }
	cw, ok := c.nc.(closeWriter)
	if !ok {
		c.closeNet()
		return
	}
	c.closeOnce.Do(func() {
		cw.CloseWrite()
		c.nc.SetReadDeadline(time.Now().Add(lingerDrain))
		go func() {
			io.Copy(io.Discard, c.nc)
			c.nc.Close()
		}()
	})
}

func (c *Conn) closeNet() {
	c.closeOnce.Do(func() { c.nc.Close() })
}
