//go:build linux

package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestStampRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		seq uint64
		ns  int64
	}{{0, 0}, {1, 1}, {63, 64}, {1<<36 - 1, 1<<42 - 1}, {123456789, int64(maxFanoutRun)}} {
		b := make([]byte, stampLen)
		putStamp(b, tc.seq, tc.ns)
		seq, ns, ok := getStamp(b)
		if !ok || seq != tc.seq || ns != tc.ns {
			t.Fatalf("stamp %d/%d read back as %d/%d ok=%v", tc.seq, tc.ns, seq, ns, ok)
		}
		for _, c := range b {
			if c < 0x21 || c > 0x7e || c == probeByte {
				t.Fatalf("stamp byte %q is not printable ASCII or is the probe byte", c)
			}
		}
	}
	for _, bad := range []string{"", "AAAAAAAAAAAA", "AAAAAA~AAAAAA", "AAAAAA AAAAAA"} {
		if _, _, ok := getStamp([]byte(bad)); ok {
			t.Fatalf("stamp %q accepted", bad)
		}
	}
}

// fanoutServer relays each text message to every connection, as the
// suite's fan-out servers do. mangle, when set, is called for each message
// (its relay index) and connection (its index) and says how many copies
// that connection gets (1 normally). subscribeAfter delays a connection's
// joining, as hosts that subscribe on the open event do.
func fanoutServer(t *testing.T, mangle func(msg, conn int) int, subscribeAfter time.Duration) *httptest.Server {
	return httptest.NewServer(fanoutHandler(mangle, subscribeAfter, nil, nil))
}

// fanoutHandler is fanoutServer's handler. One handler served on several
// listeners relays to the connections of all of them, as servers joined by
// a broker do; perHost, when set, counts the connections by Host header.
func fanoutHandler(mangle func(msg, conn int) int, subscribeAfter time.Duration, perHost *sync.Map, probes *atomic.Int64) http.Handler {
	var mu sync.Mutex
	var conns []*websocket.Conn
	var relayed atomic.Int64
	// Compression when the client offers it (with -deflate).
	up := websocket.Upgrader{EnableCompression: true}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		if perHost != nil {
			n, _ := perHost.LoadOrStore(r.Host, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}
		defer c.Close()
		go func() {
			time.Sleep(subscribeAfter)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if mt != websocket.TextMessage {
				continue
			}
			if probes != nil && p[0] == probeByte {
				probes.Add(1)
			}
			m := int(relayed.Add(1) - 1)
			mu.Lock()
			for i, s := range conns {
				copies := 1
				if mangle != nil && p[0] != probeByte {
					copies = mangle(m, i)
				}
				for range copies {
					s.WriteMessage(websocket.TextMessage, p)
				}
			}
			mu.Unlock()
		}
	})
}

func fanoutOptions(srv *httptest.Server, subscribers, size, inflight int) *options {
	o := &options{
		url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/", conns: 1, size: size, inflight: inflight,
		warmup: 0, duration: 150 * time.Millisecond, runs: 2, timeout: 5 * time.Second, dialers: 4,
		fanout: subscribers,
	}
	if err := o.check(); err != nil {
		panic(err)
	}
	return o
}

func TestFanoutCountsEveryDelivery(t *testing.T) {
	srv := fanoutServer(t, nil, 50*time.Millisecond)
	defer srv.Close()
	for _, tc := range []struct {
		subs, size, inflight int
		deflate              bool
	}{
		{1, stampLen, 1, false}, {5, 20, 1, false}, {8, 1024, 4, false}, {3, 70000, 2, false}, {4, 1024, 2, true},
	} {
		o := fanoutOptions(srv, tc.subs, tc.size, tc.inflight)
		o.deflate = tc.deflate
		rep, err := measureFanout(o)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if tc.deflate && (rep.Deflate == nil || !*rep.Deflate || rep.Traffic.RecvCompressedMsgs == 0 || rep.Traffic.SentCompressedMsgs == 0) {
			t.Fatalf("%+v: not compressed both ways: %+v", tc, rep.Traffic)
		}
		if rep.Published == 0 || rep.Deliveries != rep.Published*uint64(tc.subs) || rep.MsgsPerSec <= 0 || len(rep.Runs) != 2 {
			t.Fatalf("%+v: report %+v", tc, rep)
		}
		var counted uint64
		for _, r := range rep.Runs {
			counted += r.Messages
		}
		if counted > rep.Deliveries {
			t.Fatalf("%+v: %d deliveries timed, %d in all", tc, counted, rep.Deliveries)
		}
	}
}

