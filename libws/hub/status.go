package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"

	"github.com/libws/libws/libws"
)

// EInval classifies a host command the hub refused (a close code or reason
// that may not be sent): ws.h's WS_EINVAL.
const EInval int32 = -1

// statusOf classifies an error for an error event's status word, so that
// hosts map errors to their types by code and never by message text.
func statusOf(err error) int32 {
	var pe *libws.ProtocolError
	var he *libws.HandshakeError
	var ne net.Error
	var rhe tls.RecordHeaderError
	var ae tls.AlertError
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &pe):
		return closeStatus(uint16(pe.Code))
	case errors.As(err, &he):
		return EHandshake
	case errors.As(err, &rhe), errors.As(err, &ae), errors.As(err, &cve),
		errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie):
		return ETLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ETimedOut
	case errors.Is(err, libws.ErrClosed), errors.Is(err, net.ErrClosed):
		return EClosed
	}
	return EIO
}

// refusedStatus is the HTTP status a server refused a client's opening
// handshake with, carried as the code of its EHandshake error event so
// that hosts report it without parsing the message; 0 if none.
func refusedStatus(err error) uint16 {
	var he *libws.HandshakeError
	if errors.As(err, &he) && he.Status >= 100 && he.Status <= 999 {
		return uint16(he.Status)
	}
	return 0
}

// closeStatus is the status of a failure the hub reports to the peer with
// close code code.
func closeStatus(code uint16) int32 {
	switch libws.StatusCode(code) {
	case libws.StatusProtocolError:
		return EProto
	case libws.StatusInvalidPayloadData:
		return EUTF8
	case libws.StatusMessageTooBig:
		return ETooBig
	case libws.StatusPolicyViolation:
		return EPolicy
	case libws.StatusInternalError:
		return EInternal
	}
	return EProto
}

// sendStatus classifies a send the engine refused: what the host asked
// for was invalid, unless the connection is closing.
func sendStatus(err error) int32 {
	if status := statusOf(err); status != EIO {
		return status
	}
	return EInval
}
