package libws

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// ConnOptions tune a Conn. The zero value gives the defaults.
type ConnOptions struct {
	Options
	// ReadBufferSize is the size of the buffer reads go through. By
	// default a TCP connection borrows a 32 KiB one from a pool when data
	// arrives and gives it back before it waits for more, so an idle
	// connection holds none; other connections (TLS) keep a 4 KiB one. A
	// size set here is the connection's own, allocated on its first read.
	ReadBufferSize int
	// WriteBufferSize is the size of the buffer a frame is assembled in
	// when it cannot go out as it is: a client's masked frame, or on a
	// connection without writev (TLS). It is borrowed from a pool for the
	// write (4 KiB) or, when set here, the connection's own. Tiny frames
	// are assembled in the connection itself, and a server's larger ones go
	// out with one writev of header and payload.
	WriteBufferSize int
	// CloseTimeout bounds how long Close waits for the peer's close reply (5 s).
	CloseTimeout time.Duration
}

const (
	defaultBufferSize = 4096
	// pooledReadSize is the read buffer TCP connections borrow: large
	// enough that a 16 KiB message, or a batch of small ones, comes in
	// with one read.
	pooledReadSize = 32 << 10
	// tinyFrame bounds the frames assembled in Conn.tiny, header included:
	// small messages go out with one write and no buffer.
	tinyFrame = 64
)

// The buffers connections borrow while data flows. Pointers, so that
// returning one does not allocate.
var (
	readPool   = sync.Pool{New: func() any { b := make([]byte, pooledReadSize); return &b }}
	writePool  = sync.Pool{New: func() any { b := make([]byte, defaultBufferSize); return &b }}
	writevPool = sync.Pool{New: func() any { return new(writevBufs) }}
)

// writevBufs is a writev of header and payload: net.Buffers.WriteTo
// consumes the slice it is given, so it needs one besides the pair.
type writevBufs struct {
	iov  [2][]byte
	bufs net.Buffers
}

// Conn is a WebSocket connection over a net.Conn. One goroutine may read
// while others write: reads are serialised by one lock and writes by
// another, so a reader never waits for a writer.
type Conn struct {
	nc           net.Conn
	subprotocol  string
	closeTimeout time.Duration
	server       bool
	writev       bool
	closeSent    bool // under wmu
	rpooled      bool // under rmu: rbuf is readPool's
	// netClosed: the socket is closed, or being closed after our close
	// frame (lingerClose); set once.
	netClosed atomic.Bool

	rmu     sync.Mutex
	p       Protocol
	readErr error
	// rbuf is what reads go through: borrowed from readPool (rpooled)
	// from the read that brings data to the next one that would block,
	// or, without raw, the connection's own.
	rbuf  *[]byte
	rsize int32
	wsize int32
	rn    int32
	rerr  int32 // an errno
	// raw reads a TCP socket without a buffer until it is readable;
	// rawRead is the callback it runs, made once so reads do not
	// allocate, and rn, rerr what that read returned.
	raw     syscall.RawConn
	rawRead func(fd uintptr) bool

	wmu sync.Mutex
	// tiny holds a whole small frame, so it goes out with one write.
	tiny [tinyFrame]byte
	// wbuf is set when WriteBufferSize asked for a buffer of its own;
	// otherwise one of writePool is borrowed per write.
	wbuf     []byte
	writeErr error
}

