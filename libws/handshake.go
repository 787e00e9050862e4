package libws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"

	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	var sum [sha1.Size]byte
	return base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
}

// HandshakeError is a refused opening handshake. On the server side Status
// is the HTTP status that was sent back (400, 403, 426); on the client side
// it is the status the server answered with (0 if the answer was no HTTP).
type HandshakeError struct {
	Status int
	Reason string
}

func (e *HandshakeError) Error() string {
	if e.Status == 0 {
		return "libws: handshake failed: " + e.Reason
	}
	return "libws: handshake failed (" + strconv.Itoa(e.Status) + "): " + e.Reason
}

// MaxRequestSize bounds the opening request UpgradeConn accepts.
const MaxRequestSize = 16 << 10

// Request is an opening handshake request as UpgradeConn parsed it.
type Request struct {
	Method     string
	RequestURI string
	Proto      string
	Host       string
	Header     http.Header
}

// ParseRequest parses an HTTP/1.1 upgrade request at the start of b,
// without net/http. It returns the request and its length; a length of 0
// with a nil error means the request is not complete yet.
func ParseRequest(b []byte) (*Request, int, error) {
	if len(b) > 0 && b[0] == 0x16 {
		// A TLS ClientHello on a plain port would otherwise wait out the
		// handshake timeout for a "\r\n\r\n" that never comes.
		return nil, 0, &HandshakeError{400, "TLS handshake on a plain WebSocket port (use ws://, or enable TLS on the server)"}
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r\n")) {
			// The end of a request written with bare LF line ends: answer
			// it now rather than wait out the handshake timeout for a
			// CRLF CRLF that will not come.
			return nil, 0, &HandshakeError{400, "request lines must end with CRLF"}
		}
		if len(b) >= MaxRequestSize {
			return nil, 0, &HandshakeError{431, "request header too large"}
		}
		return nil, 0, nil
	}
	if end+4 > MaxRequestSize {
		return nil, 0, &HandshakeError{431, "request header too large"}
	}
	// Lines end at CRLF only: a bare CR or LF stays inside its line, where
	// checkFields refuses it, so no value can absorb a header of its own.
	lines := strings.Split(string(b[:end]), "\r\n")
	parts := strings.Split(lines[0], " ")
	if len(parts) != 3 || parts[1] == "" || !isToken(parts[0]) || !strings.HasPrefix(parts[2], "HTTP/") {
		return nil, 0, &HandshakeError{400, "malformed request line"}
	}
	r := &Request{Method: parts[0], RequestURI: parts[1], Proto: parts[2], Header: make(http.Header, len(lines))}
	for _, line := range lines[1:] {
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return nil, 0, &HandshakeError{400, "malformed header line"}
		}
		key := textproto.CanonicalMIMEHeaderKey(line[:colon])
		r.Header[key] = append(r.Header[key], strings.Trim(line[colon+1:], " \t"))
	}
	if herr := checkFields(r.RequestURI, r.Header); herr != nil {
		return nil, 0, herr
	}
	r.Host = r.Header.Get("Host")
	return r, end + 4, nil
}

// checkFields refuses control characters in the request target and the
// header values. Hosts hand these strings on (the hub's open event, a
// binding's request object), and a NUL, CR or LF in them would let a
// client forge fields or headers there that the handshake never saw.
func checkFields(target string, h http.Header) *HandshakeError {
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7F {
			return &HandshakeError{400, "control character or space in the request target"}
		}
	}
	for name, vs := range h {
		if !isToken(name) {
			return &HandshakeError{400, "malformed header name"}
		}
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if c := v[i]; (c < ' ' && c != '\t') || c == 0x7F {
					return &HandshakeError{400, "control character in the value of header " + name}
				}
			}
		}
	}
	return nil
}

// isToken reports whether s is an RFC 7230 token (a method or header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// httpVersionOK accepts HTTP/1.1 and later 1.x versions: RFC 6455 §4.2.1
// asks for "HTTP/1.1 or higher", and the upgrade mechanism it relies on
// does not exist in HTTP/1.0 or HTTP/2.
func httpVersionOK(proto string) bool {
	return len(proto) == len("HTTP/1.1") && strings.HasPrefix(proto, "HTTP/1.") && proto[7] >= '1' && proto[7] <= '9'
}

// DefaultHandshakeTimeout bounds UpgradeConn when UpgradeOptions leaves
// HandshakeTimeout 0.
const DefaultHandshakeTimeout = 10 * time.Second

