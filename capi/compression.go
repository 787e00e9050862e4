package main

/*
#include "ws.h"
*/
import "C"

import (
	"fmt"

	"github.com/libws/libws/libws"
)

func init() {
	defineInt(C.WS_OPT_COMPRESSION, "WS_OPT_COMPRESSION", 0, 0, 1)
	defineInt(C.WS_OPT_COMPRESSION_LEVEL, "WS_OPT_COMPRESSION_LEVEL", 1, 1, 9)
	defineInt(C.WS_OPT_COMPRESSION_THRESHOLD, "WS_OPT_COMPRESSION_THRESHOLD", 128, 0, 1<<30)
	defineInt(C.WS_OPT_COMPRESSION_TAKEOVER, "WS_OPT_COMPRESSION_TAKEOVER", 0, 0, 1)
	defineIntCheck(C.WS_OPT_COMPRESSION_MAX_WINDOW_BITS, "WS_OPT_COMPRESSION_MAX_WINDOW_BITS", 0, 0, 15, func(bits int64) error {
		if bits != 0 && bits < 8 {
			return fmt.Errorf("must be 0 or 8-15, not %d", bits)
		}
		return nil
	})
}

// compression returns the permessage-deflate settings, nil when off.
func (v optValues) compression() (*libws.CompressionOptions, error) {
	if v.Int(C.WS_OPT_COMPRESSION) == 0 {
		return nil, nil
	}
	bits := int(v.Int(C.WS_OPT_COMPRESSION_MAX_WINDOW_BITS)) // checked when set
	return &libws.CompressionOptions{
		Level:             int(v.Int(C.WS_OPT_COMPRESSION_LEVEL)),
		Threshold:         max(int(v.Int(C.WS_OPT_COMPRESSION_THRESHOLD)), 1),
		ContextTakeover:   v.Int(C.WS_OPT_COMPRESSION_TAKEOVER) == 1,
		PeerMaxWindowBits: bits,
	}, nil
}
