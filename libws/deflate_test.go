package libws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"
)

func TestParseDeflateParams(t *testing.T) {
	for _, tc := range []struct {
		header string
		offer  bool
		want   DeflateParams
		ok     bool
	}{
		{"permessage-deflate", true, DeflateParams{}, true},
		{"permessage-deflate; server_no_context_takeover", true, DeflateParams{ServerNoContextTakeover: true}, true},
		{"permessage-deflate; client_no_context_takeover", true, DeflateParams{ClientNoContextTakeover: true}, true},
		{"permessage-deflate; server_max_window_bits=10", true, DeflateParams{ServerMaxWindowBits: 10}, true},
		{`permessage-deflate; server_max_window_bits="12"`, true, DeflateParams{ServerMaxWindowBits: 12}, true},
		{"permessage-deflate; client_max_window_bits", true, DeflateParams{clientMaxWindowOffered: true}, true},
		{"permessage-deflate; client_max_window_bits=9", true, DeflateParams{ClientMaxWindowBits: 9, clientMaxWindowOffered: true}, true},
		{"permessage-deflate; client_max_window_bits=15", false, DeflateParams{ClientMaxWindowBits: 15, clientMaxWindowOffered: true}, true},
		{"permessage-deflate; client_max_window_bits", false, DeflateParams{}, false}, // an answer needs a value
		{"permessage-deflate; server_max_window_bits", true, DeflateParams{}, false},
		{"permessage-deflate; server_max_window_bits=7", true, DeflateParams{}, false},
		{"permessage-deflate; server_max_window_bits=16", true, DeflateParams{}, false},
		{"permessage-deflate; server_max_window_bits=010", true, DeflateParams{}, false},
		{"permessage-deflate; client_max_window_bits=abc", true, DeflateParams{}, false},
		{"permessage-deflate; server_no_context_takeover=1", true, DeflateParams{}, false},
		{"permessage-deflate; server_no_context_takeover; server_no_context_takeover", true, DeflateParams{}, false},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits=10", true, DeflateParams{}, false},
		{"permessage-deflate; unknown_param", true, DeflateParams{}, false},
	} {
		exts := parseExtensions([]string{tc.header})
		got, err := parseDeflateParams(exts[0], tc.offer)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("%q offer=%v: got %+v, %v; want %+v ok=%v", tc.header, tc.offer, got, err, tc.want, tc.ok)
		}
	}
}

func TestAcceptDeflate(t *testing.T) {
	for _, tc := range []struct {
		offer  string
		opts   CompressionOptions
		answer string // "" means declined
	}{
		{"permessage-deflate", CompressionOptions{}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"permessage-deflate", CompressionOptions{ContextTakeover: true}, "permessage-deflate"},
		{"permessage-deflate; client_max_window_bits", CompressionOptions{ContextTakeover: true}, "permessage-deflate"},
		{"permessage-deflate; client_max_window_bits", CompressionOptions{ContextTakeover: true, PeerMaxWindowBits: 10}, "permessage-deflate; client_max_window_bits=10"},
		{"permessage-deflate; client_max_window_bits=9", CompressionOptions{ContextTakeover: true, PeerMaxWindowBits: 10}, "permessage-deflate; client_max_window_bits=9"},
		{"permessage-deflate", CompressionOptions{ContextTakeover: true, PeerMaxWindowBits: 10}, "permessage-deflate"}, // not offered: must not answer it
		{"permessage-deflate; server_no_context_takeover", CompressionOptions{ContextTakeover: true}, "permessage-deflate; server_no_context_takeover"},
		{"permessage-deflate; client_no_context_takeover", CompressionOptions{ContextTakeover: true}, "permessage-deflate; client_no_context_takeover"},
		{"permessage-deflate; server_max_window_bits=9", CompressionOptions{ContextTakeover: true}, "permessage-deflate; server_max_window_bits=9"},
		// The first valid offer wins; invalid ones are declined.
		{"permessage-deflate; bogus, permessage-deflate; server_no_context_takeover", CompressionOptions{ContextTakeover: true}, "permessage-deflate; server_no_context_takeover"},
		{"x-webkit-deflate-frame, permessage-deflate", CompressionOptions{ContextTakeover: true}, "permessage-deflate"},
		{"permessage-deflate; server_max_window_bits=99", CompressionOptions{}, ""},
		{"x-webkit-deflate-frame", CompressionOptions{}, ""},
		{"", CompressionOptions{}, ""},
	} {
		p, ok := acceptDeflate([]string{tc.offer}, &tc.opts)
		got := ""
		if ok {
			got = p.String()
		}
		if got != tc.answer {
			t.Errorf("offer %q opts %+v: answer %q, want %q", tc.offer, tc.opts, got, tc.answer)
		}
	}
}