// UpgradeOptions tune the server side of the handshake.
type UpgradeOptions struct {
	ConnOptions
	// HandshakeTimeout bounds UpgradeConn from its call to the 101: the
	// request, and the TLS handshake when nc is a *tls.Conn. A client
	// that sends half a request (slowloris) or half a ClientHello is
	// dropped then. 0 means DefaultHandshakeTimeout; negative, no bound.
	// It composes with deadlines the caller set on nc: the earlier wins.
	// Upgrade does not use it: there the http.Server's ReadHeaderTimeout
	// bounds the request (and the TLS handshake).
	HandshakeTimeout time.Duration
	// Subprotocols the server speaks, most preferred first; the first one
	// the client also offers is chosen.
	Subprotocols []string
	// CheckOrigin decides whether a request's Origin is allowed (403 if
	// not). nil allows what gorilla/websocket allows by default: a request
	// without Origin (not from a browser) or whose Origin names the
	// request's Host. Any other page could otherwise open a socket that
	// carries the visitor's cookies (cross-site WebSocket hijacking).
	CheckOrigin func(origin string, header http.Header) bool
	// AllowAnyOrigin, when CheckOrigin is nil, accepts every Origin, as
	// the ws (Node) and websockets (Python) servers do: for servers that
	// authenticate otherwise than by cookies.
	AllowAnyOrigin bool
	// Header holds extra response headers.
	Header http.Header
	// Compression accepts permessage-deflate when the client offers it;
	// nil declines it.
	Compression *CompressionOptions
}

// Negotiated is what a server handshake agreed on.
type Negotiated struct {
	Subprotocol string
	// Compression holds the permessage-deflate parameters, nil if none.
	Compression *DeflateParams
}

// negotiate validates an upgrade request and picks the subprotocol; it is
// the single place both server entry points decide whether to accept.
func negotiate(method, target, proto, host string, h http.Header, o *UpgradeOptions) (accept string, n Negotiated, err *HandshakeError) {
	if herr := checkFields(target, h); herr != nil {
		return "", n, herr
	}
	switch {
	case method != http.MethodGet:
		return "", n, &HandshakeError{405, "method is not GET"}
	case !httpVersionOK(proto):
		return "", n, &HandshakeError{400, "protocol is not HTTP/1.1"}
	case host == "" || len(h.Values("Host")) > 1:
		// RFC 7230 §5.4: a request without exactly one Host is refused.
		return "", n, &HandshakeError{400, "missing or repeated Host header"}
	case len(h.Values("Sec-Websocket-Key")) > 1:
		// RFC 6455 §11.3.1: it must not appear more than once.
		return "", n, &HandshakeError{400, "repeated Sec-WebSocket-Key"}
	case len(h.Values("Sec-Websocket-Version")) > 1:
		// RFC 6455 §11.3.5: not more than once in a request.
		return "", n, &HandshakeError{400, "repeated Sec-WebSocket-Version"}
	case !headerHasToken(h, "Connection", "upgrade"):
		return "", n, &HandshakeError{426, "Connection header lacks upgrade"}
	case !headerHasToken(h, "Upgrade", "websocket"):
		return "", n, &HandshakeError{426, "Upgrade header lacks websocket"}
	case h.Get("Sec-Websocket-Version") != "13":
		return "", n, &HandshakeError{426, "unsupported Sec-WebSocket-Version (13 is supported)"}
	}
	key := h.Get("Sec-Websocket-Key")
	if raw, e := base64.StdEncoding.DecodeString(key); e != nil || len(raw) != 16 {
		return "", n, &HandshakeError{400, "invalid Sec-WebSocket-Key"}
	}
	if !originAllowed(host, h, o) {
		return "", n, &HandshakeError{403, "origin not allowed"}
	}
	if o.Compression != nil {
		if params, ok := acceptDeflate(h.Values("Sec-Websocket-Extensions"), o.Compression); ok {
			n.Compression = &params
		}
	}
	offered := headerTokens(h, "Sec-Websocket-Protocol")
	for _, want := range o.Subprotocols {
		if contains(offered, want) {
			n.Subprotocol = want
			break
		}
	}
	return AcceptKey(key), n, nil
}

