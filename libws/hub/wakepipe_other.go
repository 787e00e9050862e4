//go:build !unix && !windows

package hub

// newWakePipe: where the hub has neither pipes nor a socket pair (js,
// wasip1, plan9), WakeFD is -1 and hosts wake the loop with Hub.Wake.
func newWakePipe(func()) (int, error) { return -1, nil }

func closeWakePipe(int) {}
