package hub

import (
	"errors"
	"fmt"
	"testing"

	"github.com/libws/libws/libws"
)

func TestRefusedStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want uint16
	}{
		{"refused 403", &libws.HandshakeError{Status: 403, Reason: "forbidden"}, 403},
		{"wrapped 401", fmt.Errorf("dial: %w", &libws.HandshakeError{Status: 401}), 401},
		{"no status", &libws.HandshakeError{Reason: "bad accept key"}, 0},
		{"out of range", &libws.HandshakeError{Status: 1000}, 0},
		{"not a handshake error", errors.New("connection refused"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refusedStatus(tc.err); got != tc.want {
				t.Fatalf("refusedStatus = %d, want %d", got, tc.want)
			}
		})
	}
}
