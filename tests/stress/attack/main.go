//go:build linux

// Command attack runs one resource attack against a running WebSocket echo
// server and judges how the server held up: its peak resident memory
// (VmRSS sampled every -interval, and VmHWM) must stay under -rss-limit,
// and a fresh client must be echoed byte-exactly within -liveness while
// the attack runs and after it. It prints one line and exits 0 (pass) or
// 1 (fail); 2 is a usage error. tests/stress/run.sh starts the servers and
// calls it; see tests/stress/README.md.
//
//	attack -server NAME -attack clients|nonreaders|slowreaders|deflatebomb|fdchurn \
//	       -addr 127.0.0.1:PORT -pid PID [-rss-limit MiB] [-liveness 5s] ...
//
// Past the limit the attack stops (that is already a failure); past
// -kill-at the server is killed, so that a server inflating a bomb or
// buffering without bound cannot exhaust the machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/libws/libws/libws"
)

type options struct {
	server, attack, addr string
	pid                  int
	rssLimit, killAt     int64 // MiB
	liveness             time.Duration
	interval, probeGap   time.Duration
	deadline             time.Duration

	clients, messages, maxSize, dialers int // clients
	nonreaders, nonreaderMiB            int // nonreaders
	slow, slowMiB, rcvbuf               int // slowreaders
	fill, drain, readPause              time.Duration
	bombMiB                             int           // deflatebomb: inflated size
	bombWait                            time.Duration // deflatebomb: wait for the close
	fdLimit, churnConns                 int           // fdchurn
	window                              time.Duration // fdchurn: time at the limit
	maxCPU                              float64       // fdchurn: CPU share allowed at the limit
}

var attacks = map[string]func(*run){
	"clients":     attackClients,
	"nonreaders":  attackNonReaders,
	"slowreaders": attackSlowReaders,
	"deflatebomb": attackDeflateBomb,
	"fdchurn":     attackFDChurn,
}

