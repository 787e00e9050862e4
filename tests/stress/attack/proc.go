//go:build linux

package main

// What the driver measures of the server, from /proc: resident memory
// (sampled, and the kernel's own high-water mark), CPU time and open fds.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// memStatus reads VmRSS and VmHWM (KiB) of pid. ok is false once the
// process is gone or a zombie (no memory lines any more).
func memStatus(pid int) (rss, hwm int64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (rss, hwm int64, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	var haveRSS bool
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), ":")
		if !found {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst, haveRSS = &rss, true
		case "VmHWM":
			dst = &hwm
		default:
			continue
		}
		f := strings.Fields(v) // "123456 kB"
		if len(f) > 0 {
			*dst, _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	return rss, hwm, haveRSS
}

// clockTick is USER_HZ, which Linux fixes at 100 for /proc on every
// architecture the servers run on.
const clockTick = 10 * time.Millisecond

// cpuTime is the user + system time pid has used, all threads.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

func parseStatCPU(b []byte) (time.Duration, error) {
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed /proc stat %q", b)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc stat %q", b)
	}
	return time.Duration(u+s) * clockTick, nil
}

// openFDs counts pid's open file descriptors (-1 if unreadable).
func openFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// monitor samples the server's RSS every interval. Past limit it cancels
// the attack (that is already a failure, and going on only eats the
// machine); past killAt it kills the server, which an attack it can no
// longer stop (a bomb being inflated) would otherwise take to gigabytes.
type monitor struct {
	pid           int
	limit, killAt int64 // KiB

	mu     sync.Mutex
	peak   int64 // highest VmRSS sampled, KiB
	hwm    int64 // last VmHWM read, KiB
	over   bool  // RSS passed limit
	killed bool  // the monitor killed the server
	gone   bool  // the server is no longer running
}

func (m *monitor) run(ctx context.Context, interval time.Duration, stop context.CancelCauseFunc) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		m.sample(stop)
		select {
		case <-ctx.Done():
			m.sample(stop)
			return
		case <-t.C:
		}
	}
}

func (m *monitor) sample(stop context.CancelCauseFunc) {
	rss, hwm, ok := memStatus(m.pid)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !ok {
		if !m.gone {
			m.gone = true
			stop(errServerGone)
		}
		return
	}
	m.peak = max(m.peak, rss)
	m.hwm = max(m.hwm, hwm)
	if rss > m.limit && !m.over {
		m.over = true
		stop(fmt.Errorf("RSS %d MiB passed the limit of %d MiB", rss>>10, m.limit>>10))
	}
	if rss > m.killAt && !m.killed {
		m.killed = true
		syscall.Kill(m.pid, syscall.SIGKILL)
	}
}

// alive reports whether the server still runs.
func (m *monitor) alive() bool {
	_, _, ok := memStatus(m.pid)
	return ok
}

// peakKiB is the larger of the sampled peak and the kernel's VmHWM.
func (m *monitor) peakKiB() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return max(m.peak, m.hwm)
}
