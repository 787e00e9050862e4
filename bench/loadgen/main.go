//go:build linux

// Command loadgen drives a WebSocket echo server for the libws benchmark
// suite. It uses no WebSocket library (see wire.go for why).
//
// Throughput mode (default): open -conns connections; on each, send a
// message of -size bytes (content differs from one message to the next),
// wait for its echo and check every byte, keeping -inflight messages
// outstanding. After -warmup, -runs windows of -duration are measured;
// messages/s and p50/p99 round-trip latency of each window are printed, and
// the median over the windows. A wrong echo or a broken connection fails
// the run with a non-zero exit status.
//
// Idle mode (-idle N): open N connections, complete the handshakes, leave
// them idle for -hold, print "ready" on stdout, then wait for stdin EOF,
// SIGTERM or SIGINT before closing them. Meanwhile the caller measures the
// server's memory. Give it a stdin the caller keeps open (a pipe or FIFO):
// with /dev/null it closes the connections right after "ready".
//
// Fan-out mode (-fanout N): N subscriber connections and one publisher to
// a server that relays each text message to all its connections; reports
// deliveries/s, delivery latency and server CPU per delivery, every
// delivery checked. See fanout.go.
//
// -deflate offers permessage-deflate (see deflate.go) and compresses the
// messages when the server accepts; -json-payload sends JSON-like text
// (see payload.go) instead of random bytes, something compression has a
// use for.
//
// With -json the report is one JSON object: msgs_per_sec, p50_us, p99_us,
// mb_per_sec and loadgen_cpu (cores used by loadgen itself) are medians
// over the windows listed in runs; errors counts failed connections, and
// error (then the exit status is 1) says what went wrong first. With
// -deflate it also has deflate (true when every connection negotiated
// permessage-deflate) and traffic: payload bytes as sent and received and
// as they crossed the wire, over the whole run. With -server-pid it also
// has server_cpu (cores) and server_cpu_us_per_msg: the server's CPU time
// (user + system, all threads, from /proc/PID/stat) over each window, per
// echo of that window, medians over the windows.
//
// wss:// URLs are served over TLS 1.3 (crypto/tls; the certificate is not
// checked, the suite's servers use one made for the run); a server that
// cannot do TLS 1.3 fails the handshake.
//
// Examples:
//
//	loadgen -url ws://127.0.0.1:9001/ -conns 100 -size 20 -duration 3s -runs 3
//	loadgen -url ws://127.0.0.1:9001/ -conns 10 -size 1024 -inflight 8 -json
//	loadgen -url ws://127.0.0.1:9001/ -conns 10 -size 1024 -json-payload -deflate -json
//	loadgen -url wss://127.0.0.1:9443/ -conns 100 -size 1024 -server-pid 4242 -json
//	loadgen -url ws://127.0.0.1:9001/ -idle 10000 -hold 2s < fifo
//	loadgen -url ws://127.0.0.1:9001/ -fanout 1000 -size 20 -inflight 8 -server-pid 4242
package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	url      string
	conns    int
	size     int
	inflight int
	warmup   time.Duration
	duration time.Duration
	runs     int
	binary   bool
	text     bool
	json     bool
	idle     int
	hold     time.Duration
	timeout  time.Duration
	dialers  int
	deflate  bool
	jsonMsgs bool
	seed     uint64
	// fanout: subscribers of fan-out mode (0: echo mode); see fanout.go.
	fanout int
	// serverPIDs: the server's processes, whose CPU time (summed) each
	// window reads from /proc (none: not measured).
	serverPIDs pidList
	// subURLs: fan-out mode's subscribers are spread over these servers
	// (round robin), the publisher stays on url; none: all on url.
	subURLs string

	// Derived from url: wss:// dials TLS with tlsConf.
	tlsConf          *tls.Config
	addr, host, path string
	// Derived from subURLs.
	subTargets []target
}

// target is where a connection dials: TCP address, Host header, request
// target.
type target struct{ addr, host, path string }

// pidList is -server-pid's value: PID[,PID...].
type pidList []int

