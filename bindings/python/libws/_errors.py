"""Exceptions of the libws binding (re-exported by the package)."""

from __future__ import annotations

from typing import Any, Optional

from . import _ffi

__all__ = [
    "WebSocketError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ProtocolError",
    "InvalidHandshake",
    "InvalidStatus",
    "NegotiationError",
    "WebSocketTimeout",
    "ConnectFailed",
    "Close",
    "BadHandle",
]

#: Close codes that end a connection without an error (normal closure, going
#: away, and a close frame without a status code).
OK_CLOSE_CODES = frozenset((1000, 1001, 1005))


class WebSocketError(Exception):
    """Every error raised by libws. ``code`` is the C result code
    (``libws.EINVAL``, ``libws.ECLOSED`` ...; negative; also in ``status``)
    -- except on :class:`ConnectionClosed`, whose ``code`` is a close code
    as in ``websockets`` --, ``message`` the detailed message libws
    recorded for the failed call."""

    code: int
    message: str

    def __init__(self, code: int, message: str = "") -> None:
        self.code = code
        self.status = code
        self.message = message or _ffi.strerror(code)
        super().__init__(code, self.message)

    def __str__(self) -> str:
        name = _ffi.strerror(self.code)
        if self.message and self.message != name:
            return f"{self.message} ({name})"
        return name


class BadHandle(WebSocketError):
    """A call on a handle that was freed (``libws.EBADHANDLE``)."""


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455 (``code`` is ``EPROTO``, ``EUTF8`` or
    ``ETOOBIG``); ``close_code`` is the close code libws sent or queued for
    the peer (1002, 1007 or 1009)."""

    close_code: int

    def __init__(self, code: int, message: str = "", close_code: Optional[int] = None) -> None:
        super().__init__(code, message)
        if close_code is None:
            close_code = {_ffi.WS_EUTF8: 1007, _ffi.WS_ETOOBIG: 1009}.get(code, 1002)
        self.close_code = close_code


class InvalidHandshake(WebSocketError):
    """The opening handshake was refused or invalid (``libws.EHANDSHAKE``).
    As in ``websockets``, :class:`InvalidStatus` is the subclass raised when
    the server answered with another status than 101."""


class InvalidStatus(InvalidHandshake):
    """The server refused the upgrade: ``response.status_code`` is the HTTP
    status it answered with (as ``websockets.exceptions.InvalidStatus``)."""

    def __init__(self, response: "Any", message: str = "") -> None:
        self.response = response
        super().__init__(_ffi.WS_EHANDSHAKE, message or f"server rejected WebSocket connection: HTTP {response.status_code}")

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status_code:d}"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.response, self.message))


class NegotiationError(InvalidHandshake):
    """A server's ``select_subprotocol`` raises it to refuse the handshake
    with 400 (as ``websockets.exceptions.NegotiationError``)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(_ffi.WS_EHANDSHAKE, message)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.message,))


class WebSocketTimeout(WebSocketError, TimeoutError):
    """A libws timeout expired (``libws.ETIMEDOUT``). Also a
    :class:`TimeoutError` (so an :class:`OSError`, as in ``websockets``)."""


class ConnectFailed(WebSocketError, ConnectionError):
    """A client could not reach the server (``libws.EIO``: refused, reset,
    unreachable). An :class:`OSError` (:class:`ConnectionError`) as the
    errors ``websockets`` lets through from the socket; a host name that
    does not resolve raises :class:`socket.gaierror` itself."""


#: Close code explanations, as websockets.frames prints them.
_EXPLANATIONS = {
    1000: "OK",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status received [internal]",
    1006: "connection closed abnormally [internal]",
    1007: "invalid frame payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "extension required",
    1011: "unexpected error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failure [internal]",
}


