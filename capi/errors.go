package main

/*
#include "ws.h"
#include "internal.h"
*/
import "C"

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/libws/libws/libws"
)

// cerr is an error this package reports itself, with its C code.
type cerr struct {
	code C.int
	msg  string
}

func (e *cerr) Error() string { return e.msg }

// msgPrefix starts every message ws_errmsg() and the ws_*_errmsg functions
// give, once. Errors of the engine carry it already, network errors do not,
// and messages made here embed other errors: errText is the one place that
// puts it in front.
const msgPrefix = "libws: "

// errText is err's message as C sees it: exactly one msgPrefix in front.
func errText(err error) string {
	return msgPrefix + strings.TrimPrefix(err.Error(), msgPrefix)
}

// newErr makes an error with its C code; errors among args are formatted
// without their own prefix, so the message has one when errText adds it.
func newErr(code C.int, format string, args ...any) error {
	for i, a := range args {
		if e, ok := a.(error); ok {
			args[i] = strings.TrimPrefix(e.Error(), msgPrefix)
		}
	}
	return &cerr{code, fmt.Sprintf(format, args...)}
}

// errCode is the one place that maps engine, network and TLS errors to the
// WS_E* codes of ws.h.
func errCode(err error) C.int {
	if err == nil {
		return C.WS_OK
	}
	var ce *cerr
	if errors.As(err, &ce) {
		return ce.code
	}
	var pe *libws.ProtocolError
	if errors.As(err, &pe) {
		switch pe.Code {
		case libws.StatusInvalidPayloadData:
			return C.WS_EUTF8
		case libws.StatusMessageTooBig:
			return C.WS_ETOOBIG
		}
		return C.WS_EPROTO
	}
	var cl *libws.CloseError
	var he *libws.HandshakeError
	switch {
	case errors.As(err, &cl), errors.Is(err, libws.ErrClosed), errors.Is(err, net.ErrClosed):
		return C.WS_ECLOSED
	case errors.As(err, &he):
		return C.WS_EHANDSHAKE
	case errors.Is(err, libws.ErrInvalidOpcode), errors.Is(err, libws.ErrControlPayload):
		return C.WS_EINVAL
	case errors.Is(err, libws.ErrBufferTooSmall):
		return C.WS_ENOSPACE
	case isTimeout(err):
		return C.WS_ETIMEDOUT
	case isTLS(err):
		return C.WS_ETLS
	case errors.Is(err, syscall.ENOMEM):
		return C.WS_ENOMEM
	}
	return C.WS_EIO
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isTLS(err error) bool {
	var (
		rh  tls.RecordHeaderError
		ae  tls.AlertError
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		ci  x509.CertificateInvalidError
	)
	if errors.As(err, &rh) || errors.As(err, &ae) || errors.As(err, &cve) ||
		errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return true
	}
	// Remote alerts ("remote error: tls: bad certificate") have no exported type.
	return strings.Contains(err.Error(), "tls: ")
}

// setThreadMsg records msg as the calling thread's ws_errmsg(). Exports run
// on the C thread that called them, so this is that thread's storage.
func setThreadMsg(msg string) {
	C.ws__set_errmsg((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

// fail records err as the message of the failing call, for the thread and
// on the handle b (nil: none), and returns its code.
func fail(b *base, err error) C.int {
	msg := errText(err)
	setThreadMsg(msg)
	if b != nil {
		b.setMsg(msg)
	}
	return errCode(err)
}

// failf is fail with an error made here.
func failf(b *base, code C.int, format string, args ...any) C.int {
	return fail(b, newErr(code, format, args...))
}

// recoverTo is deferred first by every export:
//
//	defer recoverTo(&rc, unsafe.Pointer(h)) // or recoverTo(&rc), recoverTo(nil)
//
// It turns a panic into WS_EINTERNAL in *rc (rc may be nil for exports
// without an int result), with the panic as the message for the thread and
// on the handle h when h is a live one.
func recoverTo(rc *C.int, h ...unsafe.Pointer) {
	r := recover()
	if r == nil {
		return
	}
	msg := msgPrefix + fmt.Sprintf("internal error: %v", r)
	setThreadMsg(msg)
	for _, k := range h {
		if b := baseOf(k); b != nil {
			b.setMsg(msg)
		}
	}
	if rc != nil {
		*rc = C.WS_EINTERNAL
	}
}

// staticString returns s as a C string that lives as long as the process;
// the same s always gives the same pointer. For the few fixed strings the
// ABI hands out. (A global array, so leak checkers see the strings.)
func staticString(s string) *C.char {
	if s == "" {
		return (*C.char)(unsafe.Pointer(&C.ws__empty[0]))
	}
	staticMu.Lock()
	defer staticMu.Unlock()
	for i := 0; i < staticN; i++ {
		if staticKeys[i] == s {
			return staticVals[i]
		}
	}
	if staticN == len(staticVals) {
		panic("staticString: table full")
	}
	staticKeys[staticN], staticVals[staticN] = s, C.CString(s)
	staticN++
	return staticVals[staticN-1]
}

var (
	staticMu   sync.Mutex
	staticKeys [128]string
	staticVals [128]*C.char
	staticN    int
)

// errRing is how many past messages a handle keeps readable: a reader and a
// writer thread may fail at once, and each should still find its message.
const errRing = 4

// base is embedded in every handle: its identity and its last errors, kept
// as C strings so ws_*_errmsg can hand them out.
type base struct {
	key   unsafe.Pointer // the C handle, from go-pointer
	freed atomic.Bool

	emu  sync.Mutex
	msgs [errRing]*C.char
	cur  int
	dead bool
}

func (b *base) handleBase() *base { return b }

func (b *base) setMsg(msg string) {
	b.emu.Lock()
	defer b.emu.Unlock()
	if b.dead {
		return
	}
	i := (b.cur + 1) % errRing
	if b.msgs[i] != nil {
		C.free(unsafe.Pointer(b.msgs[i]))
	}
	b.msgs[i] = C.CString(msg)
	b.cur = i
}

// errmsg returns the last message, or "" (a static string) if none.
func (b *base) errmsg() *C.char {
	b.emu.Lock()
	defer b.emu.Unlock()
	if m := b.msgs[b.cur]; m != nil {
		return m
	}
	return staticString("")
}

// freeMsgs releases the messages; later setMsg calls are ignored.
func (b *base) freeMsgs() {
	b.emu.Lock()
	defer b.emu.Unlock()
	b.dead = true
	for i, m := range b.msgs {
		if m != nil {
			C.free(unsafe.Pointer(m))
			b.msgs[i] = nil
		}
	}
}