func (p *pidList) String() string {
	s := make([]string, len(*p))
	for i, v := range *p {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (p *pidList) Set(v string) error {
	*p = nil
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a process id", f)
		}
		if n > 0 {
			*p = append(*p, n)
		}
	}
	return nil
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "ws://127.0.0.1:8080/", "server URL, ws:// or wss:// (TLS 1.3, certificate not verified)")
	flag.IntVar(&o.conns, "conns", 1, "connections")
	flag.IntVar(&o.size, "size", 20, "message size in bytes")
	flag.IntVar(&o.inflight, "inflight", 1, "messages in flight per connection")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before measuring")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of one measurement window")
	flag.IntVar(&o.runs, "runs", 1, "measurement windows; the median is reported")
	flag.BoolVar(&o.binary, "binary", true, "send binary messages (the default)")
	flag.BoolVar(&o.text, "text", false, "send text messages (printable ASCII) instead of binary")
	flag.BoolVar(&o.json, "json", false, "print the report as one JSON object")
	flag.IntVar(&o.idle, "idle", 0, "idle mode: open this many connections and hold them (see -hold)")
	flag.DurationVar(&o.hold, "hold", time.Second, "idle mode: how long to hold the connections before printing \"ready\"")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on dialing + handshake, and on draining connections at the end")
	flag.IntVar(&o.dialers, "dialers", 64, "connections being dialed at once")
	flag.BoolVar(&o.deflate, "deflate", false, "offer permessage-deflate (no context takeover) and compress messages if the server accepts")
	flag.BoolVar(&o.jsonMsgs, "json-payload", false, "send JSON-like text messages (records with repeated keys, varying values) of -size bytes")
	flag.Uint64Var(&o.seed, "seed", 1, "-json-payload: seed of the messages' contents")
	flag.IntVar(&o.fanout, "fanout", 0, "fan-out mode: this many subscriber connections and one publisher; the server relays each text message to all its connections (see fanout.go); -inflight messages outstanding")
	flag.Var(&o.serverPIDs, "server-pid", "the server's process id (or ids, comma-separated, whose times are summed): report its CPU time per echoed message over the windows (from /proc/PID/stat)")
	flag.StringVar(&o.subURLs, "sub-urls", "", "fan-out mode: comma-separated server URLs the subscribers are spread over, round robin (the publisher stays on -url): servers joined by a broker")
	flag.Parse()
	if flag.NArg() != 0 {
		fatalf("unexpected arguments %q", flag.Args())
	}
	if err := o.check(); err != nil {
		fatalf("%v", err)
	}
	// -text wins over the default -binary; -binary=false alone means text.
	o.text = o.text || !o.binary
	raiseFileLimit(max(o.conns, o.idle, o.fanout+1) + 64)

	var err error
	switch {
	case o.idle > 0:
		err = runIdle(&o)
	case o.fanout > 0:
		err = runFanout(&o)
	default:
		err = runLoad(&o)
	}
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	os.Exit(1)
}

func (o *options) check() error {
	u, t, err := parseTarget(o.url)
	if err != nil {
		return fmt.Errorf("-url: %v", err)
	}
	if u.Scheme == "wss" {
		// The suite's servers present a certificate made for the run: the
		// point is the cost of TLS 1.3, not the trust in a certificate.
		o.tlsConf = &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, ServerName: u.Hostname()}
	}
	o.addr, o.host, o.path = t.addr, t.host, t.path
	o.subTargets = nil
	if o.subURLs != "" {
		if o.fanout == 0 {
			return errors.New("-sub-urls goes with -fanout")
		}
		for _, s := range strings.Split(o.subURLs, ",") {
			su, st, err := parseTarget(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("-sub-urls: %v", err)
			}
			if su.Scheme != u.Scheme {
				return fmt.Errorf("-sub-urls: %q is not %s:// as -url is", s, u.Scheme)
			}
			o.subTargets = append(o.subTargets, st)
		}
	}
	switch {
	case o.conns < 1:
		return errors.New("-conns must be at least 1")
	case o.size < 0:
		return errors.New("-size must not be negative")
	case o.inflight < 1:
		return errors.New("-inflight must be at least 1")
	case o.runs < 1:
		return errors.New("-runs must be at least 1")
	case o.duration <= 0:
		return errors.New("-duration must be positive")
	case o.warmup < 0 || o.hold < 0 || o.timeout <= 0:
		return errors.New("-warmup and -hold must not be negative, -timeout must be positive")
	case o.idle < 0:
		return errors.New("-idle must not be negative")
	case o.dialers < 1:
		return errors.New("-dialers must be at least 1")
	}
	if err := o.checkFanout(); err != nil {
		return err
	}
	for _, pid := range o.serverPIDs {
		if pid <= 0 {
			return fmt.Errorf("-server-pid: %d is not a process id", pid)
		}
		if _, err := serverCPU(pid); err != nil {
			return fmt.Errorf("-server-pid: %v", err)
		}
	}
	return nil
}

