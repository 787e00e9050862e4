package libws

import (
	"errors"
	"testing"
)

func TestParseRequestRefusesTLS(t *testing.T) {
	hello := []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01}
	_, n, err := ParseRequest(hello)
	var he *HandshakeError
	if !errors.As(err, &he) || he.Status != 400 || n != 0 {
		t.Fatalf("ClientHello: n %d err %v", n, err)
	}
}
