package main

/*
#include "ws.h"
*/
import "C"

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/libws/libws/libws"
)

type optKind uint8

const (
	optInt optKind = iota
	optStr
)

// optSpec describes one WS_OPT_* option.
type optSpec struct {
	name     string
	kind     optKind
	def      int64
	min, max int64
	check    func(string) error // string options: validated when set
	// checkInt refuses values inside min..max that the option still
	// cannot take, when set (not later, at use).
	checkInt func(int64) error
}

// optSpecs holds every known option. It is filled by init functions only
// (defineInt / defineStr; hub and compression code add theirs the same way)
// and read-only afterwards.
var optSpecs = map[int]*optSpec{}

func defineInt(id C.int, name string, def, min, max int64) {
	optSpecs[int(id)] = &optSpec{name: name, kind: optInt, def: def, min: min, max: max}
}

// defineIntCheck is defineInt with a check of its own besides the range.
func defineIntCheck(id C.int, name string, def, min, max int64, check func(int64) error) {
	defineInt(id, name, def, min, max)
	optSpecs[int(id)].checkInt = check
}

func defineStr(id C.int, name string, check func(string) error) {
	optSpecs[int(id)] = &optSpec{name: name, kind: optStr, check: check}
}

func init() {
	defineInt(C.WS_OPT_MAX_FRAME_SIZE, "WS_OPT_MAX_FRAME_SIZE", 0, 0, math.MaxInt64)
	defineInt(C.WS_OPT_MAX_MESSAGE_SIZE, "WS_OPT_MAX_MESSAGE_SIZE", 0, 0, math.MaxInt64)
	defineInt(C.WS_OPT_AUTO_PONG, "WS_OPT_AUTO_PONG", 1, 0, 1)
	defineInt(C.WS_OPT_AUTO_CLOSE, "WS_OPT_AUTO_CLOSE", 1, 0, 1)
	defineInt(C.WS_OPT_TIMEOUT_MS, "WS_OPT_TIMEOUT_MS", 10000, 0, math.MaxInt32)
	defineInt(C.WS_OPT_CLOSE_TIMEOUT_MS, "WS_OPT_CLOSE_TIMEOUT_MS", 5000, 1, math.MaxInt32)
	defineInt(C.WS_OPT_TLS_VERIFY, "WS_OPT_TLS_VERIFY", 1, 0, 1)
	defineInt(C.WS_OPT_READ_TIMEOUT_MS, "WS_OPT_READ_TIMEOUT_MS", 0, 0, math.MaxInt32)
	defineInt(C.WS_OPT_WRITE_TIMEOUT_MS, "WS_OPT_WRITE_TIMEOUT_MS", 0, 0, math.MaxInt32)
	// 0 lets the engine pool the buffer (an idle connection holds none);
	// a size set is the connection's own, and under 64 bytes it is refused.
	defineIntCheck(C.WS_OPT_READ_BUFFER_SIZE, "WS_OPT_READ_BUFFER_SIZE", 0, 0, 64<<20, ownBufferSize)
	defineIntCheck(C.WS_OPT_WRITE_BUFFER_SIZE, "WS_OPT_WRITE_BUFFER_SIZE", 0, 0, 64<<20, ownBufferSize)

	defineStr(C.WS_OPT_SUBPROTOCOLS, "WS_OPT_SUBPROTOCOLS", checkTokens)
	defineStr(C.WS_OPT_HEADERS, "WS_OPT_HEADERS", func(s string) error { _, err := parseHeaders(s); return err })
	defineStr(C.WS_OPT_TLS_CERT_FILE, "WS_OPT_TLS_CERT_FILE", nil)
	defineStr(C.WS_OPT_TLS_KEY_FILE, "WS_OPT_TLS_KEY_FILE", nil)
	defineStr(C.WS_OPT_TLS_CA_FILE, "WS_OPT_TLS_CA_FILE", nil)
	defineStr(C.WS_OPT_ORIGIN, "WS_OPT_ORIGIN", checkNoCTL)
	defineStr(C.WS_OPT_TLS_SERVER_NAME, "WS_OPT_TLS_SERVER_NAME", checkNoCTL)
}

