package main

import "golang.org/x/sys/windows"

// dupCloexec duplicates the socket handle ws_hub_fd hands out (see
// ws_hub_new); handles are not inherited unless asked for.
func dupCloexec(fd int) (int, error) {
	p := windows.CurrentProcess()
	var d windows.Handle
	if err := windows.DuplicateHandle(p, windows.Handle(fd), p, &d, 0, false, windows.DUPLICATE_SAME_ACCESS); err != nil {
		return -1, err
	}
	return int(d), nil
}
