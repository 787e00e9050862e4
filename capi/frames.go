package main

/*
#include "ws.h"
*/
import "C"

import (
	"math"
	"unsafe"

	"github.com/libws/libws/libws"
)

// cbytes views C memory as a Go slice without copying. The caller checked
// that p is not NULL when n > 0.
func cbytes(p *C.uint8_t, n C.size_t) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// badBuf reports whether a (pointer, length) pair is unusable.
func badBuf(p *C.uint8_t, n C.size_t) bool {
	return (p == nil && n != 0) || uint64(n) > math.MaxInt
}

// ws_parse_header is a hot path (≤ 100 ns per call from C): no handle, no
// allocation, at most 14 bytes looked at.
//
//export ws_parse_header
func ws_parse_header(buf *C.uint8_t, n C.size_t, out *C.ws_header_t) (rc C.int) {
	defer recoverTo(&rc)
	if out == nil || (buf == nil && n != 0) {
		return failf(nil, C.WS_EINVAL, "ws_parse_header: NULL argument")
	}
	if n > libws.MaxHeaderSize {
		n = libws.MaxHeaderSize
	}
	h, used, err := libws.ParseHeader(cbytes(buf, n))
	if err != nil {
		return fail(nil, err)
	}
	if used == 0 {
		return 0
	}
	out.fin = C.uint8_t(b2i(h.Fin))
	out.rsv = C.uint8_t(h.Rsv)
	out.opcode = C.uint8_t(h.OpCode)
	out.masked = C.uint8_t(b2i(h.Masked))
	out.mask = *(*[4]C.uint8_t)(unsafe.Pointer(&h.Mask))
	out.length = C.uint64_t(h.Length)
	return C.int(used)
}

//export ws_encode_header
func ws_encode_header(h *C.ws_header_t, buf *C.uint8_t, capacity C.size_t) (rc C.int) {
	defer recoverTo(&rc)
	if h == nil || (buf == nil && capacity != 0) {
		return failf(nil, C.WS_EINVAL, "ws_encode_header: NULL argument")
	}
	if h.opcode > 0xF || h.rsv > 7 || h.length > math.MaxInt64 {
		return failf(nil, C.WS_EINVAL, "ws_encode_header: opcode > 15, rsv > 7 or length >= 2^63")
	}
	gh := libws.Header{
		Fin:    h.fin != 0,
		Rsv:    byte(h.rsv),
		OpCode: libws.Opcode(h.opcode),
		Masked: h.masked != 0,
		Mask:   *(*[4]byte)(unsafe.Pointer(&h.mask)),
		Length: int64(h.length),
	}
	if capacity > libws.MaxHeaderSize {
		capacity = libws.MaxHeaderSize
	}
	n, err := libws.PutHeader(cbytes(buf, capacity), &gh)
	if err != nil {
		return failf(nil, C.WS_ENOSPACE, "ws_encode_header: the header needs %d bytes, the buffer has %d", gh.Size(), capacity)
	}
	return C.int(n)
}

//export ws_mask
func ws_mask(buf *C.uint8_t, n C.size_t, key *C.uint8_t, offset C.size_t) (next C.size_t) {
	defer recoverTo(nil)
	next = offset & 3
	if n == 0 || buf == nil || key == nil || uint64(n) > math.MaxInt {
		return next
	}
	k := *(*[4]byte)(unsafe.Pointer(key))
	return C.size_t(libws.Mask(cbytes(buf, n), k, int(next)))
}

//export ws_accept_key
func ws_accept_key(key *C.char, out *C.char) (rc C.int) {
	defer recoverTo(&rc)
	if key == nil || out == nil {
		return failf(nil, C.WS_EINVAL, "ws_accept_key: NULL argument")
	}
	acc := libws.AcceptKey(C.GoString(key))
	dst := unsafe.Slice((*byte)(unsafe.Pointer(out)), len(acc)+1)
	copy(dst, acc)
	dst[len(acc)] = 0
	return C.WS_OK
}

//export ws_utf8_valid
func ws_utf8_valid(data *C.uint8_t, n C.size_t) (rc C.int) {
	defer recoverTo(&rc)
	if badBuf(data, n) {
		return failf(nil, C.WS_EINVAL, "ws_utf8_valid: NULL data with a nonzero length")
	}
	return C.int(b2i(libws.ValidUTF8(cbytes(data, n))))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