func TestCheckDeflateAnswer(t *testing.T) {
	o := &CompressionOptions{}
	for _, tc := range []struct {
		answer string
		ok     bool
	}{
		{"", true},
		{"permessage-deflate", true},
		{"permessage-deflate; client_max_window_bits=12", true},
		{"permessage-deflate; client_max_window_bits", false},
		{"permessage-deflate; foo", false},
		{"permessage-deflate, permessage-deflate", false},
		{"x-other", false},
	} {
		var values []string
		if tc.answer != "" {
			values = []string{tc.answer}
		}
		_, err := checkDeflateAnswer(values, o)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.answer, err, tc.ok)
		}
	}
	if _, err := checkDeflateAnswer([]string{"permessage-deflate"}, nil); err == nil {
		t.Error("an answer to an offer never made must fail")
	}
}

// deflatePair returns a client and a server Protocol with compression on.
func deflatePair(params DeflateParams, o CompressionOptions, max int64) (client, server *Protocol) {
	client = NewProtocol(RoleClient, &Options{MaxMessageSize: max})
	server = NewProtocol(RoleServer, &Options{MaxMessageSize: max})
	client.EnableCompression(&params, &o)
	server.EnableCompression(&params, &o)
	return client, server
}

// pump moves everything one side wrote to the other and returns the
// messages that came out.
func pump(t *testing.T, from, to *Protocol) []Frame {
	t.Helper()
	to.Feed(append([]byte(nil), from.Output()...))
	from.Sent(len(from.Output()))
	var out []Frame
	for {
		f, ok, err := to.NextMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		f.Payload = append([]byte(nil), f.Payload...)
		out = append(out, f)
	}
}

func TestDeflateRoundTrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 3<<20)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	json := []byte(strings.Repeat(`{"user":"ada","text":"hello, world","n":12345},`, 40000))
	modes := map[string]DeflateParams{
		"takeover":    {},
		"no-takeover": {ServerNoContextTakeover: true, ClientNoContextTakeover: true},
		"mixed":       {ServerNoContextTakeover: true},
	}
	for name, params := range modes {
		t.Run(name, func(t *testing.T) {
			client, server := deflatePair(params, CompressionOptions{ContextTakeover: true, Threshold: 1}, 64<<20)
			msgs := [][]byte{{}, []byte("x"), json[:1000], json[:1000], random[:200], json, random, []byte("héllo wörld ✓")}
			for i, m := range msgs {
				op := OpBinary
				if i == 7 {
					op = OpText
				}
				if err := client.WriteMessage(op, m); err != nil {
					t.Fatal(err)
				}
				got := pump(t, client, server)
				if len(got) != 1 || !bytes.Equal(got[0].Payload, m) || got[0].OpCode != op || got[0].Rsv != 0 {
					t.Fatalf("message %d (%d bytes) did not survive", i, len(m))
				}
				// and back the other way
				server.WriteMessage(op, m)
				back := pump(t, server, client)
				if len(back) != 1 || !bytes.Equal(back[0].Payload, m) {
					t.Fatalf("message %d did not survive server to client", i)
				}
			}
		})
	}
}

