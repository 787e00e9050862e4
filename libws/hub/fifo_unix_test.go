//go:build unix

package hub

import (
	"syscall"
	"testing"
)

// mkfifo makes a named pipe, a file the static server must refuse.
func mkfifo(_ *testing.T, path string) error { return syscall.Mkfifo(path, 0o644) }