func ownBufferSize(n int64) error {
	if n != 0 && n < 64 {
		return fmt.Errorf("a buffer of its own takes at least 64 bytes (0: pooled)")
	}
	return nil
}

// optValues is a snapshot of an options handle: constructors take one when
// called, so the handle may change or be freed afterwards.
type optValues struct {
	ints map[int]int64
	strs map[int]string
}

// Int returns an integer option, or its default when unset.
func (v optValues) Int(id C.int) int64 {
	if x, ok := v.ints[int(id)]; ok {
		return x
	}
	if s := optSpecs[int(id)]; s != nil {
		return s.def
	}
	return 0
}

// Str returns a string option, "" when unset.
func (v optValues) Str(id C.int) string { return v.strs[int(id)] }

func (v optValues) ms(id C.int) time.Duration { return time.Duration(v.Int(id)) * time.Millisecond }

// options is the ws_options_t handle.
type options struct {
	base
	mu   sync.Mutex
	vals optValues
}

func (o *options) snapshot() optValues {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := optValues{ints: make(map[int]int64, len(o.vals.ints)), strs: make(map[int]string, len(o.vals.strs))}
	for k, x := range o.vals.ints {
		v.ints[k] = x
	}
	for k, s := range o.vals.strs {
		v.strs[k] = s
	}
	return v
}

// optionsOf snapshots the options handle h; NULL gives the defaults.
func optionsOf(h *C.ws_options_t) (optValues, C.int) {
	if h == nil {
		return optValues{}, C.WS_OK
	}
	o := restore[*options](unsafe.Pointer(h))
	if o == nil {
		return optValues{}, badHandle("ws_options_t")
	}
	return o.snapshot(), C.WS_OK
}

//export ws_options_new
func ws_options_new(out **C.ws_options_t) (rc C.int) {
	defer recoverTo(&rc)
	if out == nil {
		return failf(nil, C.WS_EINVAL, "ws_options_new: out is NULL")
	}
	*out = nil
	o := &options{vals: optValues{ints: map[int]int64{}, strs: map[int]string{}}}
	*out = (*C.ws_options_t)(register(o))
	return C.WS_OK
}

//export ws_options_free
func ws_options_free(h *C.ws_options_t) {
	defer recoverTo(nil)
	o := restore[*options](unsafe.Pointer(h))
	if o == nil || !release(&o.base) {
		return
	}
	o.mu.Lock()
	o.vals = optValues{}
	o.mu.Unlock()
	o.freeMsgs()
}

func lookupOpt(b *base, opt C.int, kind optKind) (*optSpec, C.int) {
	s := optSpecs[int(opt)]
	if s == nil {
		return nil, failf(b, C.WS_EINVAL, "unknown option %d", int(opt))
	}
	if s.kind != kind {
		what := "an integer"
		if s.kind == optStr {
			what = "a string"
		}
		return nil, failf(b, C.WS_EINVAL, "%s takes %s value", s.name, what)
	}
	return s, C.WS_OK
}

//export ws_options_set_int
func ws_options_set_int(h *C.ws_options_t, opt C.int, value C.int64_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	o := restore[*options](unsafe.Pointer(h))
	if o == nil {
		return badHandle("ws_options_t")
	}
	s, rc := lookupOpt(&o.base, opt, optInt)
	if s == nil {
		return rc
	}
	v := int64(value)
	if v < s.min || v > s.max {
		return failf(&o.base, C.WS_EINVAL, "%s must be in %d..%d, not %d", s.name, s.min, s.max, v)
	}
	if s.checkInt != nil {
		if err := s.checkInt(v); err != nil {
			return failf(&o.base, C.WS_EINVAL, "%s: %v", s.name, err)
		}
	}
	o.mu.Lock()
	o.vals.ints[int(opt)] = v
	o.mu.Unlock()
	return C.WS_OK
}

