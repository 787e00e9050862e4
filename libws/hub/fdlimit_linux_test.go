package hub

import (
	"os"
	"syscall"
	"testing"
)

// exhaustFDs lowers the descriptor limit and takes every descriptor
// under it but spare, so that the next ones opened fail with EMFILE. The
// returned func frees them and restores the limit; it may be called twice.
func exhaustFDs(t *testing.T, spare int) (release func()) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	lowered := orig
	lowered.Cur = uint64(len(ents) + 16)
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
