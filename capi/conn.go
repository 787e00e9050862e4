package main

/*
#include "ws.h"
#include "internal.h"
*/
import "C"

import (
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/libws/libws/libws"
)

// conn is the ws_conn_t handle around a libws.Conn.
//
// Locks: life is held shared by every call and exclusively by ws_conn_free,
// which first closes the socket so that blocked calls return, then waits
// for them. rmu serialises readers and guards the read-side state below;
// writers need no lock of their own (libws.Conn serialises writes).
//
// Memory lent to C: payloads of ws_read_frame / ws_read_message are the
// Conn's own buffers, pinned until the next read (no copy).
type conn struct {
	base
	life sync.RWMutex
	c    *libws.Conn // nil once freed
	sub  *C.char

	readTimeout, writeTimeout time.Duration

	hs   handshakeInfo
	imu  sync.Mutex // guards the C strings below, made on first use
	path *C.char
	hdrs *C.char
	peer *C.char

	rmu        sync.Mutex
	pin        runtime.Pinner
	pending    []byte // a message ws_read_message_into could not deliver
	pendingOp  libws.Opcode
	hasPending bool
	// A read ws_read_message_timeout gave up on goes on in a goroutine
	// (see readTimed); its result comes on rch, and inflight says one is
	// due there.
	rch      chan readResult
	inflight bool

	smu         sync.Mutex // guards the close status
	closeKnown  bool
	closeCode   libws.StatusCode
	closeReason string

	// dropped is set once a read found the peer gone without a close
	// frame (1006) or the connection reset. The socket's write side does
	// not know: the kernel takes a write after the peer's FIN and only the
	// peer's reset to it fails the write after. So writes check this.
	dropped atomic.Bool
}

// handshakeInfo is what ws_conn_path and ws_conn_headers report: the
// request target and the request headers on a server connection, the
// target it asked for and the 101 response's headers on a client one.
type handshakeInfo struct {
	path   string
	header http.Header
}

type readResult struct {
	f   libws.Frame
	err error
}

func newConn(c *libws.Conn, v optValues, hs handshakeInfo) *conn {
	cc := &conn{
		c:            c,
		readTimeout:  v.ms(C.WS_OPT_READ_TIMEOUT_MS),
		writeTimeout: v.ms(C.WS_OPT_WRITE_TIMEOUT_MS),
		hs:           hs,
	}
	if s := c.Subprotocol(); s != "" {
		cc.sub = C.CString(s)
	}
	return cc
}

// acquire finds the live connection behind h and holds it shared; release
// with c.life.RUnlock(). nil (with *rc set) for a bad handle.
func acquireConn(h *C.ws_conn_t, rc *C.int) *conn {
	c := restore[*conn](unsafe.Pointer(h))
	if c == nil {
		*rc = badHandle("ws_conn_t")
		return nil
	}
	c.life.RLock()
	if c.c == nil {
		c.life.RUnlock()
		*rc = badHandle("ws_conn_t")
		return nil
	}
	return c
}

func (c *conn) setCloseStatus(code libws.StatusCode, reason string) {
	c.smu.Lock()
	if !c.closeKnown {
		c.closeKnown, c.closeCode, c.closeReason = true, code, reason
	}
	c.smu.Unlock()
}

// readErr records what a failed read tells about the close status.
func (c *conn) readErr(err error) {
	var ce *libws.CloseError
	if errors.As(err, &ce) {
		c.setCloseStatus(ce.Code, ce.Reason)
		if ce.Code == libws.StatusAbnormalClosure {
			c.dropped.Store(true)
		}
	} else if errCode(err) == C.WS_EIO {
		c.dropped.Store(true)
	}
}

// takePending returns the message ws_read_message_into kept, if any.
func (c *conn) takePending() (libws.Frame, bool) {
	if !c.hasPending {
		return libws.Frame{}, false
	}
	f := libws.Frame{Fin: true, OpCode: c.pendingOp, Payload: c.pending}
	c.hasPending, c.pending = false, nil
	return f, true
}