// originAllowed applies UpgradeOptions' origin policy to a request for
// host.
func originAllowed(host string, h http.Header, o *UpgradeOptions) bool {
	switch {
	case o.CheckOrigin != nil:
		return o.CheckOrigin(h.Get("Origin"), h)
	case o.AllowAnyOrigin:
		return true
	}
	origin := h.Values("Origin")
	if len(origin) == 0 {
		return true
	}
	// An Origin that is present but empty, "null" (sandboxed frames, file
	// pages) or not a URL names no host and is refused, as by gorilla.
	u, err := url.Parse(origin[0])
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

func appendResponse(b []byte, accept string, n Negotiated, extra http.Header) []byte {
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = append(b, accept...)
	b = append(b, "\r\n"...)
	if n.Subprotocol != "" {
		b = append(b, "Sec-WebSocket-Protocol: "+n.Subprotocol+"\r\n"...)
	}
	if n.Compression != nil {
		b = append(b, "Sec-WebSocket-Extensions: "+n.Compression.String()+"\r\n"...)
	}
	for k, vs := range extra {
		for _, v := range vs {
			b = append(b, k+": "+v+"\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}

func appendRefusal(b []byte, e *HandshakeError) []byte {
	b = append(b, "HTTP/1.1 "+strconv.Itoa(e.Status)+" "+http.StatusText(e.Status)+"\r\n"...)
	if e.Status == 426 {
		b = append(b, "Sec-WebSocket-Version: 13\r\n"...)
	}
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(e.Reason)+1), 10)
	return append(b, "\r\n\r\n"+e.Reason+"\n"...)
}

// UpgradeConn does the server handshake on a raw, just-accepted
// connection, reading the request itself, within the handshake timeout. A
// refused request gets its HTTP error response; the connection is closed
// on every error. Bytes the client sent after the request are kept for the
// first read.
func UpgradeConn(nc net.Conn, opts *UpgradeOptions) (*Conn, *Request, error) {
	var o UpgradeOptions
	if opts != nil {
		o = *opts
	}
	timeout := o.HandshakeTimeout
	if timeout == 0 {
		timeout = DefaultHandshakeTimeout
	}
	if timeout < 0 {
		return upgradeConn(nc, &o)
	}
	// A timer rather than a deadline: setting one would replace a
	// shorter deadline of the caller's, and clearing it afterwards would
	// clear theirs too. The timer only ever cuts the handshake short.
	expired := time.AfterFunc(timeout, func() { nc.SetDeadline(time.Unix(1, 0)) })
	c, req, err := upgradeConn(nc, &o)
	if !expired.Stop() && err == nil {
		// The timer fired as the handshake finished: the connection now
		// has a deadline in the past and would fail its first read.
		nc.Close()
		return nil, req, os.ErrDeadlineExceeded
	}
	return c, req, err
}

func upgradeConn(nc net.Conn, o *UpgradeOptions) (*Conn, *Request, error) {
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		req, used, perr := ParseRequest(buf)
		if perr != nil {
			nc.Write(appendRefusal(nil, perr.(*HandshakeError)))
			nc.Close()
			return nil, nil, perr
		}
		if req != nil {
			resp, n, herr := req.Accept(o)
			if _, err := nc.Write(resp); err != nil || herr != nil {
				nc.Close()
				if herr != nil {
					return nil, req, herr
				}
				return nil, req, err
			}
			return newServerConn(nc, buf[used:], o, n), req, nil
		}
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
}

// Accept decides on a parsed request without doing I/O: it returns the
// bytes to send back, a 101 response with the chosen subprotocol or, with a
// *HandshakeError, the HTTP error response that refuses the request.
func (r *Request) Accept(opts *UpgradeOptions) (response []byte, n Negotiated, err error) {
	var o UpgradeOptions
	if opts != nil {
		o = *opts
	}
	accept, n, herr := negotiate(r.Method, r.RequestURI, r.Proto, r.Host, r.Header, &o)
	if herr != nil {
		return appendRefusal(nil, herr), n, herr
	}
	return appendResponse(nil, accept, n, o.Header), n, nil
}

// newServerConn wraps an upgraded connection with what the handshake agreed.
func newServerConn(nc net.Conn, buffered []byte, o *UpgradeOptions, n Negotiated) *Conn {
	c := NewConn(nc, RoleServer, buffered, &o.ConnOptions)
	c.subprotocol = n.Subprotocol
	c.p.EnableCompression(n.Compression, o.Compression)
	return c
}

// RefusalResponse is the HTTP error response that refuses a handshake.
func RefusalResponse(e *HandshakeError) []byte { return appendRefusal(nil, e) }

// Upgrade does the server handshake for a net/http request: it validates
// the request, hijacks the connection and answers 101. On a refused request
// it answers the HTTP error itself and returns the *HandshakeError.
func Upgrade(w http.ResponseWriter, r *http.Request, opts *UpgradeOptions) (*Conn, error) {
	var o UpgradeOptions
	if opts != nil {
		o = *opts
	}
	accept, n, herr := negotiate(r.Method, r.RequestURI, r.Proto, r.Host, r.Header, &o)
	if herr != nil {
		if herr.Status == 426 {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		http.Error(w, herr.Reason, herr.Status)
		return nil, herr
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		herr = &HandshakeError{500, "response writer cannot be hijacked"}
		http.Error(w, herr.Reason, herr.Status)
		return nil, herr
	}
	nc, rw, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	// Reset deadlines the http.Server may have set for the request.
	nc.SetDeadline(time.Time{})
	if _, err := nc.Write(appendResponse(nil, accept, n, o.Header)); err != nil {
		nc.Close()
		return nil, err
	}
	buffered, _ := rw.Reader.Peek(rw.Reader.Buffered())
	c := newServerConn(nc, buffered, &o, n)
	// net/http's connection keeps its 4 KiB read and write buffers, which
	// rw points to, for as long as the handler runs: for a WebSocket, its
	// whole life. Nothing uses them after a hijack, and the buffered bytes
	// are copied, so they are let go here.
	*rw.Reader = bufio.Reader{}
	*rw.Writer = bufio.Writer{}
	return c, nil
}

// DialOptions tune the client side.
type DialOptions struct {
	ConnOptions
	// Header holds extra request headers (Origin, Authorization, …).
	Header http.Header
	// Subprotocols offered, most preferred first.
	Subprotocols []string
	// TLSConfig is used for wss:// URLs; nil means the defaults with the
	// URL's host as server name.
	TLSConfig *tls.Config
	// Compression offers permessage-deflate; nil does not offer it.
	Compression *CompressionOptions
	// NetDial replaces the TCP dialer (e.g. to go through a proxy).
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Dial opens a WebSocket to a ws:// or wss:// URL. ctx bounds the whole
// handshake, TLS included. The HTTP response is returned too, also when the
// server refused the upgrade.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, &HandshakeError{0, "invalid URL: " + err.Error()}
	}
	var secure bool
	switch u.Scheme {
	case "ws":
	case "wss":
		secure = true
	default:
		return nil, nil, &HandshakeError{0, "URL scheme must be ws or wss: " + rawURL}
	}
	if u.Hostname() == "" {
		return nil, nil, &HandshakeError{0, "URL has no host: " + rawURL}
	}
	addr := u.Host
	if u.Port() == "" {
		if secure {
			addr = net.JoinHostPort(u.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	dial := o.NetDial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if secure {
		cfg := o.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{}
		} else {
			cfg = cfg.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, nil, err
		}
		nc = tc
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	c, resp, err := clientHandshake(nc, u, &o)
	if !stop() && (err == nil || resp == nil) {
		// ctx ended the handshake: report that, not the i/o timeout its
		// deadline caused (a complete refusal, resp != nil, stays as is).
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		return nil, resp, err
	}
	nc.SetDeadline(time.Time{})
	return c, resp, nil
}

func clientHandshake(nc net.Conn, u *url.URL, o *DialOptions) (*Conn, *http.Response, error) {
	var raw [16]byte
	rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	var b strings.Builder
	b.WriteString("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n")
	if len(o.Subprotocols) > 0 {
		b.WriteString("Sec-WebSocket-Protocol: " + strings.Join(o.Subprotocols, ", ") + "\r\n")
	}
	if o.Compression != nil {
		b.WriteString("Sec-WebSocket-Extensions: " + deflateOffer(o.Compression) + "\r\n")
	}
	for k, vs := range o.Header {
		for _, v := range vs {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	if _, err := nc.Write([]byte(b.String())); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet, URL: u})
	if err != nil {
		return nil, nil, &HandshakeError{0, "reading the response: " + err.Error()}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, resp, &HandshakeError{resp.StatusCode, "server did not switch protocols: " + resp.Status}
	}
	switch {
	case !headerHasToken(resp.Header, "Upgrade", "websocket"):
		return nil, resp, &HandshakeError{resp.StatusCode, "response Upgrade header lacks websocket"}
	case !headerHasToken(resp.Header, "Connection", "upgrade"):
		return nil, resp, &HandshakeError{resp.StatusCode, "response Connection header lacks upgrade"}
	case resp.Header.Get("Sec-Websocket-Accept") != AcceptKey(key):
		return nil, resp, &HandshakeError{resp.StatusCode, "wrong Sec-WebSocket-Accept"}
	}
	deflate, err := checkDeflateAnswer(resp.Header.Values("Sec-Websocket-Extensions"), o.Compression)
	if err != nil {
		return nil, resp, &HandshakeError{resp.StatusCode, "Sec-WebSocket-Extensions: " + err.Error()}
	}
	sub := resp.Header.Get("Sec-Websocket-Protocol")
	if sub != "" && !contains(o.Subprotocols, sub) {
		return nil, resp, &HandshakeError{resp.StatusCode, "server chose a subprotocol that was not offered: " + sub}
	}
	buffered, _ := br.Peek(br.Buffered())
	c := NewConn(nc, RoleClient, buffered, &o.ConnOptions)
	c.subprotocol = sub
	c.p.EnableCompression(deflate, o.Compression)
	return c, resp, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// headerTokens splits the comma-separated values of a header.
func headerTokens(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, t := range headerTokens(h, name) {
		if strings.EqualFold(t, token) {
			return true
		}
	}
	return false
}

// IsUpgradeRequest reports whether r asks for a WebSocket upgrade, so one
// handler can serve both pages and sockets.
func IsUpgradeRequest(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}