// NewConn wraps nc, on which the opening handshake is already done, as a
// WebSocket. buffered holds bytes the handshake read past its end; they are
// copied, so the caller may reuse them.
func NewConn(nc net.Conn, role Role, buffered []byte, opts *ConnOptions) *Conn {
	var o ConnOptions
	if opts != nil {
		o = *opts
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
		rsize:        int32(min(o.ReadBufferSize, 1<<30)),
		wsize:        int32(min(o.WriteBufferSize, 1<<30)),
	}
	// Only the plain socket types: a type that wraps one (and may read
	// or write otherwise, as a TLS or a prefixing conn does) gets its own
	// Read and Write called.
	switch t := nc.(type) {
	case *net.TCPConn:
		c.writev = true
		if c.rsize <= 0 && rawReads {
			if raw, err := t.SyscallConn(); err == nil {
				c.raw = raw
				c.rawRead = c.readRaw
				c.rsize = pooledReadSize
			}
		}
	case *net.UnixConn:
		c.writev = true
	}
	if c.rsize <= 0 {
		c.rsize = defaultBufferSize
	}
	if c.wsize <= 0 {
		c.wsize = defaultBufferSize
	} else {
		// Room for a header and some payload in each write.
		c.wsize = max(c.wsize, tinyFrame)
		c.wbuf = make([]byte, c.wsize)
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
// reply). The next message overwrites it; copy what must outlive that. On
// a TCP connection the buffer goes back to a pool shared with other
// connections once c waits for more data, so a payload kept past the next
// read may even hold another connection's bytes.
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
// a large frame is being assembled there, else through rbuf. When fill
// runs, the Protocol has copied what it still needs of the last read out of
// rbuf, and the caller's borrowed payload expires: rbuf is free.
func (c *Conn) fill() {
	var n int
	var err error
	switch space := c.p.Space(); {
	case len(space) >= defaultBufferSize:
		n, err = c.nc.Read(space)
		c.p.Commit(n)
	case c.raw != nil:
		n, err = c.readPooled()
		if n > 0 {
			c.p.Feed((*c.rbuf)[:n])
		}
	default:
		if c.rbuf == nil {
			b := make([]byte, c.rsize)
			c.rbuf = &b
		}
		n, err = c.nc.Read(*c.rbuf)
		c.p.Feed((*c.rbuf)[:n])
	}
	if err != nil {
		c.readErr = c.abnormal(err)
		c.releaseRead()
	}
}

// readPooled reads the TCP socket into a buffer borrowed only once there is
// data: one read system call, as nc.Read makes, but while the connection
// waits it holds no buffer. It returns what nc.Read would.
func (c *Conn) readPooled() (int, error) {
	c.rn, c.rerr = 0, 0
	if err := c.raw.Read(c.rawRead); err != nil {
		// Closed, or a deadline passed while waiting.
		if oe, ok := err.(*net.OpError); ok {
			oe.Op = "read"
		}
		return 0, err
	}
	if c.rerr != 0 {
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(),
			Err: os.NewSyscallError("read", syscall.Errno(c.rerr))}
	}
	if c.rn == 0 {
		return 0, io.EOF
	}
	return int(c.rn), nil
}

// releaseRead gives a borrowed read buffer back.
func (c *Conn) releaseRead() {
	if c.rpooled {
		readPool.Put(c.rbuf)
		c.rbuf, c.rpooled = nil, false
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
	// The bytes of s, not a copy: writeLocked and the compressor only
	// read a payload (a client masks a copy of it).
	return c.WriteFrame(true, OpText, unsafe.Slice(unsafe.StringData(s), len(s)))
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

// writeLocked puts one frame on the wire; c.wmu is held. Tiny frames are
// assembled in c.tiny and written at once; a server's larger ones go out as
// one writev of header and payload; the rest is assembled in a write buffer
// (masked in pieces for clients, which must not modify the caller's
// payload).
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
	n := h.Size()
	switch {
	case n+len(payload) <= len(c.tiny):
		buf := c.tiny[:n+len(payload)]
		PutHeader(buf, &h)
		copy(buf[n:], payload)
		if masked {
			Mask(buf[n:], h.Mask, 0)
		}
		_, err = c.nc.Write(buf)
	case !masked && (c.writev || n+len(payload) > int(c.wsize)):
		// Without writev (TLS) this is two writes, still better than
		// copying a large payload through the buffer.
		PutHeader(c.tiny[:], &h)
		wv := writevPool.Get().(*writevBufs)
		wv.iov[0], wv.iov[1] = c.tiny[:n], payload
		wv.bufs = wv.iov[:]
		_, err = wv.bufs.WriteTo(c.nc)
		*wv = writevBufs{} // neither the Conn nor the payload is kept
		writevPool.Put(wv)
	default:
		wbuf, pooled := c.wbuf, (*[]byte)(nil)
		if wbuf == nil {
			pooled = writePool.Get().(*[]byte)
			wbuf = *pooled
		}
		PutHeader(wbuf, &h)
		buf, pos := wbuf[:n], 0
		for len(payload) > 0 {
			k := min(len(payload), cap(buf)-len(buf))
			chunk := append(buf, payload[:k]...)
			if masked {
				pos = Mask(chunk[len(buf):], h.Mask, pos)
			}
			if _, err = c.nc.Write(chunk); err != nil {
				break
			}
			payload = payload[k:]
			buf = wbuf[:0]
		}
		if pooled != nil {
			writePool.Put(pooled)
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
	if c.netClosed.CompareAndSwap(false, true) {
		cw.CloseWrite()
		c.nc.SetReadDeadline(time.Now().Add(lingerDrain))
		go func() {
			io.Copy(io.Discard, c.nc)
			c.nc.Close()
		}()
	}
}

func (c *Conn) closeNet() {
	if c.netClosed.CompareAndSwap(false, true) {
		c.nc.Close()
	}
}