// read returns the next frame or message; c.rmu is held.
func (c *conn) read(message bool) (libws.Frame, error) {
	if f, ok := c.takePending(); ok {
		return f, nil
	}
	if c.inflight {
		// A read ws_read_message_timeout gave up on comes first. A raw
		// frame read takes its result as it is: a whole message or a
		// control frame.
		wait := time.Duration(-1)
		if c.readTimeout > 0 {
			wait = c.readTimeout
		}
		return c.readTimed(!message, wait)
	}
	if c.readTimeout > 0 {
		c.c.SetReadDeadline(time.Now().Add(c.readTimeout))
	}
	if message {
		op, payload, err := c.c.ReadMessageBorrowed()
		if err != nil {
			c.readErr(err)
			return libws.Frame{}, err
		}
		return libws.Frame{Fin: true, OpCode: op, Payload: payload}, nil
	}
	f, err := c.c.ReadFrame()
	if err != nil {
		c.readErr(err)
		return f, err
	}
	if f.OpCode == libws.OpClose {
		code, reason, _ := libws.ParseClosePayload(f.Payload)
		c.setCloseStatus(code, reason)
	}
	return f, nil
}

// readTimed reads the next message, or control frame with control set,
// waiting at most timeout (< 0: as long as needed); c.rmu is held. A read
// given up on must lose nothing (a partial frame, a message half inflated),
// and the engine keeps that only in a read that goes on: so a bounded read
// runs in a goroutine, which carries on after a timeout, and the next read
// of any kind on c takes its result.
func (c *conn) readTimed(control bool, timeout time.Duration) (libws.Frame, error) {
	if c.readTimeout > 0 && !c.inflight {
		// Lift the deadline an earlier read set for WS_OPT_READ_TIMEOUT_MS.
		c.c.SetReadDeadline(time.Time{})
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		f, ok := c.takePending()
		var err error
		switch {
		case ok:
		case c.inflight || timeout >= 0:
			if !c.inflight {
				c.startRead()
			}
			r, got := c.await(expired, timeout == 0)
			if !got {
				return f, newErr(C.WS_ETIMEDOUT, "no message within %d ms", timeout.Milliseconds())
			}
			f, err = r.f, r.err
		default:
			f, err = c.c.ReadNext()
			if err != nil {
				c.readErr(err)
			}
		}
		if err != nil || control || !f.OpCode.IsControl() {
			return f, err
		}
	}
}

// finishClose waits for the peer's close reply where Close left that to
// a reader, and the only reader is the one ws_read_message_timeout left
// running: so ws_close waits as it does without one. Frames that arrive
// meanwhile are discarded, as Close does. The wait is bounded: Close set
// the read deadline to its close timeout. c.rmu is held.
func (c *conn) finishClose() {
	r := <-c.rch
	c.inflight = false
	for r.err == nil {
		r.f, r.err = c.c.ReadNext()
	}
	c.readErr(r.err)
}

// await takes the result of the read in flight; false if expired fired
// first, or at once if poll is set and it is not there yet.
func (c *conn) await(expired <-chan time.Time, poll bool) (readResult, bool) {
	var r readResult
	if poll {
		select {
		case r = <-c.rch:
		default:
			return r, false
		}
	} else {
		select {
		case r = <-c.rch:
		case <-expired:
			return r, false
		}
	}
	c.inflight = false
	return r, true
}

// startRead starts the goroutine readTimed waits for.
func (c *conn) startRead() {
	if c.rch == nil {
		c.rch = make(chan readResult, 1)
	}
	c.inflight = true
	ec, ch := c.c, c.rch
	go func() {
		r := readResult{err: newErr(C.WS_EINTERNAL, "internal error: the read stopped")}
		defer func() {
			recover() // never take the process down from here
			ch <- r
		}()
		r.f, r.err = ec.ReadNext()
		if r.err != nil {
			c.readErr(r.err)
		}
	}()
}

// lend hands f to C: its payload stays pinned until the next read.
func (c *conn) lend(out *C.ws_frame_t, f libws.Frame) {
	data := unsafe.Pointer(&C.ws__empty[0])
	if len(f.Payload) > 0 {
		data = unsafe.Pointer(&f.Payload[0])
		c.pin.Pin(data)
	}
	*out = C.ws_frame_t{
		opcode: C.int(f.OpCode),
		fin:    C.int(b2i(f.Fin)),
		rsv:    C.int(f.Rsv),
		data:   (*C.uint8_t)(data),
		len:    C.size_t(len(f.Payload)),
	}
}

