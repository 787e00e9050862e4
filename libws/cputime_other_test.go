//go:build !unix

package libws_test

import "time"

func processCPU() (time.Duration, bool) { return 0, false }

func processSyscalls() (reads, writes int64, ok bool) { return 0, 0, false }