class Close:
    """A close frame: ``code`` (1005 for a frame without one) and
    ``reason``, as ``websockets.frames.Close``."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Close) and (self.code, self.reason) == (other.code, other.reason)

    def __hash__(self) -> int:
        return hash((self.code, self.reason))

    def __repr__(self) -> str:
        return f"Close(code={self.code}, reason={self.reason!r})"

    def __str__(self) -> str:
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = _EXPLANATIONS.get(self.code, "unknown")
        out = f"{self.code} ({explanation})"
        return f"{out} {self.reason}" if self.reason else out


class ConnectionClosed(WebSocketError):
    """The connection is closed and the call cannot proceed; as
    ``websockets.exceptions.ConnectionClosed``:

    * ``rcvd``: the close frame received from the peer (a :class:`Close`
      with ``code`` and ``reason``), None if none arrived;
    * ``sent``: the close frame sent (by :meth:`close`, as the echo of the
      peer's, or the 1002 / 1007 / 1008 / 1009 / 1011 libws sent when it
      failed the connection), None if none was;
    * ``rcvd_then_sent``: whether the peer's came first (None unless both);
    * ``code`` / ``reason``: ``rcvd``'s, or 1006 and "" without it.

    ``status`` is the C result code behind it (``ECLOSED``, or ``EPROTO`` /
    ``EUTF8`` / ``ETOOBIG`` / ``EPOLICY`` when libws failed the connection);
    ``close_code`` says how it ended in one number: the code libws sent
    when it failed the connection, else ``rcvd``'s code, else 1006
    (``close_reason`` likewise).
    """

    def __init__(
        self,
        rcvd: Optional[Close] = None,
        sent: Optional[Close] = None,
        rcvd_then_sent: Optional[bool] = None,
        status: int = _ffi.WS_ECLOSED,
        message: str = "",
    ) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent if rcvd is not None and sent is not None else None
        self.status = status
        self.message = message or self._describe()
        Exception.__init__(self, self.message)

    def _describe(self) -> str:
        rcvd, sent = self.rcvd, self.sent
        if rcvd is None:
            return "no close frame received or sent" if sent is None else f"sent {sent}; no close frame received"
        if sent is None:
            return f"received {rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {rcvd}; then sent {sent}"
        return f"sent {sent}; then received {rcvd}"

    def __str__(self) -> str:
        return self.message

    @property
    def code(self) -> int:  # type: ignore[override]
        return self.rcvd.code if self.rcvd is not None else 1006

    @property
    def reason(self) -> str:
        return self.rcvd.reason if self.rcvd is not None else ""

    @property
    def close_code(self) -> int:
        if self.status in _FAILED and self.sent is not None:
            return self.sent.code
        return self.code

    @property
    def close_reason(self) -> str:
        if self.status in _FAILED and self.sent is not None:
            return self.sent.reason
        return self.reason

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.rcvd, self.sent, self.rcvd_then_sent, self.status, self.message))


class ConnectionClosedOK(ConnectionClosed):
    """Closed normally: close frames received and sent, both 1000, 1001 or
    1005. Iterating over a connection ends silently on this one."""


class ConnectionClosedError(ConnectionClosed):
    """Closed abnormally: a close frame missing or with another code (no
    frame for a dropped connection; 1002 / 1007 / 1009 sent for protocol
    violations ...)."""


#: Statuses of a connection libws failed (it sent the close code).
_FAILED = frozenset((_ffi.WS_EPROTO, _ffi.WS_EUTF8, _ffi.WS_ETOOBIG, _ffi.WS_EPOLICY, _ffi.WS_EINTERNAL))


def closed(
    rcvd: Optional[Close],
    sent: Optional[Close],
    rcvd_then_sent: Optional[bool] = None,
    status: int = _ffi.WS_ECLOSED,
    message: str = "",
) -> ConnectionClosed:
    """The right ConnectionClosed subclass, chosen as websockets does."""
    ok = (
        rcvd is not None
        and sent is not None
        and rcvd.code in OK_CLOSE_CODES
        and sent.code in OK_CLOSE_CODES
        and status == _ffi.WS_ECLOSED
    )
    cls = ConnectionClosedOK if ok else ConnectionClosedError
    return cls(rcvd, sent, rcvd_then_sent, status, message)


_BY_CODE = {
    _ffi.WS_EBADHANDLE: BadHandle,
    _ffi.WS_EPROTO: ProtocolError,
    _ffi.WS_EUTF8: ProtocolError,
    _ffi.WS_ETOOBIG: ProtocolError,
    _ffi.WS_EHANDSHAKE: InvalidHandshake,
    _ffi.WS_ETIMEDOUT: WebSocketTimeout,
}


def error(code: int, message: Optional[str] = None) -> WebSocketError:
    """The exception for a negative result code; message defaults to the
    calling thread's ws_errmsg()."""
    if message is None:
        message = _ffi.errmsg()
    if code == _ffi.WS_ECLOSED:
        return ConnectionClosedError(None, None, None, code, message)
    return _BY_CODE.get(code, WebSocketError)(code, message)


def check(rc: int, message: Optional[str] = None) -> int:
    """Raise for a negative result code, return it otherwise."""
    if rc < 0:
        raise error(rc, message)
    return rc
