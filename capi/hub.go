package main

/*
#include <stdlib.h>
#include "hub_internal.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	pointer "github.com/mattn/go-pointer"

	"github.com/libws/libws/libws/hub"
)

// cHost connects a Go hub to the C queues of its ws_hub_t.
type cHost struct{ c *C.struct_ws_hub }

func (h cHost) Publish(b []byte) { h.publish(b, 1) }

// PublishQuiet and NotifyFD make cHost a hub.InlineHost.
func (h cHost) PublishQuiet(b []byte) { h.publish(b, 0) }

func (h cHost) NotifyFD() int { return int(h.c.pipe_r) }

// TakeInPlace makes cHost a hub.DirectHost (see ws_hub_poll_raw).
func (h cHost) TakeInPlace() bool { return C.ws__hub_take_in_place(h.c) != 0 }

// Backlog makes cHost a hub.BackloggedHost.
func (h cHost) Backlog() int { return int(C.ws__hub_backlog(h.c)) }

func (h cHost) publish(b []byte, notify C.int) {
	if len(b) == 0 {
		return
	}
	C.ws__hub_publish(h.c, (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b)), notify)
}

func (h cHost) Commands() []byte {
	// An inline hub carries out its host's commands at once: only poll's
	// close acknowledgements are queued, so most turns find nothing and
	// need not cross into C to see it. A command queued just after this
	// look wakes the loop (wake_loop_unlock), which looks again.
	if atomic.LoadUintptr((*uintptr)(unsafe.Pointer(&h.c.cmd_in.len))) == 0 {
		return nil
	}
	// The batch is read where C put it: out-parameters would be Go
	// variables escaping to the heap, an allocation per turn.
	C.ws__hub_take(h.c)
	t := &h.c.cmd_taken
	if t.len == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(t.data)), int(t.len))
}

func init() {
	defineInt(C.WS_OPT_HUB_HIGH_WATER, "WS_OPT_HUB_HIGH_WATER", 1<<20, 1, math.MaxInt32)
	defineInt(C.WS_OPT_HUB_MAX_BUFFERED, "WS_OPT_HUB_MAX_BUFFERED", 64<<20, 1, math.MaxInt64)
	defineInt(C.WS_OPT_HUB_PING_INTERVAL_MS, "WS_OPT_HUB_PING_INTERVAL_MS", 0, 0, math.MaxInt32)
	defineInt(C.WS_OPT_HUB_IDLE_TIMEOUT_MS, "WS_OPT_HUB_IDLE_TIMEOUT_MS", 0, 0, math.MaxInt32)
	defineStr(C.WS_OPT_HUB_STATIC_DIR, "WS_OPT_HUB_STATIC_DIR", nil)
	defineInt(C.WS_OPT_HUB_THREADED, "WS_OPT_HUB_THREADED", 0, 0, 1)
	defineInt(C.WS_OPT_HUB_MAX_TOTAL_BUFFERED, "WS_OPT_HUB_MAX_TOTAL_BUFFERED", 256<<20, 1, math.MaxInt64)
	defineInt(C.WS_OPT_HUB_PONG_TIMEOUT_MS, "WS_OPT_HUB_PONG_TIMEOUT_MS", 0, 0, math.MaxInt32)
	defineInt(C.WS_OPT_HUB_HANDSHAKE_CONTROL, "WS_OPT_HUB_HANDSHAKE_CONTROL", 0, 0, 1)
}

// hubOptions converts an options handle into the hub's options; server
// says whether TLS settings are a listener's certificate or a client's
// verification.
func hubOptions(h *C.ws_options_t, server bool) (*hub.Options, C.int) {
	v, rc := optionsOf(h)
	if rc != C.WS_OK {
		return nil, rc
	}
	o := &hub.Options{
		Options:          v.protocol(),
		Subprotocols:     splitList(v.Str(C.WS_OPT_SUBPROTOCOLS)),
		HighWater:        int(v.Int(C.WS_OPT_HUB_HIGH_WATER)),
		MaxBuffered:      int(min(v.Int(C.WS_OPT_HUB_MAX_BUFFERED), math.MaxInt)),
		MaxTotalBuffered: int(min(v.Int(C.WS_OPT_HUB_MAX_TOTAL_BUFFERED), math.MaxInt)),
		PingInterval:     v.ms(C.WS_OPT_HUB_PING_INTERVAL_MS),
		PongTimeout:      v.ms(C.WS_OPT_HUB_PONG_TIMEOUT_MS),
		IdleTimeout:      v.ms(C.WS_OPT_HUB_IDLE_TIMEOUT_MS),
		HandshakeTimeout: v.ms(C.WS_OPT_TIMEOUT_MS),
		CloseTimeout:     v.ms(C.WS_OPT_CLOSE_TIMEOUT_MS),
		StaticDir:        v.Str(C.WS_OPT_HUB_STATIC_DIR),
		ReusePort:        v.Int(C.WS_OPT_HUB_REUSEPORT) != 0,
		Broker:           v.Str(C.WS_OPT_HUB_BROKER),
		RequestEvents:    server && v.Int(C.WS_OPT_HUB_HANDSHAKE_CONTROL) == 1,
	}
	if server {
		o.CheckOrigin = v.originCheck()
	}
	var err error
	if o.Compression, err = v.compression(); err != nil {
		return nil, fail(nil, err)
	}
	if server {
		o.TLS, err = v.serverTLS()
	} else {
		if o.Header, err = parseHeaders(v.Str(C.WS_OPT_HEADERS)); err == nil {
			if origin := v.Str(C.WS_OPT_ORIGIN); origin != "" {
				o.Header.Set("Origin", origin)
			}
			o.TLS, err = v.clientTLS()
		}
	}
	if err != nil {
		return nil, fail(nil, err)
	}
	return o, C.WS_OK
}

// goHub returns the Go hub of a live ws_hub_t, or nil.
func goHub(c *C.ws_hub_t) *hub.Hub {
	if c == nil || C.ws__hub_live(c) == 0 {
		return nil
	}
	h, _ := pointer.Restore(c.go_hub).(*hub.Hub)
	return h
}

// hubFail records the message of a failed hub call for the thread and, if
// c is not nil (a live hub), for ws_hub_errmsg; it returns code.
func hubFail(c *C.ws_hub_t, code C.int, format string, args ...any) C.int {
	msg := "libws: " + fmt.Sprintf(format, args...)
	cs := C.CString(msg)
	defer C.free(unsafe.Pointer(cs))
	return C.ws__hub_fail(c, code, cs, C.size_t(len(msg)))
}

func badHub(fn string) C.int {
	return hubFail(nil, C.WS_EBADHANDLE, "%s: invalid or freed ws_hub_t handle", fn)
}

// ws__check_close is checkCloseReason for hub.c (ws_hub_close and close
// records): one set of rules for every close an application sends.
//
//export ws__check_close
func ws__check_close(code C.int, reason *C.char, n C.size_t) (rc C.int) {
	defer recoverTo(&rc)
	var r string
	if n > 0 {
		r = string(cbytes((*C.uint8_t)(unsafe.Pointer(reason)), n))
	}
	return checkCloseReason(nil, code, r)
}

//export ws_hub_new
func ws_hub_new(out **C.ws_hub_t, opts *C.ws_options_t) (rc C.int) {
	defer recoverTo(&rc)
	if out == nil {
		return hubFail(nil, C.WS_EINVAL, "ws_hub_new: out is NULL")
	}
	*out = nil
	o, rc := hubOptions(opts, true)
	if rc != C.WS_OK {
		return rc
	}
	c := C.ws__hub_alloc()
	if c == nil {
		return hubFail(nil, C.WS_EIO, "ws_hub_new: no memory or no pipe for a hub")
	}
	// The loop's eventfd is closed once the loop stops; C must stop writing
	// to it first, under its lock, or a late send could hit a reused fd.
	o.OnStopped = func() { C.ws__hub_mark_shut(c) }
	v, _ := optionsOf(opts)
	o.Inline = v.Int(C.WS_OPT_HUB_THREADED) == 0
	h, err := hub.New(cHost{c}, o)
	if err != nil {
		C.ws__hub_release(c)
		return hubFail(nil, C.WS_EIO, "ws_hub_new: %v", err)
	}
	if o.Inline {
		fd, err := dupCloexec(h.PollFD())
		if err != nil {
			h.Shutdown(0)
			C.ws__hub_release(c)
			return hubFail(nil, C.WS_EIO, "ws_hub_new: %v", err)
		}
		c.inline_fd = C.int(fd)
		c.inline_mode = 1
	}
	c.wakefd = C.int(h.WakeFD())
	c.go_hub = pointer.Save(h)
	*out = c
	return C.WS_OK
}

// The three exports below serve hub.c on an inline hub's hot path. They
// are not part of the ABI: capi/libws.map keeps ws__ names out of
// libws.so's dynamic symbols (tests/c/abi_symbols.sh checks).

// ws__hub_run turns an inline hub's loop once. With a buf (the host's
// ws_hub_poll_raw buffer) the events of the turn are written there as far
// as they fit, and *taken says how many bytes of it hold events.
//
//export ws__hub_run
func ws__hub_run(token unsafe.Pointer, timeoutMs C.int, buf *C.uint8_t, capacity C.size_t, taken *C.size_t) (stopped C.int) {
	*taken = 0
	defer func() {
		if recover() != nil {
			stopped = 1
		}
	}()
	h, _ := pointer.Restore(token).(*hub.Hub)
	if h == nil {
		return 1
	}
	var dst []byte
	if buf != nil {
		dst = unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(capacity))
	}
	yieldIfDue()
	n, done := h.RunInto(time.Duration(timeoutMs)*time.Millisecond, dst)
	*taken = C.size_t(n)
	if done {
		return 1
	}
	return 0
}

// A C thread that calls into Go keeps one goroutine, which the scheduler
// never switches out: after 10 ms on the same scheduler tick the runtime's
// monitor (sysmon) counts it as hogging its P. It then either preempts it
// with a signal, which costs a hand-off between two threads, or, while the
// thread is back in C, takes the P away; getting the P back on the next
// call does not count as a new tick, so the P is taken again at every
// turn of the monitor, which meanwhile polls every 20 us instead of every
// 10 ms: on one core that was 800-1600 extra context switches a second
// under load. Yielding at most every yieldEvery starts a new tick before
// the monitor's 10 ms pass. Measured with bench/ab.sh (100 x 20 B, 7
// rounds): 2 % less server CPU per echoed message.
const yieldEvery = 8 * time.Millisecond

var (
	clockStart = time.Now()
	lastYield  atomic.Int64 // time.Since(clockStart) at the last yield
)

// yieldIfDue is called by a host thread each time it turns an inline hub's
// loop.
func yieldIfDue() {
	now := int64(time.Since(clockStart))
	if last := lastYield.Load(); now-last > int64(yieldEvery) && lastYield.CompareAndSwap(last, now) {
		runtime.Gosched()
	}
}

//export ws__hub_exec
func ws__hub_exec(token unsafe.Pointer, records *C.uint8_t, n C.size_t, refs C.int) {
	defer recoverTo(new(C.int))
	h, _ := pointer.Restore(token).(*hub.Hub)
	if h == nil {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(records)), int(n))
	if refs == 0 {
		h.Exec(b)
	} else {
		h.ExecRefs(b, refBytes) // checked by ws_hub_send_raw
	}
}

// refBytes is the memory a ws_send_ref_t (host byte order, as the host
// wrote it) names: C memory, so no cgo pointer check applies.
func refBytes(ref []byte) []byte {
	addr := uintptr(binary.NativeEndian.Uint64(ref))
	n := binary.NativeEndian.Uint64(ref[8:])
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(nil), addr)), int(n))
}

//export ws__hub_exec_one
func ws__hub_exec_one(token unsafe.Pointer, kind, opcode, code C.int, conn C.uint64_t, data *C.uint8_t, n C.size_t) {
	defer recoverTo(new(C.int))
	h, _ := pointer.Restore(token).(*hub.Hub)
	if h == nil {
		return
	}
	var payload []byte
	if n > 0 {
		payload = unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n))
	}
	h.ExecRecord(hub.Record{Kind: uint8(kind), Opcode: uint8(opcode), Code: uint16(code), Conn: uint64(conn), Payload: payload})
}

//export ws_hub_listen
func ws_hub_listen(c *C.ws_hub_t, host *C.char, port C.int, opts *C.ws_options_t, outPort *C.int) (rc C.int) {
	defer recoverTo(&rc)
	h := goHub(c)
	if h == nil {
		return badHub("ws_hub_listen")
	}
	if host == nil || port < 0 || port > 65535 {
		return hubFail(c, C.WS_EINVAL, "ws_hub_listen: host is NULL or port %d is not in 0..65535", int(port))
	}
	var o *hub.Options
	if opts != nil {
		if o, rc = hubOptions(opts, true); rc != C.WS_OK {
			return C.ws__hub_fail_thread(c, rc)
		}
	}
	addr := net.JoinHostPort(C.GoString(host), strconv.Itoa(int(port)))
	id, bound, err := h.Listen(addr, o)
	if err != nil {
		code := C.int(C.WS_EIO)
		if err == hub.ErrClosed {
			code = C.WS_ECLOSED
		} else if isTLS(err) {
			code = C.WS_ETLS
		}
		return hubFail(c, code, "ws_hub_listen: %v", err)
	}
	if outPort != nil {
		*outPort = C.int(bound)
	}
	return C.int(id)
}

//export ws_hub_connect
func ws_hub_connect(c *C.ws_hub_t, url *C.char, opts *C.ws_options_t, outConn *C.uint64_t) (rc C.int) {
	defer recoverTo(&rc)
	h := goHub(c)
	if h == nil {
		return badHub("ws_hub_connect")
	}
	if url == nil || outConn == nil {
		return hubFail(c, C.WS_EINVAL, "ws_hub_connect: url or out_conn is NULL")
	}
	var o *hub.Options
	if opts != nil {
		if o, rc = hubOptions(opts, false); rc != C.WS_OK {
			return C.ws__hub_fail_thread(c, rc)
		}
	}
	id, err := h.Connect(C.GoString(url), o)
	if err != nil {
		return hubFail(c, C.WS_ECLOSED, "ws_hub_connect: %v", err)
	}
	C.ws__hub_note_id(c, C.uint64_t(id))
	*outConn = C.uint64_t(id)
	return C.WS_OK
}

//export ws_hub_adopt
func ws_hub_adopt(c *C.ws_hub_t, fd C.int, head *C.uint8_t, n C.size_t, opts *C.ws_options_t, outConn *C.uint64_t) (rc C.int) {
	defer recoverTo(&rc)
	h := goHub(c)
	if h == nil {
		return badHub("ws_hub_adopt")
	}
	if fd < 0 || outConn == nil || (head == nil && n > 0) {
		return hubFail(c, C.WS_EINVAL, "ws_hub_adopt: fd < 0, out_conn is NULL or head is NULL")
	}
	var o *hub.Options
	if opts != nil {
		if o, rc = hubOptions(opts, true); rc != C.WS_OK {
			return C.ws__hub_fail_thread(c, rc)
		}
		if o.TLS != nil {
			return hubFail(c, C.WS_EINVAL, "ws_hub_adopt: %v", hub.ErrAdoptTLS)
		}
	}
	var pre []byte
	if n > 0 {
		pre = cbytes(head, n) // Adopt copies it before returning
	}
	id, err := h.Adopt(int(fd), pre, o)
	if err != nil {
		code := C.int(C.WS_EINVAL)
		if err == hub.ErrClosed {
			code = C.WS_ECLOSED
		}
		return hubFail(c, code, "ws_hub_adopt: %v", err)
	}
	C.ws__hub_note_id(c, C.uint64_t(id))
	*outConn = C.uint64_t(id)
	return C.WS_OK
}

//export ws_hub_buffered_amount
func ws_hub_buffered_amount(c *C.ws_hub_t, conn C.uint64_t) (n C.int64_t) {
	var rc C.int
	defer func() {
		if rc != C.WS_OK {
			n = C.int64_t(rc)
		}
	}()
	defer recoverTo(&rc)
	h := goHub(c)
	if h == nil {
		return C.int64_t(badHub("ws_hub_buffered_amount"))
	}
	if rc := C.ws__hub_check_conn(c, staticString("ws_hub_buffered_amount"), conn); rc != C.WS_OK {
		return C.int64_t(rc)
	}
	// A connection that is gone has nothing waiting (ws.h: "Connection
	// ids in calls").
	return C.int64_t(max(h.BufferedAmount(uint64(conn)), 0))
}

//export ws_hub_latency
func ws_hub_latency(c *C.ws_hub_t, conn C.uint64_t) (n C.int64_t) {
	var rc C.int
	defer func() {
		if rc != C.WS_OK {
			n = C.int64_t(rc)
		}
	}()
	defer recoverTo(&rc)
	h := goHub(c)
	if h == nil {
		return C.int64_t(badHub("ws_hub_latency"))
	}
	if rc := C.ws__hub_check_conn(c, staticString("ws_hub_latency"), conn); rc != C.WS_OK {
		return C.int64_t(rc)
	}
	d, _ := h.Latency(uint64(conn)) // gone: 0, as ws_hub_buffered_amount
	return C.int64_t(d.Microseconds())
}

//export ws_hub_shutdown
func ws_hub_shutdown(c *C.ws_hub_t, timeoutMs C.int) (rc C.int) {
	defer recoverTo(&rc)
	h := goHub(c)
	if h == nil {
		return badHub("ws_hub_shutdown")
	}
	if timeoutMs < 0 {
		return hubFail(c, C.WS_EINVAL, "ws_hub_shutdown: timeout_ms must be 0 or more, not %d", int(timeoutMs))
	}
	// Shutdown marks the C side shut through OnStopped (see ws_hub_new).
	h.Shutdown(time.Duration(timeoutMs) * time.Millisecond)
	return C.WS_OK
}

//export ws_hub_free
func ws_hub_free(c *C.ws_hub_t) {
	defer recoverTo(new(C.int))
	h := goHub(c)
	if h == nil {
		return
	}
	h.Shutdown(0)
	pointer.Unref(c.go_hub)
	C.ws__hub_release(c)
}