func TestDeflateCompressesAndSkipsSmall(t *testing.T) {
	client, server := deflatePair(DeflateParams{}, CompressionOptions{Threshold: 64}, 1<<20)
	json := []byte(strings.Repeat(`{"k":"value"},`, 100))
	client.WriteMessage(OpText, json)
	h, _, _ := ParseHeader(client.Output())
	if h.Rsv != Rsv1 || h.Length >= int64(len(json))/4 {
		t.Fatalf("large message: rsv %d length %d of %d", h.Rsv, h.Length, len(json))
	}
	pump(t, client, server)
	client.WriteMessage(OpText, []byte("short"))
	h, _, _ = ParseHeader(client.Output())
	if h.Rsv != 0 {
		t.Fatal("a message under the threshold was compressed")
	}
	pump(t, client, server)
	client.WriteMessage(OpPing, []byte(strings.Repeat("p", 100)))
	h, _, _ = ParseHeader(client.Output())
	if h.Rsv != 0 {
		t.Fatal("a control frame was compressed")
	}
}

// A message split over many frames, compressed as one stream (RFC 7692 §6.1).
func TestDeflateFragmentedInput(t *testing.T) {
	sender, _ := deflatePair(DeflateParams{}, CompressionOptions{Threshold: 1}, 1<<20)
	text := []byte(strings.Repeat("fragmented text ünïcode ", 2000))
	compressed := append([]byte(nil), sender.deflate.compress(text)...)
	_, server := deflatePair(DeflateParams{}, CompressionOptions{}, 1<<20)
	var wire []byte
	for i := 0; i < len(compressed); i += 7 {
		end := min(i+7, len(compressed))
		op, rsv := OpContinuation, byte(0)
		if i == 0 {
			op, rsv = OpText, Rsv1
		}
		wire = appendFrame(wire, end == len(compressed), rsv, op, compressed[i:end], true, [4]byte{1, 2, 3, 4})
		// a ping in the middle
		if i == 70 {
			wire = appendFrame(wire, true, 0, OpPing, []byte("mid"), true, [4]byte{9, 9, 9, 9})
		}
	}
	server.Feed(wire)
	var got []Frame
	for {
		f, ok, err := server.NextMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		f.Payload = append([]byte(nil), f.Payload...)
		got = append(got, f)
	}
	if len(got) != 2 || got[0].OpCode != OpPing || !bytes.Equal(got[1].Payload, text) {
		t.Fatalf("got %d frames", len(got))
	}
}

func TestDeflateBomb(t *testing.T) {
	sender, _ := deflatePair(DeflateParams{}, CompressionOptions{Threshold: 1}, 1<<30)
	bomb := sender.deflate.compress(make([]byte, 64<<20))
	if len(bomb) > 200<<10 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	_, server := deflatePair(DeflateParams{}, CompressionOptions{}, 1<<20)
	server.Feed(appendFrame(nil, true, Rsv1, OpBinary, bomb, true, [4]byte{1, 2, 3, 4}))
	_, _, err := server.NextMessage()
	if !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("want ErrMessageTooBig, got %v", err)
	}
	h, n, _ := ParseHeader(server.Output())
	if h.OpCode != OpClose || n == 0 {
		t.Fatal("no close frame queued")
	}
	if code := StatusCode(server.Output()[n])<<8 | StatusCode(server.Output()[n+1]); code != StatusMessageTooBig {
		t.Fatalf("close code %d", code)
	}
	if server.deflate.inflated != nil && cap(server.deflate.inflated) > 4<<20 {
		t.Fatalf("inflated %d bytes before refusing", cap(server.deflate.inflated))
	}
}

// TestDeflateInvalidTextStopsEarly: compressed text is validated as it
// is inflated, so a bomb whose first byte is invalid UTF-8 is refused
// (1007) without inflating the rest up to the message limit.
func TestDeflateInvalidTextStopsEarly(t *testing.T) {
	sender, _ := deflatePair(DeflateParams{}, CompressionOptions{Threshold: 1}, 1<<30)
	bomb := append([]byte(nil), sender.deflate.compress(append([]byte{0xff}, make([]byte, 64<<20)...))...)
	_, server := deflatePair(DeflateParams{}, CompressionOptions{}, 1<<30)
	frame := appendFrame(nil, true, Rsv1, OpText, bomb, true, [4]byte{1, 2, 3, 4})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	server.Feed(frame)
	_, _, err := server.NextMessage()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("want ErrInvalidUTF8, got %v", err)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 8<<20 {
		t.Fatalf("allocated %d MiB while inflating invalid text", grown>>20)
	}
	// Valid text that ends inside a code point is refused at the end.
	cut := append([]byte(nil), sender.deflate.compress([]byte("abc\xe2\x82"))...)
	_, server = deflatePair(DeflateParams{}, CompressionOptions{}, 1<<20)
	server.Feed(appendFrame(nil, true, Rsv1, OpText, cut, true, [4]byte{1, 2, 3, 4}))
	if _, _, err := server.NextMessage(); !errors.Is(err, ErrInvalidUTF8) {
		t.Fatalf("truncated code point: %v", err)
	}
}

