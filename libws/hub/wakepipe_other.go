//go:build !unix

package hub

// newWakePipe: where there are no pipes (Windows), WakeFD is -1 and hosts
// wake the loop with Hub.Wake.
func newWakePipe(func()) (int, error) { return -1, nil }

func closeWakePipe(int) {}
