package main

/*
#include "ws.h"
*/
import "C"

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/libws/libws/libws"
)

// listener is the ws_listener_t handle. A goroutine accepts TCP
// connections and runs each opening handshake in a goroutine of its own;
// finished connections wait in ready for ws_accept.
type listener struct {
	base
	ln    net.Listener
	port  int
	vals  optValues
	upg   *libws.UpgradeOptions
	tls   *tls.Config
	ready chan accepted
	done  chan struct{}

	mu       sync.Mutex // guards closed and inflight
	closed   bool
	inflight map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// accepted is a server connection with the request that opened it.
type accepted struct {
	c  *libws.Conn
	hs handshakeInfo
}

// handshake runs the server side of the opening handshake on nc, with TLS
// when cfg is set, bounded by timeout (0: none). nc is closed on failure.
func handshake(nc net.Conn, cfg *tls.Config, upg *libws.UpgradeOptions, timeout time.Duration) (accepted, error) {
	if timeout > 0 {
		nc.SetDeadline(time.Now().Add(timeout))
	}
	if cfg != nil {
		nc = tls.Server(nc, cfg)
	}
	c, req, err := libws.UpgradeConn(nc, upg)
	if err != nil {
		nc.Close()
		return accepted{}, err
	}
	nc.SetDeadline(time.Time{})
	return accepted{c, handshakeInfo{req.RequestURI, req.Header}}, nil
}

func (l *listener) acceptLoop() {
	defer l.wg.Done()
	defer func() { recover() }() // never take the process down from here
	delay := time.Duration(0)
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(delay):
				continue
			case <-l.done:
				return
			}
		}
		delay = 0
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			nc.Close()
			return
		}
		l.inflight[nc] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.serve(nc)
	}
}

func (l *listener) serve(nc net.Conn) {
	defer l.wg.Done()
	defer func() { recover() }()
	a, err := handshake(nc, l.tls, l.upg, l.vals.ms(C.WS_OPT_TIMEOUT_MS))
	l.mu.Lock()
	delete(l.inflight, nc)
	l.mu.Unlock()
	if err != nil {
		return // the client got its HTTP error; the listener goes on
	}
	select {
	case l.ready <- a:
	case <-l.done:
		a.c.CloseNow()
	}
}

//export ws_listen
func ws_listen(out **C.ws_listener_t, host *C.char, port C.int, opts *C.ws_options_t) (rc C.int) {
	defer recoverTo(&rc)
	if out == nil {
		return failf(nil, C.WS_EINVAL, "ws_listen: out is NULL")
	}
	*out = nil
	if port < 0 || port > 65535 {
		return failf(nil, C.WS_EINVAL, "ws_listen: port %d is out of 0..65535", int(port))
	}
	v, rc := optionsOf(opts)
	if rc != C.WS_OK {
		return rc
	}
	upg, err := v.upgrade()
	if err != nil {
		return fail(nil, err)
	}
	cfg, err := v.serverTLS()
	if err != nil {
		return fail(nil, err)
	}
	var hostname string
	if host != nil {
		hostname = C.GoString(host)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(hostname, strconv.Itoa(int(port))))
	if err != nil {
		return fail(nil, err)
	}
	l := &listener{
		ln:       ln,
		port:     ln.Addr().(*net.TCPAddr).Port,
		vals:     v,
		upg:      upg,
		tls:      cfg,
		ready:    make(chan accepted, 64),
		done:     make(chan struct{}),
		inflight: map[net.Conn]struct{}{},
	}
	l.wg.Add(1)
	go l.acceptLoop()
	*out = (*C.ws_listener_t)(register(l))
	return C.WS_OK
}

//export ws_listener_port
func ws_listener_port(h *C.ws_listener_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	l := restore[*listener](unsafe.Pointer(h))
	if l == nil {
		return badHandle("ws_listener_t")
	}
	return C.int(l.port)
}

//export ws_accept
func ws_accept(h *C.ws_listener_t, out **C.ws_conn_t, timeoutMs C.int) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	l := restore[*listener](unsafe.Pointer(h))
	if l == nil {
		return badHandle("ws_listener_t")
	}
	if out == nil || timeoutMs < -1 {
		return failf(&l.base, C.WS_EINVAL, "ws_accept: out is NULL or timeout_ms < -1")
	}
	*out = nil
	var timeout <-chan time.Time
	switch {
	case timeoutMs == 0:
		select {
		case a := <-l.ready:
			*out = (*C.ws_conn_t)(register(newConn(a.c, l.vals, a.hs)))
			return C.WS_OK
		case <-l.done:
			return failf(&l.base, C.WS_ECLOSED, "the listener was freed")
		default:
			return failf(&l.base, C.WS_EAGAIN, "no connection is ready")
		}
	case timeoutMs > 0:
		t := time.NewTimer(time.Duration(timeoutMs) * time.Millisecond)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case a := <-l.ready:
		*out = (*C.ws_conn_t)(register(newConn(a.c, l.vals, a.hs)))
		return C.WS_OK
	case <-l.done:
		return failf(&l.base, C.WS_ECLOSED, "the listener was freed")
	case <-timeout:
		return failf(&l.base, C.WS_ETIMEDOUT, "no connection within %d ms", int(timeoutMs))
	}
}

//export ws_listener_free
func ws_listener_free(h *C.ws_listener_t) {
	defer recoverTo(nil)
	l := restore[*listener](unsafe.Pointer(h))
	if l == nil || !release(&l.base) {
		return
	}
	l.mu.Lock()
	l.closed = true
	for nc := range l.inflight {
		nc.Close()
	}
	l.mu.Unlock()
	close(l.done)
	l.ln.Close()
	l.wg.Wait()
	for {
		select {
		case a := <-l.ready:
			a.c.CloseNow()
			continue
		default:
		}
		break
	}
	l.freeMsgs()
}

//export ws_listener_errmsg
func ws_listener_errmsg(h *C.ws_listener_t) (msg *C.char) {
	defer recoverTo(nil)
	if l := restore[*listener](unsafe.Pointer(h)); l != nil {
		return l.errmsg()
	}
	return nil
}

//export ws_adopt_fd
func ws_adopt_fd(out **C.ws_conn_t, fd C.int, opts *C.ws_options_t) (rc C.int) {
	defer recoverTo(&rc)
	if out == nil || fd < 0 {
		return failf(nil, C.WS_EINVAL, "ws_adopt_fd: out is NULL or fd < 0")
	}
	*out = nil
	// libws owns fd from here on: it is closed on every path below.
	f := os.NewFile(uintptr(fd), "ws_adopt_fd")
	nc, err := net.FileConn(f) // works on a duplicate
	f.Close()
	if err != nil {
		if errors.Is(err, syscall.ENOTSOCK) || errors.Is(err, syscall.EBADF) {
			return failf(nil, C.WS_EINVAL, "ws_adopt_fd: fd %d is not a usable socket: %v", int(fd), err)
		}
		return fail(nil, err)
	}
	v, rc := optionsOf(opts)
	if rc != C.WS_OK {
		nc.Close()
		return rc
	}
	upg, err := v.upgrade()
	if err != nil {
		nc.Close()
		return fail(nil, err)
	}
	cfg, err := v.serverTLS()
	if err != nil {
		nc.Close()
		return fail(nil, err)
	}
	a, err := handshake(nc, cfg, upg, v.ms(C.WS_OPT_TIMEOUT_MS))
	if err != nil {
		return fail(nil, err)
	}
	*out = (*C.ws_conn_t)(register(newConn(a.c, v, a.hs)))
	return C.WS_OK
}

//export ws_connect
func ws_connect(out **C.ws_conn_t, rawURL *C.char, opts *C.ws_options_t) (rc C.int) {
	defer recoverTo(&rc)
	if out == nil || rawURL == nil {
		return failf(nil, C.WS_EINVAL, "ws_connect: NULL argument")
	}
	*out = nil
	s := C.GoString(rawURL)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Hostname() == "" {
		return failf(nil, C.WS_EINVAL, "ws_connect: %q is not a ws:// or wss:// URL with a host", s)
	}
	// url.Parse takes any digits as a port; the dialer's refusal of them
	// would read as a network error (WS_EIO).
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return failf(nil, C.WS_EINVAL, "ws_connect: %q has port %s, not in 1..65535", s, p)
		}
	}
	v, rc := optionsOf(opts)
	if rc != C.WS_OK {
		return rc
	}
	do, err := v.dial(u.Scheme == "wss")
	if err != nil {
		return fail(nil, err)
	}
	ctx := context.Background()
	if t := v.ms(C.WS_OPT_TIMEOUT_MS); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	c, resp, err := libws.Dial(ctx, s, do)
	if err != nil {
		if ctx.Err() != nil {
			return failf(nil, C.WS_ETIMEDOUT, "ws_connect %s: timed out after %v: %v", s, v.ms(C.WS_OPT_TIMEOUT_MS), err)
		}
		return failf(nil, errCode(err), "ws_connect %s: %v", s, err)
	}
	*out = (*C.ws_conn_t)(register(newConn(c, v, handshakeInfo{u.RequestURI(), resp.Header})))
	return C.WS_OK
}
