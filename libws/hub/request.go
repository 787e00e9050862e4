package hub

import (
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/libws/libws/libws"
)

// Handshake control (Options.RequestEvents): a valid upgrade request is
// handed to the host as an EventRequest before any response, and the
// connection waits, not reading, for the host's CmdAccept or CmdReject, up
// to the handshake timeout (then 503). A request the hub would refuse
// anyway (not an upgrade, bad key, origin refused) is refused as without
// the option, with no event. Both transports share what is below.

// pendingRequest is a request whose answer the host owes.
type pendingRequest struct {
	req  *libws.Request
	used int // length of the request head in the bytes read
	// upgrade is the handshake as the listener's options would have it;
	// an accept derives the host's choices from it.
	upgrade *libws.UpgradeOptions
}

// Request event payload: the fields of an open event (peer, target,
// subprotocols, headers) where the third is the subprotocols the client
// offers (", "-separated), then the method and the extensions the client
// offers (its Sec-WebSocket-Extensions values, ", "-separated).
const (
	RequestPeer = iota
	RequestTarget
	RequestSubprotocols
	RequestHeaders
	RequestMethod
	RequestExtensions
	requestFields
)

// requestEvent reports a request to the host (see RequestPeer...).
func requestEvent(k eventSink, id uint64, listener uint32, peer string, req *libws.Request) {
	var hb []byte
	for name, vs := range req.Header {
		for _, v := range vs {
			hb = append(hb, name...)
			hb = append(hb, ": "...)
			hb = append(hb, v...)
			hb = append(hb, "\r\n"...)
		}
	}
	var p []byte
	p = appendField(p, peer)
	p = appendField(p, req.RequestURI)
	p = appendField(p, strings.Join(tokens(req.Header, "Sec-Websocket-Protocol"), ", "))
	p = appendField(p, string(hb))
	p = appendField(p, req.Method)
	p = appendField(p, strings.Join(req.Header.Values("Sec-Websocket-Extensions"), ", "))
	k.event(EventRequest, 0, 0, id, listener, p)
}

// tokens splits the comma-separated values of a header.
func tokens(h http.Header, name string) []string {
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

var errFields = errors.New("hub: malformed command payload (length-prefixed fields)")

// Fields decodes n length-prefixed fields (see AppendFields) from a
// record's payload, ignoring any that follow.
func Fields(payload []byte, n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		if len(payload) < 4 {
			return nil, errFields
		}
		m := binary.LittleEndian.Uint32(payload)
		if uint64(m)+5 > uint64(len(payload)) || payload[4+m] != 0 {
			return nil, errFields
		}
		out[i] = string(payload[4 : 4+m])
		payload = payload[5+m:]
	}
	return out, nil
}

// AppendFields appends length-prefixed, NUL-terminated fields, the
// payload encoding of open and request events and of CmdAccept and
// CmdReject.
func AppendFields(dst []byte, fields ...string) []byte {
	for _, f := range fields {
		dst = appendField(dst, f)
	}
	return dst
}

// hostHeaders parses "Name: value\r\n" lines a host gave, with the rules
// a request's own headers get (tokens for names, no control characters).
func hostHeaders(lines string) (http.Header, error) {
	if lines == "" {
		return nil, nil
	}
	if !strings.HasSuffix(lines, "\r\n") {
		lines += "\r\n"
	}
	r, _, err := libws.ParseRequest([]byte("GET / HTTP/1.1\r\n" + lines + "\r\n"))
	if err != nil || r == nil {
		return nil, errors.New("hub: malformed response headers (want \"Name: value\\r\\n\" lines)")
	}
	return r.Header, nil
}

// errAnswer is a host's answer that cannot be carried out: the request is
// refused with 500 and the host gets an error event (EInval) saying why.
type errAnswer struct{ msg string }

func (e *errAnswer) Error() string { return e.msg }

// accept makes the 101 response of a CmdAccept: its opcode is 1 when the
// host chose the subprotocol (the first field; "" for none), 0 to keep
// the listener's choice; the second field holds extra response headers.
func (p *pendingRequest) accept(r Record) (resp []byte, neg libws.Negotiated, err error) {
	f, err := Fields(r.Payload, 2)
	if err != nil {
		return nil, neg, &errAnswer{err.Error()}
	}
	o := *p.upgrade
	// The origin was vetted when the request came in.
	o.CheckOrigin, o.AllowAnyOrigin = nil, true
	if r.Opcode != 0 {
		o.Subprotocols = nil
		if f[0] != "" {
			offered := tokens(p.req.Header, "Sec-Websocket-Protocol")
			found := false
			for _, s := range offered {
				found = found || s == f[0]
			}
			if !found {
				return nil, neg, &errAnswer{"hub: accept: subprotocol " + strconv.Quote(f[0]) + " was not offered by the client"}
			}
			o.Subprotocols = []string{f[0]}
		}
	}
	extra, herr := hostHeaders(f[1])
	if herr != nil {
		return nil, neg, &errAnswer{herr.Error()}
	}
	if len(extra) > 0 {
		h := o.Header.Clone()
		if h == nil {
			h = http.Header{}
		}
		for k, vs := range extra {
			h[k] = append(h[k], vs...)
		}
		o.Header = h
	}
	resp, neg, err = p.req.Accept(&o)
	if err != nil {
		return nil, neg, &errAnswer{"hub: accept: " + err.Error()}
	}
	return resp, neg, nil
}

// rejection makes the response of a CmdReject: code is the HTTP status
// (200-599 but 101), the fields the extra headers and the body.
func rejection(r Record) ([]byte, error) {
	f, err := Fields(r.Payload, 2)
	if err != nil {
		return nil, err
	}
	if r.Code < 200 || r.Code > 599 {
		return nil, errors.New("hub: reject: HTTP status " + strconv.Itoa(int(r.Code)) + " is not in 200..599")
	}
	extra, err := hostHeaders(f[0])
	if err != nil {
		return nil, err
	}
	return httpResponse(int(r.Code), extra, []byte(f[1])), nil
}

// httpResponse is a response that ends the connection.
func httpResponse(status int, extra http.Header, body []byte) []byte {
	b := []byte("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	for k, vs := range extra {
		if k == "Content-Length" || k == "Connection" {
			continue // ours say how this response ends
		}
		for _, v := range vs {
			b = append(b, k+": "+v+"\r\n"...)
		}
	}
	if extra.Get("Content-Type") == "" && len(body) > 0 {
		b = append(b, "Content-Type: text/plain; charset=utf-8\r\n"...)
	}
	b = append(b, "Connection: close\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"...)
	return append(b, body...)
}

// answerFailed is the response to an answer the hub cannot carry out.
func answerFailed() []byte {
	return httpResponse(http.StatusInternalServerError, nil, []byte("internal server error\n"))
}

// answerLate is the response to a request the host did not answer within
// the handshake timeout.
func answerLate() []byte {
	return httpResponse(http.StatusServiceUnavailable, nil, []byte("no answer in time\n"))
}