// readBorrowed serves ws_read_frame and ws_read_message.
func readBorrowed(h *C.ws_conn_t, out *C.ws_frame_t, message bool) (rc C.int) {
	c := acquireConn(h, &rc)
	if c == nil {
		return rc
	}
	defer c.life.RUnlock()
	if out == nil {
		return failf(&c.base, C.WS_EINVAL, "frame is NULL")
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.pin.Unpin()
	f, err := c.read(message)
	if err != nil {
		return fail(&c.base, err)
	}
	c.lend(out, f)
	return C.WS_OK
}

//export ws_read_message_timeout
func ws_read_message_timeout(h *C.ws_conn_t, out *C.ws_frame_t, flags C.int, timeoutMs C.int) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	c := acquireConn(h, &rc)
	if c == nil {
		return rc
	}
	defer c.life.RUnlock()
	if out == nil || flags&^C.WS_READ_CONTROL != 0 || timeoutMs < -1 {
		return failf(&c.base, C.WS_EINVAL, "ws_read_message_timeout: frame is NULL, flags has unknown bits or timeout_ms < -1")
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.pin.Unpin()
	timeout := time.Duration(-1)
	if timeoutMs >= 0 {
		timeout = time.Duration(timeoutMs) * time.Millisecond
	}
	f, err := c.readTimed(flags&C.WS_READ_CONTROL != 0, timeout)
	if err != nil {
		return fail(&c.base, err)
	}
	c.lend(out, f)
	return C.WS_OK
}

//export ws_read_frame
func ws_read_frame(h *C.ws_conn_t, out *C.ws_frame_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	return readBorrowed(h, out, false)
}

//export ws_read_message
func ws_read_message(h *C.ws_conn_t, out *C.ws_frame_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	return readBorrowed(h, out, true)
}

//export ws_read_message_into
func ws_read_message_into(h *C.ws_conn_t, opcode *C.int, buf *C.uint8_t, capacity C.size_t, n *C.size_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	c := acquireConn(h, &rc)
	if c == nil {
		return rc
	}
	defer c.life.RUnlock()
	if n == nil || badBuf(buf, capacity) {
		return failf(&c.base, C.WS_EINVAL, "ws_read_message_into: len is NULL, or buf is NULL with cap > 0")
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.pin.Unpin()
	f, err := c.read(true)
	if err != nil {
		return fail(&c.base, err)
	}
	*n = C.size_t(len(f.Payload))
	if uint64(len(f.Payload)) > uint64(capacity) {
		// Keep a copy: the Conn's buffer is reused by its next read, and
		// ws_close may read before the caller comes back.
		c.pending = append([]byte(nil), f.Payload...)
		c.pendingOp, c.hasPending = f.OpCode, true
		return failf(&c.base, C.WS_ENOSPACE, "the message has %d bytes, the buffer %d", len(f.Payload), uint64(capacity))
	}
	copy(cbytes(buf, capacity), f.Payload)
	if opcode != nil {
		*opcode = C.int(f.OpCode)
	}
	return C.WS_OK
}

// write serves the write exports.
func write(h *C.ws_conn_t, fn string, opcode C.int, fin bool, buf *C.uint8_t, n C.size_t) (rc C.int) {
	c := acquireConn(h, &rc)
	if c == nil {
		return rc
	}
	defer c.life.RUnlock()
	if rc := checkSend(&c.base, fn, opcode, buf, n); rc != C.WS_OK {
		return rc
	}
	if c.dropped.Load() {
		return failf(&c.base, C.WS_ECLOSED, "%s: the peer dropped the connection (1006)", fn)
	}
	if c.writeTimeout > 0 {
		c.c.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	if err := c.c.WriteFrame(fin, libws.Opcode(opcode), cbytes(buf, n)); err != nil {
		return fail(&c.base, err)
	}
	return C.WS_OK
}

//export ws_write_frame
func ws_write_frame(h *C.ws_conn_t, opcode C.int, fin C.int, buf *C.uint8_t, n C.size_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	return write(h, "ws_write_frame", opcode, fin != 0, buf, n)
}

//export ws_write_message
func ws_write_message(h *C.ws_conn_t, opcode C.int, buf *C.uint8_t, n C.size_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	if opcode != C.WS_OP_TEXT && opcode != C.WS_OP_BINARY {
		if c := restore[*conn](unsafe.Pointer(h)); c != nil {
			return failf(&c.base, C.WS_EINVAL, "ws_write_message: opcode must be WS_OP_TEXT or WS_OP_BINARY, not %d", int(opcode))
		}
		return badHandle("ws_conn_t")
	}
	return write(h, "ws_write_message", opcode, true, buf, n)
}

//export ws_ping
func ws_ping(h *C.ws_conn_t, buf *C.uint8_t, n C.size_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	return write(h, "ws_ping", C.WS_OP_PING, true, buf, n)
}

//export ws_pong
func ws_pong(h *C.ws_conn_t, buf *C.uint8_t, n C.size_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	return write(h, "ws_pong", C.WS_OP_PONG, true, buf, n)
}

//export ws_close
func ws_close(h *C.ws_conn_t, code C.int, reason *C.char) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	c := acquireConn(h, &rc)
	if c == nil {
		return rc
	}
	defer c.life.RUnlock()
	r, rc := checkClose(&c.base, code, reason)
	if rc != C.WS_OK {
		return rc
	}
	err := c.c.Close(libws.StatusCode(code), r)
	// Close read the peer's reply itself unless a reader was active; then
	// the status is read here, where no reader can hold the Conn.
	if c.rmu.TryLock() {
		if c.inflight {
			if err == nil {
				c.finishClose()
			}
		} else if code, reason, ok := c.c.CloseStatus(); ok {
			c.setCloseStatus(code, reason)
		}
		c.rmu.Unlock()
	}
	if err != nil {
		if errors.Is(err, libws.ErrClosed) {
			return failf(&c.base, C.WS_ECLOSED, "a close frame was sent already")
		}
		return fail(&c.base, err)
	}
	return C.WS_OK
}

//export ws_close_status
func ws_close_status(h *C.ws_conn_t, code *C.int, reason *C.char, capacity C.size_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	c := acquireConn(h, &rc)
	if c == nil {
		return rc
	}
	defer c.life.RUnlock()
	c.smu.Lock()
	known, cc, r := c.closeKnown, c.closeCode, c.closeReason
	c.smu.Unlock()
	return putCloseStatus(known, int(cc), r, code, reason, capacity)
}

//export ws_conn_subprotocol
func ws_conn_subprotocol(h *C.ws_conn_t) (s *C.char) {
	defer recoverTo(nil, unsafe.Pointer(h))
	return connInfo(h, func(c *conn) *C.char {
		if c.sub == nil {
			return staticString("")
		}
		return c.sub
	})
}

// info returns *p, made from value() on first use; it lives until
// ws_conn_free.
func (c *conn) info(p **C.char, value func() string) *C.char {
	c.imu.Lock()
	defer c.imu.Unlock()
	if *p == nil {
		*p = C.CString(value())
	}
	return *p
}

// connInfo is a handshake accessor's body: the handle checked, then the
// string get makes, cached on the connection (see info).
func connInfo(h *C.ws_conn_t, get func(c *conn) *C.char) *C.char {
	var rc C.int
	c := acquireConn(h, &rc)
	if c == nil {
		return nil
	}
	defer c.life.RUnlock()
	return get(c)
}

//export ws_conn_path
func ws_conn_path(h *C.ws_conn_t) (s *C.char) {
	defer recoverTo(nil, unsafe.Pointer(h))
	return connInfo(h, func(c *conn) *C.char { return c.info(&c.path, func() string { return c.hs.path }) })
}

//export ws_conn_headers
func ws_conn_headers(h *C.ws_conn_t) (s *C.char) {
	defer recoverTo(nil, unsafe.Pointer(h))
	return connInfo(h, func(c *conn) *C.char {
		return c.info(&c.hdrs, func() string {
			// Sorted by name, CR and LF in values turned into spaces: one
			// header per "\r\n"-terminated line, whatever the peer sent.
			var b strings.Builder
			c.hs.header.Write(&b)
			return b.String()
		})
	})
}

//export ws_conn_peer
func ws_conn_peer(h *C.ws_conn_t) (s *C.char) {
	defer recoverTo(nil, unsafe.Pointer(h))
	return connInfo(h, func(c *conn) *C.char { return c.info(&c.peer, func() string { return c.c.RemoteAddr().String() }) })
}

//export ws_conn_errmsg
func ws_conn_errmsg(h *C.ws_conn_t) (msg *C.char) {
	defer recoverTo(nil)
	if c := restore[*conn](unsafe.Pointer(h)); c != nil {
		return c.errmsg()
	}
	return nil
}

//export ws_conn_free
func ws_conn_free(h *C.ws_conn_t) {
	defer recoverTo(nil)
	c := restore[*conn](unsafe.Pointer(h))
	if c == nil || !release(&c.base) {
		return
	}
	// Closing the socket first makes blocked reads and writes return, so
	// that the exclusive lock below is not held up by them.
	c.c.CloseNow()
	c.life.Lock()
	c.rmu.Lock()
	c.pin.Unpin()
	c.pending, c.hasPending = nil, false
	c.rmu.Unlock()
	c.c = nil
	for _, p := range []**C.char{&c.sub, &c.path, &c.hdrs, &c.peer} {
		if *p != nil {
			C.free(unsafe.Pointer(*p))
			*p = nil
		}
	}
	c.life.Unlock()
	c.freeMsgs()
}
