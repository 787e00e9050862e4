// Command capi is libws's C ABI: build it with
//
//	go build -buildmode=c-shared -trimpath -ldflags='-s -w' -o build/lib/libws.so ./capi
//
// and use it through include/ws.h, the hand-written public header (the
// header cgo generates next to the library is not public). This package
// only translates between C and the engine in package libws: handles,
// argument checks, error codes and borrowed memory. No protocol logic lives
// here.
//
// Conventions for every export (hub code included):
//   - the first statement is `defer recoverTo(&rc, unsafe.Pointer(h))` (rc nil
//     for exports without an int result): a panic becomes WS_EINTERNAL;
//   - handles are created with register and found with restore[T]; a
//     destructor calls release first and frees nothing if it returns false;
//   - failures go through fail / failf, which record the message for
//     ws_errmsg() and on the handle and return the code from errCode.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -DWS_NO_PROTOTYPES
*/
import "C"

import (
	"os"
	"runtime"
)

func main() {}

// With one P, the runtime takes it back from a thread that spent 20 us in
// C or in a syscall and starts another thread to look for work: a host
// thread that waits in epoll (an inline hub) or in a blocking read would
// cause two context switches per wait. With a second P idle neither
// happens. The host's own GOMAXPROCS setting wins.
func init() {
	if os.Getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
}