// parseTarget parses a ws:// or wss:// URL into where to dial.
func parseTarget(raw string) (*url.URL, target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, target{}, err
	}
	port := "80"
	switch u.Scheme {
	case "ws":
	case "wss":
		port = "443"
	default:
		return nil, target{}, fmt.Errorf("scheme %q not supported, want ws:// or wss://", u.Scheme)
	}
	t := target{addr: u.Host, host: u.Host, path: u.RequestURI()}
	if u.Port() == "" {
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	return u, t, nil
}

// targetOf is where connection i of n dials: fan-out mode's subscribers
// (the first o.fanout) spread over -sub-urls when given, the rest -url.
func (o *options) targetOf(i int) target {
	if i < o.fanout && len(o.subTargets) > 0 {
		return o.subTargets[i%len(o.subTargets)]
	}
	return target{o.addr, o.host, o.path}
}

// raiseFileLimit lifts RLIMIT_NOFILE so that 10,000 sockets fit: the soft
// limit up to the hard one, and the hard one too when privileged.
func raiseFileLimit(need int) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	want := uint64(need)
	if rl.Cur >= want {
		return
	}
	if rl.Max < want {
		hard := rl
		hard.Cur, hard.Max = want, want
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &hard) == nil {
			return
		}
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < want {
		fmt.Fprintf(os.Stderr, "loadgen: warning: open-file limit is %d, %d connections may not fit\n", rl.Cur, need)
	}
}

// dialAll opens n connections, o.dialers at a time; the first failure
// aborts the lot.
func dialAll(o *options, n, rbufSize int) ([]*conn, error) {
	conns := make([]*conn, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(n, o.dialers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := o.targetOf(i)
				c, err := dial(t.addr, t.host, t.path, o.timeout, rbufSize, o.deflate, o.tlsConf)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("conn %d: %w", i, err) })
					failed.Store(true)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		for _, c := range conns {
			if c != nil {
				c.nc.Close()
			}
		}
		return nil, firstErr
	}
	return conns, nil
}

// failure records the first error of a run and signals everyone to stop.
type failure struct {
	once  sync.Once
	err   error
	count atomic.Int64 // connections that failed
	ch    chan struct{}
}

func newFailure() *failure { return &failure{ch: make(chan struct{})} }

func (f *failure) fail(err error) {
	f.count.Add(1)
	f.once.Do(func() { f.err = err; close(f.ch) })
}

// patternPeriod is how many distinct messages a connection cycles through.
// Being prime and not a divisor of any likely buffer size, an echo of the
// wrong message (stale, reordered, duplicated) cannot match by accident.
const patternPeriod = 251

// newPattern returns the bytes messages are cut from: message seq is
// pattern[seq%patternPeriod:][:size]. Building it once lets senders and
// verifiers work without generating anything per message.
func newPattern(size int, text bool) []byte {
	p := make([]byte, size+patternPeriod)
	x := uint32(2463534242)
	for i := range p {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		if text {
			p[i] = byte(' ' + x%95) // printable ASCII: valid UTF-8 for text frames
		} else {
			p[i] = byte(x >> 24)
		}
	}
	return p
}

// maxPrecompressed bounds the message size up to which the patternPeriod
// distinct messages are compressed once up front (at most ~16 MiB of
// them); bigger ones are compressed on every send.
const maxPrecompressed = 64 << 10

// load is the shared state of a throughput run.
// sleep waits d; false: a connection failed meanwhile.
func (l *load) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.fail.ch:
		return false
	}
}

// measure runs the measured windows back to back, unless ok is false, and
// ends with none current; a failure cuts them short.
func (l *load) measure(ok bool) []*window {
	o := l.o
	var windows []*window
	for r := 0; ok && r < o.runs; r++ {
		w := new(window)
		w.srvStart = o.serverCPU()
		w.start, w.cpuStart = time.Now(), cpuTime()
		l.current.Store(w)
		ok = l.sleep(o.duration)
		w.end, w.cpuEnd = time.Now(), cpuTime()
		w.srvEnd = o.serverCPU()
		windows = append(windows, w)
	}
	l.current.Store(nil)
	return windows
}

