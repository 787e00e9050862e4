package main

/*
#include "ws.h"
#include "internal.h"
*/
import "C"

import (
	"errors"
	"runtime"
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

	rmu        sync.Mutex
	pin        runtime.Pinner
	pending    []byte // a message ws_read_message_into could not deliver
	pendingOp  libws.Opcode
	hasPending bool

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

func newConn(c *libws.Conn, v optValues) *conn {
	cc := &conn{
		c:            c,
		readTimeout:  v.ms(C.WS_OPT_READ_TIMEOUT_MS),
		writeTimeout: v.ms(C.WS_OPT_WRITE_TIMEOUT_MS),
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

// read returns the next frame or message; c.rmu is held.
func (c *conn) read(message bool) (libws.Frame, error) {
	if c.hasPending {
		f := libws.Frame{Fin: true, OpCode: c.pendingOp, Payload: c.pending}
		c.hasPending, c.pending = false, nil
		return f, nil
	}
	if c.readTimeout > 0 {
		c.c.SetReadDeadline(time.Now().Add(c.readTimeout))
	}
	if message {
		op, payload, err := c.c.ReadMessage()
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
		if code, reason, ok := c.c.CloseStatus(); ok {
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
	var rc C.int
	c := acquireConn(h, &rc)
	if c == nil {
		return nil
	}
	defer c.life.RUnlock()
	if c.sub == nil {
		return staticString("")
	}
	return c.sub
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
	if c.sub != nil {
		C.free(unsafe.Pointer(c.sub))
		c.sub = nil
	}
	c.life.Unlock()
	c.freeMsgs()
}