func main() {
	o := &options{}
	flag.StringVar(&o.server, "server", "server", "name printed for the server")
	flag.StringVar(&o.attack, "attack", "", "clients, nonreaders, slowreaders, deflatebomb or fdchurn")
	flag.StringVar(&o.addr, "addr", "", "server address, host:port")
	flag.IntVar(&o.pid, "pid", 0, "server process id (its memory and CPU are read from /proc)")
	flag.Int64Var(&o.rssLimit, "rss-limit", 512, "peak RSS allowed, MiB")
	flag.Int64Var(&o.killAt, "kill-at", 0, "kill the server past this RSS, MiB (0: twice -rss-limit, at least 1024)")
	flag.DurationVar(&o.liveness, "liveness", 5*time.Second, "bound on a fresh client's dial, handshake and echo")
	flag.DurationVar(&o.probeGap, "probe-gap", 250*time.Millisecond, "pause between two fresh clients during an attack")
	flag.DurationVar(&o.interval, "interval", 50*time.Millisecond, "RSS sampling interval")
	flag.DurationVar(&o.deadline, "deadline", 60*time.Second, "bound on the whole attack")
	flag.IntVar(&o.clients, "clients", 5000, "clients: concurrent connections")
	flag.IntVar(&o.messages, "messages", 4, "clients: echoes per connection")
	flag.IntVar(&o.maxSize, "max-size", 16<<10, "clients: largest message, bytes")
	flag.IntVar(&o.dialers, "dialers", 128, "connections dialed at once")
	flag.IntVar(&o.nonreaders, "nonreaders", 8, "nonreaders: connections")
	flag.IntVar(&o.nonreaderMiB, "nonreader-mib", 128, "nonreaders: MiB each sends (1 MiB messages)")
	flag.IntVar(&o.slow, "slow", 6, "slowreaders: connections")
	flag.IntVar(&o.slowMiB, "slow-mib", 60, "slowreaders: backlog each makes the server buffer, MiB")
	flag.DurationVar(&o.fill, "fill", 10*time.Second, "nonreaders, slowreaders: bound on the sending phase")
	flag.DurationVar(&o.drain, "drain", 15*time.Second, "slowreaders: reading phase (4 KiB reads)")
	flag.IntVar(&o.rcvbuf, "rcvbuf", 4096, "slowreaders: SO_RCVBUF of the readers (0: the kernel's default)")
	flag.DurationVar(&o.readPause, "read-pause", time.Millisecond, "slowreaders: pause between two 4 KiB reads")
	flag.IntVar(&o.bombMiB, "bomb-mib", 1024, "deflatebomb: inflated size, MiB (about 1/1000 of it is sent)")
	flag.DurationVar(&o.bombWait, "bomb-wait", 20*time.Second, "deflatebomb: bound on the wait for the server's close")
	flag.IntVar(&o.fdLimit, "fd-limit", 256, "fdchurn: the server's RLIMIT_NOFILE (set by whoever started it)")
	flag.IntVar(&o.churnConns, "churn-conns", 400, "fdchurn: connections held open (past the fd limit)")
	flag.DurationVar(&o.window, "window", 3*time.Second, "fdchurn: time spent at the limit, dropping and opening connections")
	flag.Float64Var(&o.maxCPU, "max-cpu", 0.25, "fdchurn: server CPU time over the window allowed, as a share of the window")
	flag.Parse()
	fn := attacks[o.attack]
	if fn == nil || o.addr == "" || o.pid <= 0 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: attack -attack NAME -addr HOST:PORT -pid PID [flags]; -h lists them")
		os.Exit(2)
	}
	if o.killAt <= 0 {
		o.killAt = max(2*o.rssLimit, 1024)
	}
	r := newRun(o)
	if !r.mon.alive() {
		fmt.Fprintf(os.Stderr, "attack: no process %d\n", o.pid)
		os.Exit(2)
	}
	ok := r.execute(fn)
	if !ok {
		os.Exit(1)
	}
}

var errServerGone = errors.New("the server exited")

// run is one attack against one server.
type run struct {
	o   *options
	mon *monitor

	// ctx ends when the attack must stop early: RSS past the limit, the
	// server gone, or -deadline. Connections opened with track are closed
	// then, which unblocks whatever waits on them.
	ctx         context.Context
	cancel      context.CancelCauseFunc
	endDeadline context.CancelFunc

	mu       sync.Mutex
	conns    map[*client]struct{}
	notes    []string
	failures []string
	probes   probeStats
}

type probeStats struct {
	n, failed int
	worst     time.Duration // slowest echoed probe
	firstErr  string
}

func newRun(o *options) *run {
	r := &run{o: o, conns: map[*client]struct{}{}}
	r.mon = &monitor{pid: o.pid, limit: o.rssLimit << 10, killAt: o.killAt << 10}
	ctx, cancel := context.WithCancelCause(context.Background())
	r.ctx, r.endDeadline = context.WithTimeoutCause(ctx, o.deadline, fmt.Errorf("attack bound of %s reached", o.deadline))
	r.cancel = cancel
	context.AfterFunc(ctx, r.closeAll)
	return r
}

