//go:build unix

package hub

import (
	"os"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// exhaustFDs lowers the descriptor limit and takes every descriptor
// under it but spare, so that the next ones opened fail with EMFILE. The
// returned func frees them and restores the limit; it may be called twice.
func exhaustFDs(t *testing.T, spare int) (release func()) {
	t.Helper()
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	top := highestFD(t, int(min(uint64(orig.Cur), 1<<16)))
	lowered := orig
	setRlim(&lowered.Cur, top+1+16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	var fillers []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		fillers = append(fillers, f)
	}
	for ; spare > 0 && len(fillers) > 0; spare-- {
		fillers[len(fillers)-1].Close()
		fillers = fillers[:len(fillers)-1]
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		for _, f := range fillers {
			f.Close()
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(release)
	return release
}

// highestFD is the highest descriptor open: from /proc/self/fd where
// there is one (Linux), else by asking each below limit (macOS, the BSDs;
// their /dev/fd may list only 0 to 2).
func highestFD(t *testing.T, limit int) int {
	t.Helper()
	top := -1
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			if n, err := strconv.Atoi(e.Name()); err == nil {
				top = max(top, n)
			}
		}
		return top
	}
	for fd := range limit {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			top = fd
		}
	}
	return top
}

// setRlim sets a limit of struct rlimit, unsigned on most systems and
// signed on FreeBSD.
func setRlim[T ~int64 | ~uint64](p *T, n int) { *p = T(n) }