func TestDeflateInvalidData(t *testing.T) {
	for name, tc := range map[string]struct {
		op      Opcode
		payload []byte
		code    StatusCode
	}{
		"garbage":      {OpBinary, []byte{0xff, 0xff, 0xff, 0xff}, StatusInvalidPayloadData},
		"invalid utf8": {OpText, nil, StatusInvalidPayloadData},
	} {
		t.Run(name, func(t *testing.T) {
			payload := tc.payload
			if payload == nil {
				s, _ := deflatePair(DeflateParams{}, CompressionOptions{Threshold: 1}, 1<<20)
				payload = append([]byte(nil), s.deflate.compress([]byte{'a', 0xff, 'b'})...)
			}
			_, server := deflatePair(DeflateParams{}, CompressionOptions{}, 1<<20)
			server.Feed(appendFrame(nil, true, Rsv1, tc.op, payload, true, [4]byte{1, 2, 3, 4}))
			_, _, err := server.NextMessage()
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("got %v, want close %d", err, tc.code)
			}
		})
	}
	// RSV1 without negotiation is a protocol error.
	p := NewProtocol(RoleServer, nil)
	p.Feed(appendFrame(nil, true, Rsv1, OpBinary, []byte("x"), true, [4]byte{}))
	if _, _, err := p.NextMessage(); !errors.Is(err, ErrReservedBits) {
		t.Fatalf("RSV1 without deflate: %v", err)
	}
}

func TestDeflateDataAfterFinalBlock(t *testing.T) {
	// A message's DEFLATE data ends at its final block (BFINAL=1), if it
	// has one. RFC 7692 §7.2.3.4 shows the one thing that may follow it:
	// the first byte of the empty stored block whose other four bytes
	// (00 00 ff ff) the sender removed. Anything else after the final
	// block is not part of the message; the flate reader stops at the end
	// of the final block and would drop it silently, so it fails the
	// connection instead (1007, as for other invalid compressed data).
	hello := []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00} // "Hello", one final block
	var second bytes.Buffer
	w, _ := flate.NewWriter(&second, 1)
	w.Write([]byte("injected"))
	w.Close()
	cases := []struct {
		name    string
		payload []byte
		ok      bool
	}{
		{"RFC 7692 7.2.3.1 (sync flush)", []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, true},
		{"RFC 7692 7.2.3.4 (BFINAL=1)", []byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}, true},
		{"final block alone", hello, true},
		{"final block, then bytes", catBytes(hello, []byte("abc")), false},
		{"final block, then one byte not 00", catBytes(hello, []byte{0x01}), false},
		{"final block, then 00 00", catBytes(hello, []byte{0x00, 0x00}), false},
		{"final block, then a whole empty stored block", catBytes(hello, []byte{0x00, 0x00, 0x00, 0xff, 0xff}), false},
		{"final block, then a second stream", catBytes(hello, second.Bytes()), false},
	}
	for _, tc := range cases {
		for _, takeover := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/takeover=%v", tc.name, takeover), func(t *testing.T) {
				params := DeflateParams{ServerNoContextTakeover: !takeover, ClientNoContextTakeover: !takeover}
				_, server := deflatePair(params, CompressionOptions{ContextTakeover: takeover}, 1<<20)
				server.Feed(appendFrame(nil, true, Rsv1, OpText, tc.payload, true, [4]byte{1, 2, 3, 4}))
				f, _, err := server.NextMessage()
				if tc.ok {
					if err != nil || string(f.Payload) != "Hello" {
						t.Fatalf("%q %v", f.Payload, err)
					}
					// The next message still inflates (the stream state is sound).
					server.Feed(appendFrame(nil, true, Rsv1, OpText, []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, true, [4]byte{5, 6, 7, 8}))
					if f, _, err := server.NextMessage(); err != nil || string(f.Payload) != "Hello" {
						t.Fatalf("second message %q %v", f.Payload, err)
					}
					return
				}
				if !errors.Is(err, ErrDeflateTrailingData) {
					t.Fatalf("got %q %v, want ErrDeflateTrailingData", f.Payload, err)
				}
				if !bytes.Equal(server.Output(), closeWire(StatusInvalidPayloadData, ErrDeflateTrailingData.Msg)) {
					t.Fatalf("close frame % x", server.Output())
				}
			})
		}
	}
}