func (r *run) execute(fn func(*run)) bool {
	monCtx, monStop := context.WithCancel(context.Background())
	monDone := make(chan struct{})
	go func() {
		r.mon.run(monCtx, r.o.interval, r.cancel)
		close(monDone)
	}()
	start := time.Now()
	fn(r)
	elapsed := time.Since(start)
	r.closeAll()
	monStop()
	<-monDone

	m := r.mon
	// Past the RSS limit or with the server gone, the cause is reported
	// below; what is left is the attack's own bound.
	if cause := context.Cause(r.ctx); cause != nil && !m.over && !m.gone {
		r.fail("stopped early: %v", cause)
	}
	if m.killed {
		r.fail("server killed by the driver at RSS > %d MiB", r.o.killAt)
	} else if m.gone {
		r.fail("server exited during the attack")
	}
	peak := m.peakKiB() >> 10
	if peak > r.o.rssLimit {
		r.fail("peak RSS %d MiB > limit %d MiB", peak, r.o.rssLimit)
	}
	r.cancel(nil)
	r.endDeadline()

	verdict := "PASS"
	if len(r.failures) > 0 {
		verdict = "FAIL"
	}
	fresh := "fresh echo: none tried"
	p := r.probes
	switch {
	case p.n > 0 && p.failed == p.n:
		fresh = fmt.Sprintf("fresh echo: none of %d", p.n)
	case p.n > 0:
		fresh = fmt.Sprintf("fresh echo max %s (%d/%d ok)", ms(p.worst), p.n-p.failed, p.n)
	}
	prefix := ""
	if m.over {
		prefix = ">="
	}
	fmt.Printf("%-6s %-11s %s  peak RSS %s%d MiB (limit %d)  %s  %.0fs\n",
		r.o.server, r.o.attack, verdict, prefix, peak, r.o.rssLimit, fresh, elapsed.Seconds())
	for _, s := range r.notes {
		fmt.Printf("    %s\n", s)
	}
	for _, s := range r.failures {
		fmt.Printf("    FAIL: %s\n", s)
	}
	return len(r.failures) == 0
}

func (r *run) fail(format string, args ...any) {
	r.mu.Lock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *run) note(format string, args ...any) {
	r.mu.Lock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// stopped reports whether the attack must end now.
func (r *run) stopped() bool { return r.ctx.Err() != nil }

// track registers c to be closed when the attack stops early; untrack
// forgets it.
func (r *run) track(c *client) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		c.nc.Close()
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *run) untrack(c *client) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

func (r *run) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		c.nc.Close()
	}
	clear(r.conns)
}

// probe is the fresh client: it dials, sends a message and checks its
// echo. More than -liveness for the lot is a failure; it gives up at
// twice that, so a stalled server is measured as such without holding
// the run for long.
func (r *run) probe(when string) {
	start := time.Now()
	bound := 2 * r.o.liveness
	err := func() error {
		c, err := dial(r.o.addr, dialOptions{timeout: bound})
		if err != nil {
			return err
		}
		defer func() { go c.shutdown(time.Second) }()
		return c.echo(libws.OpBinary, payload(libws.OpBinary, 1000), bound-time.Since(start))
	}()
	took := time.Since(start)
	if err != nil && !r.mon.alive() {
		return // the server's death is the failure, reported once
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.probes.n++
	if err == nil && took <= r.o.liveness {
		r.probes.worst = max(r.probes.worst, took)
		return
	}
	if err == nil {
		r.probes.worst = max(r.probes.worst, took)
		err = fmt.Errorf("echoed after %s", took.Round(time.Millisecond))
	}
	r.probes.failed++
	if r.probes.firstErr == "" {
		r.probes.firstErr = err.Error()
		r.failures = append(r.failures, fmt.Sprintf("fresh client %s: %v (liveness bound %s)", when, err, r.o.liveness))
	}
}

// prober runs probes one after another, -probe-gap apart, until stop is
// called; stop waits for the probe in flight.
func (r *run) prober(when string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-time.After(r.o.probeGap):
			}
			if !r.mon.alive() {
				return
			}
			r.probe(when)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-finished
	}
}

// finalProbe is the fresh client after the attack, when the server is
// still there to answer.
func (r *run) finalProbe(when string) {
	if !r.mon.alive() {
		return
	}
	r.probe(when)
}

// ms formats a latency for the report.
func ms(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// describe gives an error's gist for a note.
func describe(err error) string {
	if err == nil {
		return "ok"
	}
	s := err.Error()
	for _, k := range []string{"connection reset by peer", "broken pipe", "i/o timeout", "use of closed network connection", "EOF"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return s
}
