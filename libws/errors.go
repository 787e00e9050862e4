package libws

import (
	"errors"
	"strconv"
)

// StatusCode is a close status code (RFC 6455 §7.4).
type StatusCode uint16

const (
	StatusNormalClosure      StatusCode = 1000
	StatusGoingAway          StatusCode = 1001
	StatusProtocolError      StatusCode = 1002
	StatusUnsupportedData    StatusCode = 1003
	StatusNoStatusReceived   StatusCode = 1005 // never sent: no code was in the close frame
	StatusAbnormalClosure    StatusCode = 1006 // never sent: the connection dropped without a close frame
	StatusInvalidPayloadData StatusCode = 1007
	StatusPolicyViolation    StatusCode = 1008
	StatusMessageTooBig      StatusCode = 1009
	StatusMandatoryExtension StatusCode = 1010
	StatusInternalError      StatusCode = 1011
	StatusServiceRestart     StatusCode = 1012
	StatusTryAgainLater      StatusCode = 1013
	StatusBadGateway         StatusCode = 1014
	StatusTLSHandshake       StatusCode = 1015 // never sent
)

// ValidCloseCode reports whether code may appear on the wire in a close
// frame: 1005, 1006, 1015 and the unassigned ranges are refused.
func ValidCloseCode(code StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// ProtocolError is a violation found in what the peer sent. The connection
// is failed with Code, which the engine sends in its close frame.
type ProtocolError struct {
	Code StatusCode
	Msg  string
}

func (e *ProtocolError) Error() string {
	return "libws: " + e.Msg + " (close " + strconv.Itoa(int(e.Code)) + ")"
}

// The violations a reader can find. They are values so callers can match
// them with errors.Is.
var (
	ErrReservedOpcode         = &ProtocolError{StatusProtocolError, "reserved opcode"}
	ErrReservedBits           = &ProtocolError{StatusProtocolError, "reserved bits set without a negotiated extension"}
	ErrFragmentedControl      = &ProtocolError{StatusProtocolError, "fragmented control frame"}
	ErrControlTooLong         = &ProtocolError{StatusProtocolError, "control frame payload longer than 125 bytes"}
	ErrLengthOverflow         = &ProtocolError{StatusProtocolError, "64-bit payload length with its top bit set"}
	ErrNonMinimalLength       = &ProtocolError{StatusProtocolError, "payload length not in its shortest form"}
	ErrUnmaskedFrame          = &ProtocolError{StatusProtocolError, "frame from client is not masked"}
	ErrMaskedFrame            = &ProtocolError{StatusProtocolError, "frame from server is masked"}
	ErrUnexpectedContinuation = &ProtocolError{StatusProtocolError, "continuation frame without a message to continue"}
	ErrExpectedContinuation   = &ProtocolError{StatusProtocolError, "new data frame while a fragmented message is unfinished"}
	ErrInvalidCloseCode       = &ProtocolError{StatusProtocolError, "invalid close code"}
	ErrInvalidClosePayload    = &ProtocolError{StatusProtocolError, "close payload of 1 byte"}
	ErrInvalidUTF8            = &ProtocolError{StatusInvalidPayloadData, "invalid UTF-8 in text"}
	ErrInvalidCloseReason     = &ProtocolError{StatusInvalidPayloadData, "invalid UTF-8 in close reason"}
	ErrDeflateTrailingData    = &ProtocolError{StatusInvalidPayloadData, "compressed data after the final deflate block"}
	ErrFrameTooBig            = &ProtocolError{StatusMessageTooBig, "frame exceeds the maximum frame size"}
	ErrMessageTooBig          = &ProtocolError{StatusMessageTooBig, "message exceeds the maximum message size"}
	ErrDataAfterClose         = &ProtocolError{StatusProtocolError, "frame after close"}
)

// CloseError is returned by reads once the peer's close frame has arrived
// (or the connection dropped: Code is then StatusAbnormalClosure).
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	s := "libws: connection closed (" + strconv.Itoa(int(e.Code))
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s + ")"
}

var (
	// ErrClosed is returned when writing after the close frame was sent.
	ErrClosed = errors.New("libws: connection closed")
	// ErrBufferTooSmall is returned by PutHeader when dst cannot hold the header.
	ErrBufferTooSmall = errors.New("libws: buffer too small")
	// ErrInvalidOpcode is returned when a write names an opcode that cannot be sent.
	ErrInvalidOpcode = errors.New("libws: invalid opcode for this write")
	// ErrControlPayload is returned when a ping, pong or close payload to send exceeds 125 bytes.
	ErrControlPayload = errors.New("libws: control frame payload over 125 bytes")
	// ErrClientHeader: AppendHeader on a client, whose payloads are masked.
	ErrClientHeader = errors.New("libws: AppendHeader is for servers (client frames are masked)")
)