func catBytes(b ...[]byte) []byte { return bytes.Join(b, nil) }

// The peer restricted our window below what the compressor uses: we must
// then send uncompressed, and still read compressed input.
func TestDeflateRestrictedWindowSendsUncompressed(t *testing.T) {
	p := NewProtocol(RoleServer, nil)
	p.EnableCompression(&DeflateParams{ServerMaxWindowBits: 9}, &CompressionOptions{Threshold: 1})
	p.WriteMessage(OpBinary, bytes.Repeat([]byte("a"), 1000))
	if h, _, _ := ParseHeader(p.Output()); h.Rsv != 0 {
		t.Fatal("compressed despite server_max_window_bits=9")
	}
}

func TestDeflateOverTCP(t *testing.T) {
	for _, takeover := range []bool{false, true} {
		t.Run(fmt.Sprint("takeover=", takeover), func(t *testing.T) {
			co := &CompressionOptions{ContextTakeover: takeover}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := Upgrade(w, r, &UpgradeOptions{Compression: co})
				if err != nil {
					return
				}
				for {
					op, m, err := c.ReadMessage()
					if err != nil || c.WriteMessage(op, m) != nil {
						return
					}
				}
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &DialOptions{Compression: co})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			if !strings.HasPrefix(ext, "permessage-deflate") || strings.Contains(ext, "no_context_takeover") == takeover {
				t.Fatalf("negotiated %q", ext)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			for i := 0; i < 50; i++ {
				m := []byte(strings.Repeat(fmt.Sprintf("message %d ", i), 30+i))
				if err := c.WriteMessage(OpText, m); err != nil {
					t.Fatal(err)
				}
				op, got, err := c.ReadMessage()
				if err != nil || op != OpText || !bytes.Equal(got, m) {
					t.Fatalf("echo %d: %v", i, err)
				}
			}
		})
	}
}

func TestDeflateNotOfferedNotAccepted(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		UpgradeConn(nc, &UpgradeOptions{Compression: &CompressionOptions{}})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := Dial(ctx, "ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.Header.Get("Sec-WebSocket-Extensions") != "" {
		t.Fatal("server answered an extension the client did not offer")
	}
}

func FuzzInflate(f *testing.F) {
	s, _ := deflatePair(DeflateParams{}, CompressionOptions{Threshold: 1}, 1<<20)
	f.Add(append([]byte(nil), s.deflate.compress([]byte("hello hello hello"))...))
	f.Add([]byte{0x00})
	f.Add([]byte{0xff, 0x00, 0x12})
	f.Add([]byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})
	f.Add([]byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x61})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, server := deflatePair(DeflateParams{}, CompressionOptions{}, 1<<16)
		server.Feed(appendFrame(nil, true, Rsv1, OpBinary, data, true, [4]byte{1, 2, 3, 4}))
		f, ok, err := server.NextMessage()
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) || !ValidCloseCode(pe.Code) {
				t.Fatalf("error %v is not a protocol error with a valid code", err)
			}
			return
		}
		if !ok || len(f.Payload) > 1<<16 {
			t.Fatalf("ok %v, %d bytes", ok, len(f.Payload))
		}
	})
}