type load struct {
	o       *options
	op      byte
	pattern []byte
	jsonMsg [][]byte // -json-payload: message seq is jsonMsg[seq%patternPeriod]
	// zmsg[i] is message i (mod patternPeriod) compressed, with -deflate:
	// without context takeover a message compresses the same every time.
	zmsg [][]byte
	// frames[i] and zframes[i] are message i as a masked frame ready to
	// write, uncompressed and (with -deflate) compressed, for messages of at
	// most maxPrecompressed bytes. Masking every message afresh cost loadgen
	// a tenth of its CPU at 16 KiB, enough to make it, not the server, set
	// the pace. The key of frame i is the same on every connection: nothing
	// between loadgen and the server on loopback could exploit that (see
	// conn.nextKey), and the server still unmasks every byte.
	frames, zframes [][]byte
	epoch           time.Time
	current         atomic.Pointer[window] // nil outside measurement windows
	stop            atomic.Bool
	done            chan struct{} // closed along with stop
	fail            *failure
}

func (l *load) msg(seq uint64) []byte {
	off := int(seq % patternPeriod)
	if l.jsonMsg != nil {
		return l.jsonMsg[off]
	}
	return l.pattern[off : off+l.o.size]
}

// prepare builds the messages: the pattern or the JSON ones, and their
// compressed forms with -deflate.
func (l *load) prepare() {
	if l.o.jsonMsgs {
		l.jsonMsg = make([][]byte, patternPeriod)
		for i := range l.jsonMsg {
			l.jsonMsg[i] = jsonMessage(l.o.size, l.o.seed, uint64(i))
		}
	} else {
		l.pattern = newPattern(l.o.size, l.o.text)
	}
	if l.o.size > maxPrecompressed {
		return
	}
	frame := func(i int, op byte, payload []byte) []byte {
		key := uint32(uint64(i+1) * 0x9E3779B97F4A7C15 >> 32)
		return appendFrame(make([]byte, 0, maxHeader+len(payload)), op, payload, key)
	}
	l.frames = make([][]byte, patternPeriod)
	for i := range l.frames {
		l.frames[i] = frame(i, l.op, l.msg(uint64(i)))
	}
	if l.o.deflate {
		z := newCompressor()
		l.zmsg = make([][]byte, patternPeriod)
		l.zframes = make([][]byte, patternPeriod)
		for i := range l.zmsg {
			l.zmsg[i] = bytes.Clone(z.compress(l.msg(uint64(i))))
			l.zframes[i] = frame(i, l.op|rsv1, l.zmsg[i])
		}
	}
}

// send writes message seq on c, compressed if c negotiated
// permessage-deflate. z is the connection's compressor for messages too big
// to be compressed up front, created on first use. Call from the goroutine
// that owns c.tx.
func (l *load) send(c *conn, wbuf []byte, z **compressor, seq uint64) ([]byte, error) {
	m, i := l.msg(seq), seq%patternPeriod
	if !c.deflate {
		c.tx.count(len(m), len(m), false)
		if l.frames != nil {
			return wbuf, c.writeFrame(l.frames[i])
		}
		return c.send(wbuf, l.op, m)
	}
	if l.zframes != nil {
		c.tx.count(len(m), len(l.zmsg[i]), true)
		return wbuf, c.writeFrame(l.zframes[i])
	}
	if *z == nil {
		*z = newCompressor()
	}
	p := (*z).compress(m)
	c.tx.count(len(m), len(p), true)
	return c.send(wbuf, l.op|rsv1, p)
}

// now is a monotonic clock reading in nanoseconds.
func (l *load) now() int64 { return int64(time.Since(l.epoch)) }

func (l *load) record(id int, ns int64) {
	if w := l.current.Load(); w != nil {
		w.record(id, ns)
	}
}