//export ws_options_set_str
func ws_options_set_str(h *C.ws_options_t, opt C.int, value *C.char) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	o := restore[*options](unsafe.Pointer(h))
	if o == nil {
		return badHandle("ws_options_t")
	}
	s, rc := lookupOpt(&o.base, opt, optStr)
	if s == nil {
		return rc
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if value == nil {
		delete(o.vals.strs, int(opt))
		return C.WS_OK
	}
	v := C.GoString(value)
	if s.check != nil {
		if err := s.check(v); err != nil {
			return failf(&o.base, C.WS_EINVAL, "%s: %v", s.name, err)
		}
	}
	o.vals.strs[int(opt)] = v
	return C.WS_OK
}

//export ws_options_get_int
func ws_options_get_int(h *C.ws_options_t, opt C.int, value *C.int64_t) (rc C.int) {
	defer recoverTo(&rc, unsafe.Pointer(h))
	o := restore[*options](unsafe.Pointer(h))
	if o == nil {
		return badHandle("ws_options_t")
	}
	if value == nil {
		return failf(&o.base, C.WS_EINVAL, "ws_options_get_int: value is NULL")
	}
	if s, rc := lookupOpt(&o.base, opt, optInt); s == nil {
		return rc
	}
	*value = C.int64_t(o.snapshot().Int(opt))
	return C.WS_OK
}

//export ws_options_errmsg
func ws_options_errmsg(h *C.ws_options_t) (msg *C.char) {
	defer recoverTo(nil)
	if o := restore[*options](unsafe.Pointer(h)); o != nil {
		return o.errmsg()
	}
	return nil
}

// ---- string option formats ----

func isTokenChar(c byte) bool {
	return c > 0x20 && c < 0x7f && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(c))
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func splitList(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func checkTokens(s string) error {
	for _, t := range splitList(s) {
		if !isToken(t) {
			return fmt.Errorf("%q is not an HTTP token", t)
		}
	}
	return nil
}

func checkNoCTL(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return fmt.Errorf("control character in %q", s)
		}
	}
	return nil
}

// Headers the handshake writes itself; setting them would duplicate them.
var reservedHeaders = map[string]bool{
	"Host": true, "Upgrade": true, "Connection": true, "Content-Length": true,
	"Sec-Websocket-Key": true, "Sec-Websocket-Version": true, "Sec-Websocket-Accept": true,
	"Sec-Websocket-Extensions": true, "Sec-Websocket-Protocol": true,
}

// parseHeaders reads "Name: value" lines separated by "\r\n" or "\n".
func parseHeaders(s string) (http.Header, error) {
	h := http.Header{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return nil, fmt.Errorf("malformed header line %q (want \"Name: value\")", line)
		}
		name := textproto.CanonicalMIMEHeaderKey(line[:colon])
		value := strings.TrimSpace(line[colon+1:])
		for i := 0; i < len(value); i++ {
			if (value[i] < 0x20 && value[i] != '\t') || value[i] == 0x7f {
				return nil, fmt.Errorf("control character in the value of %s", name)
			}
		}
		if reservedHeaders[name] {
			return nil, fmt.Errorf("%s is set by the handshake itself (use WS_OPT_SUBPROTOCOLS for subprotocols)", name)
		}
		h.Add(name, value)
	}
	return h, nil
}

// ---- conversion to the engine's option structs ----

func (v optValues) protocol() libws.Options {
	return libws.Options{
		MaxFrameSize:     v.Int(C.WS_OPT_MAX_FRAME_SIZE),
		MaxMessageSize:   v.Int(C.WS_OPT_MAX_MESSAGE_SIZE),
		DisableAutoPong:  v.Int(C.WS_OPT_AUTO_PONG) == 0,
		DisableAutoClose: v.Int(C.WS_OPT_AUTO_CLOSE) == 0,
	}
}

func (v optValues) conn() libws.ConnOptions {
	return libws.ConnOptions{
		Options:         v.protocol(),
		ReadBufferSize:  int(v.Int(C.WS_OPT_READ_BUFFER_SIZE)),
		WriteBufferSize: int(v.Int(C.WS_OPT_WRITE_BUFFER_SIZE)),
		CloseTimeout:    v.ms(C.WS_OPT_CLOSE_TIMEOUT_MS),
	}
}

func readPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, newErr(C.WS_ETLS, "reading the CA file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, newErr(C.WS_ETLS, "no PEM certificate in the CA file %s", file)
	}
	return pool, nil
}

func (v optValues) keyPair() (*tls.Certificate, error) {
	cert, key := v.Str(C.WS_OPT_TLS_CERT_FILE), v.Str(C.WS_OPT_TLS_KEY_FILE)
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, newErr(C.WS_EINVAL, "WS_OPT_TLS_CERT_FILE and WS_OPT_TLS_KEY_FILE must be set together")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, newErr(C.WS_ETLS, "loading the TLS certificate: %v", err)
	}
	return &pair, nil
}

// serverTLS is the TLS configuration of a server, nil for plain TCP.
func (v optValues) serverTLS() (*tls.Config, error) {
	pair, err := v.keyPair()
	if pair == nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{*pair}, MinVersion: tls.VersionTLS12}
	if ca := v.Str(C.WS_OPT_TLS_CA_FILE); ca != "" {
		if cfg.ClientCAs, err = readPool(ca); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func (v optValues) clientTLS() (*tls.Config, error) {
	cfg := &tls.Config{
		InsecureSkipVerify: v.Int(C.WS_OPT_TLS_VERIFY) == 0,
		ServerName:         v.Str(C.WS_OPT_TLS_SERVER_NAME),
		MinVersion:         tls.VersionTLS12,
	}
	var err error
	if ca := v.Str(C.WS_OPT_TLS_CA_FILE); ca != "" {
		if cfg.RootCAs, err = readPool(ca); err != nil {
			return nil, err
		}
	}
	pair, err := v.keyPair()
	if err != nil {
		return nil, err
	}
	if pair != nil {
		cfg.Certificates = []tls.Certificate{*pair}
	}
	return cfg, nil
}

func (v optValues) upgrade() (*libws.UpgradeOptions, error) {
	hdr, err := parseHeaders(v.Str(C.WS_OPT_HEADERS))
	if err != nil {
		return nil, newErr(C.WS_EINVAL, "WS_OPT_HEADERS: %v", err)
	}
	comp, err := v.compression()
	if err != nil {
		return nil, err
	}
	o := &libws.UpgradeOptions{
		ConnOptions:  v.conn(),
		Subprotocols: splitList(v.Str(C.WS_OPT_SUBPROTOCOLS)),
		Header:       hdr,
		Compression:  comp,
		// Without WS_OPT_ORIGIN every origin passes, as in ws/websockets.
		AllowAnyOrigin: true,
	}
	o.CheckOrigin = v.originCheck()
	return o, nil
}

// originCheck is the server's WS_OPT_ORIGIN test, nil when unset: a
// comma-separated list, case-insensitive; requests without an Origin (not
// from a browser) pass.
func (v optValues) originCheck() func(string, http.Header) bool {
	allowed := splitList(v.Str(C.WS_OPT_ORIGIN))
	if len(allowed) == 0 {
		return nil
	}
	return func(origin string, _ http.Header) bool {
		if origin == "" {
			return true
		}
		for _, a := range allowed {
			if strings.EqualFold(a, origin) {
				return true
			}
		}
		return false
	}
}

// dial gives the client options; the TLS settings are read only for wss.
func (v optValues) dial(secure bool) (*libws.DialOptions, error) {
	hdr, err := parseHeaders(v.Str(C.WS_OPT_HEADERS))
	if err != nil {
		return nil, newErr(C.WS_EINVAL, "WS_OPT_HEADERS: %v", err)
	}
	if origin := v.Str(C.WS_OPT_ORIGIN); origin != "" {
		hdr.Set("Origin", origin)
	}
	var cfg *tls.Config
	if secure {
		if cfg, err = v.clientTLS(); err != nil {
			return nil, err
		}
	}
	comp, err := v.compression()
	if err != nil {
		return nil, err
	}
	return &libws.DialOptions{
		ConnOptions:  v.conn(),
		Header:       hdr,
		Subprotocols: splitList(v.Str(C.WS_OPT_SUBPROTOCOLS)),
		TLSConfig:    cfg,
		Compression:  comp,
	}, nil
}