func TestFanoutDetectsLossDuplicatesAndSilence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mangle func(msg, conn int) int
		after  time.Duration // subscribeAfter
		want   string
	}{
		{"lost", func(m, c int) int {
			if m == 5 && c == 1 {
				return 0
			}
			return 1
		}, 0, "lost"},
		{"duplicate", func(m, c int) int {
			if m == 7 && c == 0 {
				return 2
			}
			return 1
		}, 0, "again"},
		{"nobody subscribed", nil, time.Hour, "not subscribed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fanoutServer(t, tc.mangle, tc.after)
			defer srv.Close()
			o := fanoutOptions(srv, 3, 20, 2)
			o.timeout = time.Second
			_, err := measureFanout(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
}

func TestFanoutOptions(t *testing.T) {
	for _, tc := range []struct {
		o    options
		want string
	}{
		{options{fanout: -1}, "negative"},
		{options{fanout: 3, size: stampLen - 1}, "-size"},
		{options{fanout: 3, size: 20, idle: 5}, "-idle"},
		{options{fanout: 3, size: 20, runs: 1, duration: maxFanoutRun + time.Second}, "at most"},
	} {
		err := tc.o.checkFanout()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%+v: want %q, got %v", tc.o, tc.want, err)
		}
	}
}

// Subscribers spread over two servers that relay to each other's
// connections (a broker between them): every delivery still counted and
// checked, the subscribers split evenly and the publisher on -url.
func TestFanoutAcrossServers(t *testing.T) {
	var perHost sync.Map
	h := fanoutHandler(nil, 20*time.Millisecond, &perHost, nil)
	a, b := httptest.NewServer(h), httptest.NewServer(h)
	defer a.Close()
	defer b.Close()
	o := fanoutOptions(a, 6, 64, 2)
	o.subURLs = "ws" + strings.TrimPrefix(a.URL, "http") + "/, ws" + strings.TrimPrefix(b.URL, "http") + "/"
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	o.serverPIDs = pidList{os.Getpid(), os.Getpid()}
	rep, err := measureFanout(o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Published == 0 || rep.Deliveries != rep.Published*6 || rep.DeliveriesPerCPUSec <= 0 {
		t.Fatalf("report %+v", rep)
	}
	count := func(srv *httptest.Server) int64 {
		n, ok := perHost.Load(strings.TrimPrefix(srv.URL, "http://"))
		if !ok {
			return 0
		}
		return n.(*atomic.Int64).Load()
	}
	if na, nb := count(a), count(b); na != 4 || nb != 3 {
		t.Fatalf("connections per server: %d and %d, want 4 (3 subscribers + the publisher) and 3", na, nb)
	}
}

func TestSubURLsAndPIDLists(t *testing.T) {
	for _, tc := range []struct {
		o    options
		want string // "" : accepted
	}{
		{options{subURLs: "ws://127.0.0.1:1/"}, "goes with -fanout"},
		{options{fanout: 2, subURLs: "ws://127.0.0.1:1/,http://127.0.0.1:2/"}, "scheme"},
		{options{fanout: 2, subURLs: "wss://127.0.0.1:1/"}, "is not ws://"},
		{options{fanout: 2, subURLs: "ws://127.0.0.1:1/a, ws://127.0.0.1:2/b"}, ""},
	} {
		tc.o.url, tc.o.conns, tc.o.size, tc.o.inflight, tc.o.runs = "ws://127.0.0.1:3/", 1, 20, 1, 1
		tc.o.duration, tc.o.timeout, tc.o.dialers = time.Second, time.Second, 1
		err := tc.o.check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.o.subURLs, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: want an error with %q, got %v", tc.o.subURLs, tc.want, err)
		}
		if tc.want == "" {
			got := []target{tc.o.targetOf(0), tc.o.targetOf(1), tc.o.targetOf(2)}
			want := []target{{"127.0.0.1:1", "127.0.0.1:1", "/a"}, {"127.0.0.1:2", "127.0.0.1:2", "/b"}, {"127.0.0.1:3", "127.0.0.1:3", "/"}}
			if !slices.Equal(got, want) {
				t.Errorf("targets %v, want %v", got, want)
			}
		}
	}
	for _, tc := range []struct {
		in   string
		want pidList
		bad  bool
	}{{"12", pidList{12}, false}, {"12, 34", pidList{12, 34}, false}, {"0", nil, false}, {"x", nil, true}, {"1,-2", nil, true}, {"", nil, true}} {
		var p pidList
		err := p.Set(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && !slices.Equal(p, tc.want)) {
			t.Errorf("Set(%q) = %v, %v", tc.in, p, err)
		}
	}
	// Two processes' times add up: this process counted twice is twice it.
	o := options{serverPIDs: pidList{os.Getpid()}}
	for o.serverCPU() < 20*time.Millisecond {
		for i := 0; i < 1e6; i++ { // burn CPU until the ticks move
			_ = strconv.Itoa(i)
		}
	}
	one := o.serverCPU()
	o.serverPIDs = pidList{os.Getpid(), os.Getpid()}
	if two := o.serverCPU(); two < 2*one {
		t.Fatalf("two pids: %v, want at least twice %v", two, one)
	}
}

// Subscribers that join late get probes at growing intervals, not one per
// tick: joining after 700 ms takes probes at about 0, 100, 300 and 700 ms
// (and one more if the last came too early), never one every 100 ms.
func TestFanoutProbesBackOff(t *testing.T) {
	var probes atomic.Int64
	srv := httptest.NewServer(fanoutHandler(nil, 700*time.Millisecond, nil, &probes))
	defer srv.Close()
	o := fanoutOptions(srv, 3, 20, 2)
	if _, err := measureFanout(o); err != nil {
		t.Fatal(err)
	}
	if n := probes.Load(); n < 2 || n > 5 {
		t.Fatalf("%d probes for subscribers joining after 700 ms, want 2 to 5", n)
	}
}
