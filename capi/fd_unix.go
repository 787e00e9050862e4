//go:build unix

package main

import "golang.org/x/sys/unix"

// dupCloexec duplicates the descriptor ws_hub_fd hands out (see ws_hub_new).
func dupCloexec(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }
