package main

import "golang.org/x/sys/windows"

// dupCloexec duplicates the socket ws_hub_fd hands out (see ws_hub_new):
// sockets are duplicated through their protocol info, and the copy is
// not inherited by child processes.
func dupCloexec(fd int) (int, error) {
	var info windows.WSAProtocolInfo
	if err := windows.WSADuplicateSocket(windows.Handle(fd), windows.GetCurrentProcessId(), &info); err != nil {
		return -1, err
	}
	const fromProtocolInfo = -1
	s, err := windows.WSASocket(fromProtocolInfo, fromProtocolInfo, fromProtocolInfo, &info, 0, windows.WSA_FLAG_OVERLAPPED|windows.WSA_FLAG_NO_HANDLE_INHERIT)
	if err != nil {
		return -1, err
	}
	return int(s), nil
}