// verify compares an echo with the message that was sent.
func (l *load) verify(seq uint64, op byte, got []byte) error {
	if op != l.op {
		return fmt.Errorf("message %d: echo has opcode %#x, sent %#x", seq, op, l.op)
	}
	want := l.msg(seq)
	if len(got) != len(want) {
		return fmt.Errorf("message %d: echo is %d bytes, sent %d", seq, len(got), len(want))
	}
	if string(got) != string(want) { // compiles to a memequal, no copy
		for i := range got {
			if got[i] != want[i] {
				return fmt.Errorf("message %d: echo differs at byte %d of %d: got %#02x, want %#02x", seq, i, len(want), got[i], want[i])
			}
		}
	}
	return nil
}

// readBufferSize sizes a connection's read buffer for echoes of size
// bytes: large enough for a whole frame up to 64 KiB, so that one read(2)
// takes in what the server wrote in one. With a 4 KiB buffer a 16 KiB echo
// took two reads after the one that found the socket empty, and loadgen,
// not the server, set the pace.
func readBufferSize(size int) int {
	return min(max(4096, 2+8+size), 64<<10+2+8)
}

func runLoad(o *options) error {
	rep, err := measure(o)
	if rep != nil {
		rep.print(o.json)
	}
	return err
}

// measure runs the load and returns its report (nil if no connection
// could be opened) and the first failure.
func measure(o *options) (*report, error) {
	o.text = o.text || o.jsonMsgs // JSON goes in text messages
	l := &load{o: o, op: opBinary, done: make(chan struct{}), fail: newFailure()}
	if o.text {
		l.op = opText
	}
	l.prepare()

	conns, err := dialAll(o, o.conns, readBufferSize(o.size))
	if err != nil {
		return nil, err
	}

	l.epoch = time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if o.inflight == 1 {
				err = l.pingPong(i, c)
			} else {
				err = l.pipelined(i, c)
			}
			c.nc.Close()
			if err != nil {
				l.fail.fail(fmt.Errorf("conn %d: %w", i, err))
			}
		}()
	}

	// Warm up, then measure the windows back to back; a failure cuts the
	// run short.
	windows := l.measure(l.sleep(o.warmup))

	// Stop: every connection closes with a close handshake. The deadline
	// turns a connection stuck waiting for an echo into an error instead of
	// a hang.
	l.stop.Store(true)
	close(l.done)
	deadline := time.Now().Add(o.timeout)
	for _, c := range conns {
		c.nc.SetDeadline(deadline)
	}
	wg.Wait()

	rep := report{
		URL: o.url, Conns: o.conns, Size: o.size, Inflight: o.inflight,
		Mode: "binary", Warmup: o.warmup.Seconds(), Duration: o.duration.Seconds(),
		Errors: l.fail.count.Load(),
	}
	if o.text {
		rep.Mode = "text"
	}
	if o.jsonMsgs {
		rep.Payload = "json"
	}
	if o.deflate {
		rep.addDeflate(conns)
	}
	if l.fail.err == nil {
		for _, w := range windows {
			rep.Runs = append(rep.Runs, w.summarize())
		}
		rep.median()
	} else {
		rep.Error = l.fail.err.Error()
	}
	return &rep, l.fail.err
}

// serverCPU is the -server-pid processes' CPU time together, or -1
// without one (or when one can no longer be read: a server exited).
func (o *options) serverCPU() time.Duration {
	if len(o.serverPIDs) == 0 {
		return -1
	}
	var sum time.Duration
	for _, pid := range o.serverPIDs {
		d, err := serverCPU(pid)
		if err != nil {
			return -1
		}
		sum += d
	}
	return sum
}

// cpuTime returns the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// isClosedAfterStop tells whether err is how a connection may end once we
// asked it to close: the server's close frame (handled by the callers) or
// the server dropping the TCP connection right after its close frame.
func isClosedAfterStop(err error) bool {
	var ce *closeError
	return errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// pingPong runs one connection with a single message in flight: send,
// wait for the echo, verify, repeat. One goroutine, no synchronization.
func (l *load) pingPong(id int, c *conn) error {
	wbuf := make([]byte, 0, maxHeader+l.o.size)
	rbuf := make([]byte, l.o.size)
	var z *compressor
	for seq := uint64(0); ; seq++ {
		if l.stop.Load() {
			if err := c.sendClose(); err != nil {
				return fmt.Errorf("sending close: %w", err)
			}
			if err := c.discardUntilClose(); err != nil && !isClosedAfterStop(err) {
				return fmt.Errorf("waiting for the close reply: %w", err)
			}
			return nil
		}
		t0 := l.now()
		var err error
		if wbuf, err = l.send(c, wbuf, &z, seq); err != nil {
			return fmt.Errorf("message %d: write: %w", seq, err)
		}
		op, msg, err := c.readMessage(rbuf)
		if err != nil {
			return fmt.Errorf("message %d: read: %w", seq, err)
		}
		rtt := l.now() - t0
		if err := l.verify(seq, op, msg); err != nil {
			return err
		}
		l.record(id, rtt)
	}
}

// pipelined runs one connection with -inflight messages outstanding: a
// sender goroutine writes whenever a credit is available, and this
// goroutine reads echoes (in order, as TCP delivers them) and returns
// credits. Separate goroutines keep a window larger than the socket buffers
// from deadlocking, which a single goroutine alternating writes and reads
// could do.
func (l *load) pipelined(id int, c *conn) error {
	k := uint64(l.o.inflight)
	credits := make(chan struct{}, k)
	for range k {
		credits <- struct{}{}
	}
	// Send times, indexed by seq%k. A slot is rewritten only after its echo
	// was read and its credit returned; atomics make the handover visible
	// (the kernel socket in between is no Go happens-before edge).
	sent := make([]atomic.Int64, k)
	senderErr := make(chan error, 1)
	readerGone := make(chan struct{})
	leave := sync.OnceFunc(func() { close(readerGone) })
	defer leave()
	go func() {
		wbuf := make([]byte, 0, maxHeader+l.o.size)
		var z *compressor
		held := uint64(0) // credits taken but not spent on a message
		for seq := uint64(0); ; seq++ {
			select {
			case <-credits:
				held = 1
			case <-l.done:
			}
			if l.stop.Load() {
				break
			}
			held = 0
			sent[seq%k].Store(l.now())
			var err error
			if wbuf, err = l.send(c, wbuf, &z, seq); err != nil {
				senderErr <- fmt.Errorf("message %d: write: %w", seq, err)
				c.nc.Close() // unblock the reader
				return
			}
		}
		// Wait for the echoes still in flight before closing: a close frame
		// right behind them makes some servers (python websockets) drop
		// echoes of messages they had already read.
		for ; held < k; held++ {
			select {
			case <-credits:
			case <-readerGone:
				senderErr <- nil // the reader's error is the one to report
				return
			}
		}
		senderErr <- c.sendClose()
	}()

	rbuf := make([]byte, l.o.size)
	for seq := uint64(0); ; seq++ {
		op, msg, err := c.readMessage(rbuf)
		if err != nil {
			if l.stop.Load() {
				// Once stop is set the sender returns promptly, as soon as
				// it knows the reader is gone. Its close frame is why the
				// server closed, unless it failed itself.
				leave()
				if serr := <-senderErr; serr != nil {
					return serr
				}
				if isClosedAfterStop(err) {
					return nil
				}
			} else {
				// A failed sender closes the socket: its error is the cause.
				select {
				case serr := <-senderErr:
					return serr
				default:
				}
			}
			return fmt.Errorf("message %d: read: %w", seq, err)
		}
		rtt := l.now() - sent[seq%k].Load()
		if err := l.verify(seq, op, msg); err != nil {
			return err
		}
		l.record(id, rtt)
		credits <- struct{}{} // never blocks: at most k credits exist
	}
}

// report is the result of a throughput run.
type report struct {
	URL        string    `json:"url"`
	Conns      int       `json:"conns"`
	Size       int       `json:"size"`
	Inflight   int       `json:"inflight"`
	Mode       string    `json:"mode"`
	Warmup     float64   `json:"warmup_s"`
	Duration   float64   `json:"duration_s"`
	Runs       []summary `json:"runs"`
	MsgsPerSec float64   `json:"msgs_per_sec"` // median over runs
	MBPerSec   float64   `json:"mb_per_sec"`   // payload echoed, one direction, at the median rate
	P50us      float64   `json:"p50_us"`       // median over runs
	P99us      float64   `json:"p99_us"`       // median over runs
	LoadgenCPU float64   `json:"loadgen_cpu"`  // median over runs, in cores
	// With -server-pid: medians over runs of the server's CPU use (cores)
	// and its CPU time per echoed message (µs).
	ServerCPU       float64 `json:"server_cpu,omitempty"`
	ServerCPUPerMsg float64 `json:"server_cpu_us_per_msg,omitempty"`
	Errors          int64   `json:"errors"`
	Error           string  `json:"error,omitempty"`

	// Only with -fanout: messages published and delivered (each checked)
	// over the whole run, and the inverse of server_cpu_us_per_msg.
	Published           uint64  `json:"published,omitempty"`
	Deliveries          uint64  `json:"deliveries,omitempty"`
	DeliveriesPerCPUSec float64 `json:"deliveries_per_cpu_sec,omitempty"`

	// Only with -json-payload or -deflate, so that the report is as before
	// without them.
	Payload string `json:"payload,omitempty"` // "json" with -json-payload
	// Deflate: every connection negotiated permessage-deflate. False when
	// the server declined (it then echoed uncompressed).
	Deflate      *bool          `json:"deflate,omitempty"`
	DeflateConns int            `json:"deflate_conns,omitempty"` // connections that negotiated it
	Extensions   string         `json:"extensions,omitempty"`    // the server's Sec-WebSocket-Extensions (first connection)
	Traffic      *trafficReport `json:"traffic,omitempty"`
}

// trafficReport is payload bytes over the whole run (warm-up included), all
// connections: as the application sees them and on the wire (after
// compression, frame headers not counted). The ratios are wire over raw:
// sent, compressed by loadgen (compress/flate level 1); received,
// compressed by the server; both directions together.
type trafficReport struct {
	SentMsgs           uint64  `json:"sent_msgs"`
	SentCompressedMsgs uint64  `json:"sent_compressed_msgs"`
	SentBytes          uint64  `json:"sent_bytes"`
	SentWireBytes      uint64  `json:"sent_wire_bytes"`
	RecvMsgs           uint64  `json:"recv_msgs"`
	RecvCompressedMsgs uint64  `json:"recv_compressed_msgs"`
	RecvBytes          uint64  `json:"recv_bytes"`
	RecvWireBytes      uint64  `json:"recv_wire_bytes"`
	SentRatio          float64 `json:"sent_ratio"`
	RecvRatio          float64 `json:"recv_ratio"`
	WireRatio          float64 `json:"wire_ratio"`
}

// addDeflate fills in the -deflate fields once every connection is done.
func (r *report) addDeflate(conns []*conn) {
	var tx, rx traffic
	for _, c := range conns {
		if c.deflate {
			r.DeflateConns++
		}
		if r.Extensions == "" {
			r.Extensions = c.extensions
		}
		tx.add(c.tx)
		rx.add(c.rx)
	}
	all := r.DeflateConns == len(conns)
	r.Deflate = &all
	ratio := func(wire, raw uint64) float64 {
		if raw == 0 {
			return 0
		}
		return math.Round(float64(wire)/float64(raw)*1e4) / 1e4
	}
	r.Traffic = &trafficReport{
		SentMsgs: tx.msgs, SentCompressedMsgs: tx.compressed, SentBytes: tx.raw, SentWireBytes: tx.wire,
		RecvMsgs: rx.msgs, RecvCompressedMsgs: rx.compressed, RecvBytes: rx.raw, RecvWireBytes: rx.wire,
		SentRatio: ratio(tx.wire, tx.raw), RecvRatio: ratio(rx.wire, rx.raw),
		WireRatio: ratio(tx.wire+rx.wire, tx.raw+rx.raw),
	}
}

func (r *report) median() {
	pick := func(f func(summary) float64) float64 {
		v := make([]float64, len(r.Runs))
		for i, s := range r.Runs {
			v[i] = f(s)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	r.MsgsPerSec = pick(func(s summary) float64 { return s.MsgsPerSec })
	r.P50us = pick(func(s summary) float64 { return s.P50us })
	r.P99us = pick(func(s summary) float64 { return s.P99us })
	r.LoadgenCPU = pick(func(s summary) float64 { return s.LoadgenCPU })
	r.ServerCPU = pick(func(s summary) float64 { return s.ServerCPU })
	r.ServerCPUPerMsg = pick(func(s summary) float64 { return s.ServerCPUPerMsg })
	r.MBPerSec = r.MsgsPerSec * float64(r.Size) / 1e6
}

func (r *report) print(asJSON bool) {
	if asJSON {
		if r.Runs == nil {
			r.Runs = []summary{}
		}
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
		return
	}
	fmt.Printf("%s conns=%d size=%d inflight=%d %s", r.URL, r.Conns, r.Size, r.Inflight, r.Mode)
	if r.Payload != "" {
		fmt.Printf(" payload=%s", r.Payload)
	}
	fmt.Println()
	if r.Deflate != nil {
		t := r.Traffic
		if *r.Deflate {
			fmt.Printf("  deflate: on (%s)\n", r.Extensions)
		} else {
			fmt.Printf("  deflate: NOT NEGOTIATED on %d of %d connections: the server declined\n", r.Conns-r.DeflateConns, r.Conns)
		}
		fmt.Printf("  wire/payload bytes: sent %.3f, received %.3f (%d of %d echoes compressed), both %.3f\n",
			t.SentRatio, t.RecvRatio, t.RecvCompressedMsgs, t.RecvMsgs, t.WireRatio)
	}
	for i, s := range r.Runs {
		fmt.Printf("  run %d: %10.0f msgs/s  p50 %8.1f µs  p99 %8.1f µs  max %8.1f µs  loadgen cpu %.2f\n", i+1, s.MsgsPerSec, s.P50us, s.P99us, s.MaxUs, s.LoadgenCPU)
	}
	if r.Error != "" {
		fmt.Printf("  FAILED: %s (errors %d)\n", r.Error, r.Errors)
		return
	}
	fmt.Printf("  median: %9.0f msgs/s  p50 %8.1f µs  p99 %8.1f µs  %.1f MB/s  loadgen cpu %.2f  errors %d\n", r.MsgsPerSec, r.P50us, r.P99us, r.MBPerSec, r.LoadgenCPU, r.Errors)
	if r.Mode == "fanout" {
		fmt.Printf("  fan-out: %d published, %d deliveries checked (msgs/s and latency are per delivery)\n", r.Published, r.Deliveries)
		if r.ServerCPUPerMsg > 0 {
			fmt.Printf("  server: %.2f cores, %.3f µs CPU per delivery, %.0f deliveries per CPU-second\n", r.ServerCPU, r.ServerCPUPerMsg, r.DeliveriesPerCPUSec)
		}
		return
	}
	if r.ServerCPUPerMsg > 0 {
		fmt.Printf("  server: %.2f cores, %.2f µs CPU per echoed message\n", r.ServerCPU, r.ServerCPUPerMsg)
	}
}

// runIdle opens o.idle connections and holds them; see the package comment.
func runIdle(o *options) error {
	// Idle connections only ever read control frames, so a small read
	// buffer keeps the generator's own memory low at 10,000 connections.
	conns, err := dialAll(o, o.idle, 512)
	if err != nil {
		return err
	}
	fail := newFailure()
	var closing atomic.Bool
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Reads only to answer pings and notice a dropped connection.
			err := c.discardUntilClose()
			if closing.Load() && (err == nil || isClosedAfterStop(err) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded)) {
				return
			}
			if err == nil {
				err = errors.New("server closed the connection")
			}
			fail.fail(fmt.Errorf("conn %d: %w", i, err))
		}()
	}

	t := time.NewTimer(o.hold)
	select {
	case <-t.C:
	case <-fail.ch:
	}
	if fail.err == nil {
		fmt.Fprintf(os.Stderr, "loadgen: holding %d idle connections to %s\n", o.idle, o.url)
		fmt.Println("ready")

		eof := make(chan struct{})
		go func() {
			io.Copy(io.Discard, os.Stdin)
			close(eof)
		}()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		select {
		case <-eof:
		case <-sig:
		case <-fail.ch:
		}
	}

	// Close politely, bounded: send every close frame first, then give the
	// readers until the deadline to see the replies.
	closing.Store(true)
	deadline := time.Now().Add(min(o.timeout, 2*time.Second))
	for _, c := range conns {
		c.nc.SetDeadline(deadline)
		c.sendClose()
	}
	wg.Wait()
	for _, c := range conns {
		c.nc.Close()
	}
	if fail.err != nil {
		return fmt.Errorf("%w (%d connections failed)", fail.err, fail.count.Load())
	}
	return nil
}
