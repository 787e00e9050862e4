package main

/*
#include "ws.h"
#include "internal.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/libws/libws/libws"
)

// parser is the ws_parser_t handle around a libws.Protocol.
//
// Memory lent to C: frame payloads are copied into arena (C heap), because
// one ws_parser_next call returns many frames and the Protocol may reuse
// its buffers between them; the output is pinned Go memory (no copy, as
// callers often take it out in several partial sends). Both are released
// at the start of the next call.
type parser struct {
	base
	mu    sync.Mutex // serialises calls: the Protocol is not thread-safe
	p     *libws.Protocol
	in    [2][]byte // fed input alternates between these two buffers
	inIdx int
	arena carena
	pin   runtime.Pinner
	// closeDone is set once the peer's close frame was returned.
	closeDone bool
}

// feedKeep bounds the input buffers a parser keeps between feeds.
const feedKeep = 256 << 10

// lock finds the parser behind h and locks it; nil (after recording
// EBADHANDLE in *rc) when h is not a live parser. Borrowed memory is
// released: every call on a parser ends the previous loans.
func lockParser(h *C.ws_parser_t, rc *C.int) *parser {
	p := restore[*parser](unsafe.Pointer(h))
	if p == nil {
		*rc = badHandle("ws_parser_t")
		return nil
	}
	p.mu.Lock()
	if p.p == nil { // freed while we waited for the lock
		p.mu.Unlock()
		*rc = badHandle("ws_parser_t")
		return nil
	}
	p.pin.Unpin()
	p.arena.reset()
	return p
}

//export ws_parser_new
func ws_parser_new(out **C.ws_parser_t, role C.int, opts *C.ws_options_t) (rc C.int) {
	defer recoverTo(&rc)
	if out == nil {
		return failf(nil, C.WS_EINVAL, "ws_parser_new: out is NULL")
	}
	*out = nil
	if role != C.WS_ROLE_SERVER && role != C.WS_ROLE_CLIENT {
		return failf(nil, C.WS_EINVAL, "ws_parser_new: role must be WS_ROLE_SERVER or WS_ROLE_CLIENT, not %d", int(role))
	}
	v, rc := optionsOf(opts)
	if rc != C.WS_OK {
		return rc
	}
	o := v.protocol()
	p := &parser{p: libws.NewProtocol(libws.Role(role), &o)}
	*out = (*C.ws_parser_t)(register(p))
	return C.WS_OK
}

//export ws_parser_free
func ws_parser_free(h *C.ws_parser_t) {
	defer recoverTo(nil)
	p := restore[*parser](unsafe.Pointer(h))
	if p == nil || !release(&p.base) {
		return
	}
	p.mu.Lock()
	p.pin.Unpin()
	p.arena.free()
	p.p, p.in = nil, [2][]byte{}
	p.mu.Unlock()
	p.freeMsgs()
}

//export ws_parser_feed
func ws_parser_feed(h *C.ws_parser_t, buf *C.uint8_t, n C.size_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	p := lockParser(h, &rc)
	if p == nil {
		return rc
	}
	defer p.mu.Unlock()
	if badBuf(buf, n) {
		return failf(&p.base, C.WS_EINVAL, "ws_parser_feed: buf is NULL")
	}
	if n == 0 {
		return C.WS_OK
	}
	if rc := checkCopy(&p.base, "ws_parser_feed", n); rc != C.WS_OK {
		return rc
	}
	// After Feed returns, the Protocol holds on to at most the slice just
	// fed, so the buffer fed the time before is free to reuse.
	b := p.in[p.inIdx][:0]
	if cap(b) < int(n) {
		b = make([]byte, 0, max(int(n), 4096))
	}
	b = append(b, cbytes(buf, n)...)
	if cap(b) <= feedKeep {
		p.in[p.inIdx] = b
	} else {
		p.in[p.inIdx] = nil
	}
	p.inIdx ^= 1
	p.p.Feed(b)
	return C.WS_OK
}

//export ws_parser_next
func ws_parser_next(h *C.ws_parser_t, frames *C.ws_frame_t, max C.int, flags C.int) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	p := lockParser(h, &rc)
	if p == nil {
		return rc
	}
	defer p.mu.Unlock()
	if frames == nil || max < 1 {
		return failf(&p.base, C.WS_EINVAL, "ws_parser_next: frames is NULL or max < 1")
	}
	if flags&^C.WS_MESSAGES != 0 {
		return failf(&p.base, C.WS_EINVAL, "ws_parser_next: unknown flags 0x%x", int(flags))
	}
	if p.closeDone {
		return failf(&p.base, C.WS_ECLOSED, "the peer's close frame was returned already")
	}
	out := unsafe.Slice(frames, int(max))
	n := 0
	for n < len(out) {
		var f libws.Frame
		var ok bool
		var err error
		if flags&C.WS_MESSAGES != 0 {
			f, ok, err = p.p.NextMessage()
		} else {
			f, ok, err = p.p.NextFrame()
		}
		if err != nil {
			if n > 0 {
				break // the Protocol keeps failing: the next call reports it
			}
			return fail(&p.base, err)
		}
		if !ok {
			break
		}
		data := p.arena.copy(f.Payload)
		if data == nil {
			return failf(&p.base, C.WS_ENOMEM, "no memory for a %d-byte payload", len(f.Payload))
		}
		out[n] = C.ws_frame_t{
			opcode: C.int(f.OpCode),
			fin:    C.int(b2i(f.Fin)),
			rsv:    C.int(f.Rsv),
			data:   (*C.uint8_t)(data),
			len:    C.size_t(len(f.Payload)),
		}
		n++
		if f.OpCode == libws.OpClose {
			p.closeDone = true
			break
		}
	}
	return C.int(n)
}

//export ws_parser_write
func ws_parser_write(h *C.ws_parser_t, opcode C.int, fin C.int, buf *C.uint8_t, n C.size_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	p := lockParser(h, &rc)
	if p == nil {
		return rc
	}
	defer p.mu.Unlock()
	if rc := checkSend(&p.base, "ws_parser_write", opcode, buf, n); rc != C.WS_OK {
		return rc
	}
	if rc := checkCopy(&p.base, "ws_parser_write", n); rc != C.WS_OK {
		return rc
	}
	if err := p.p.WriteFrame(fin != 0, libws.Opcode(opcode), cbytes(buf, n)); err != nil {
		return fail(&p.base, err)
	}
	return C.WS_OK
}

// checkCopy refuses, with WS_ENOMEM, a call that would copy n bytes from
// C into Go memory when they cannot fit in memory at all.
func checkCopy(b *base, fn string, n C.size_t) C.int {
	if bound := memoryBound(); uint64(n) > bound {
		return failf(b, C.WS_ENOMEM, "%s: %d bytes cannot be held in memory (%d bytes of RAM and swap)", fn, uint64(n), bound)
	}
	return C.WS_OK
}

// checkSend validates the arguments of a frame write.
func checkSend(b *base, fn string, opcode C.int, buf *C.uint8_t, n C.size_t) C.int {
	if badBuf(buf, n) {
		return failf(b, C.WS_EINVAL, "%s: buf is NULL", fn)
	}
	if opcode < 0 || opcode > 0xF {
		return failf(b, C.WS_EINVAL, "%s: opcode %d cannot be sent", fn, int(opcode))
	}
	switch libws.Opcode(opcode) {
	case libws.OpContinuation, libws.OpText, libws.OpBinary, libws.OpPing, libws.OpPong:
		return C.WS_OK
	case libws.OpClose:
		return failf(b, C.WS_EINVAL, "%s: send close frames with the close function", fn)
	}
	return failf(b, C.WS_EINVAL, "%s: opcode %d cannot be sent", fn, int(opcode))
}

// checkClose validates a close code and reason the application wants to
// send; it returns the reason.
func checkClose(b *base, code C.int, reason *C.char) (string, C.int) {
	var r string
	if reason != nil {
		r = C.GoString(reason)
	}
	return r, checkCloseReason(b, code, r)
}

// checkCloseReason is checkClose's one set of rules, shared by ws_close,
// ws_parser_close and the hub (ws__check_close).
func checkCloseReason(b *base, code C.int, r string) C.int {
	switch {
	case code == 0 && r != "":
		return failf(b, C.WS_EINVAL, "a close reason needs a close code")
	case code != 0 && (code < 0 || code > 0xFFFF || !libws.ValidCloseCode(libws.StatusCode(code))):
		return failf(b, C.WS_EINVAL, "close code %d may not be sent", int(code))
	case !utf8.ValidString(r):
		return failf(b, C.WS_EINVAL, "the close reason is not valid UTF-8")
	}
	return C.WS_OK
}

//export ws_parser_close
func ws_parser_close(h *C.ws_parser_t, code C.int, reason *C.char) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	p := lockParser(h, &rc)
	if p == nil {
		return rc
	}
	defer p.mu.Unlock()
	r, rc := checkClose(&p.base, code, reason)
	if rc != C.WS_OK {
		return rc
	}
	if p.p.CloseSent() {
		return failf(&p.base, C.WS_ECLOSED, "a close frame was queued already")
	}
	if err := p.p.WriteClose(libws.StatusCode(code), r); err != nil {
		return fail(&p.base, err)
	}
	return C.WS_OK
}

//export ws_parser_output
func ws_parser_output(h *C.ws_parser_t, data **C.uint8_t, n *C.size_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	p := lockParser(h, &rc)
	if p == nil {
		return rc
	}
	defer p.mu.Unlock()
	if data == nil || n == nil {
		return failf(&p.base, C.WS_EINVAL, "ws_parser_output: NULL argument")
	}
	out := p.p.Output()
	*data, *n = (*C.uint8_t)(unsafe.Pointer(&C.ws__empty[0])), 0
	if len(out) > 0 {
		p.pin.Pin(&out[0])
		*data, *n = (*C.uint8_t)(unsafe.Pointer(&out[0])), C.size_t(len(out))
	}
	return C.WS_OK
}

//export ws_parser_consume
func ws_parser_consume(h *C.ws_parser_t, n C.size_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	p := lockParser(h, &rc)
	if p == nil {
		return rc
	}
	defer p.mu.Unlock()
	if have := len(p.p.Output()); uint64(n) > uint64(have) {
		return failf(&p.base, C.WS_EINVAL, "ws_parser_consume: %d bytes consumed but %d are waiting", uint64(n), have)
	}
	if n > 0 {
		p.p.Sent(int(n))
	}
	return C.WS_OK
}

//export ws_parser_close_status
func ws_parser_close_status(h *C.ws_parser_t, code *C.int, reason *C.char, capacity C.size_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	p := lockParser(h, &rc)
	if p == nil {
		return rc
	}
	defer p.mu.Unlock()
	c, r, ok := p.p.CloseStatus()
	return putCloseStatus(ok, int(c), r, code, reason, capacity)
}

// putCloseStatus fills the out-parameters of the close status functions.
func putCloseStatus(known bool, c int, r string, code *C.int, reason *C.char, capacity C.size_t) C.int {
	if !known {
		c, r = 0, ""
	}
	if code != nil {
		*code = C.int(c)
	}
	putCString(reason, capacity, r)
	return C.int(b2i(known))
}

// putCString copies s NUL-terminated into dst[0..capacity), cut at a UTF-8
// character boundary to fit. Nothing is written when dst is NULL or
// capacity is 0.
func putCString(dst *C.char, capacity C.size_t, s string) {
	if dst == nil || capacity == 0 {
		return
	}
	n := len(s)
	if uint64(n) >= uint64(capacity) {
		n = int(capacity) - 1
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
	}
	d := unsafe.Slice((*byte)(unsafe.Pointer(dst)), n+1)
	copy(d, s[:n])
	d[n] = 0
}

//export ws_parser_errmsg
func ws_parser_errmsg(h *C.ws_parser_t) (msg *C.char) {
	defer recoverTo(nil)
	if p := restore[*parser](unsafe.Pointer(h)); p != nil {
		return p.errmsg()
	}
	return nil
}
