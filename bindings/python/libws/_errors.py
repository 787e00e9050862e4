"""Exceptions of the libws binding (re-exported by the package)."""

from __future__ import annotations

from typing import Optional

from . import _ffi

__all__ = [
    "WebSocketError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ProtocolError",
    "InvalidHandshake",
    "WebSocketTimeout",
    "BadHandle",
]

#: Close codes that end a connection without an error (normal closure, going
#: away, and a close frame without a status code).
OK_CLOSE_CODES = frozenset((1000, 1001, 1005))


class WebSocketError(Exception):
    """Every error raised by libws. ``code`` is the C result code
    (``libws.EINVAL``, ``libws.ECLOSED`` ...; negative), ``message`` the
    detailed message libws recorded for the failed call."""

    code: int
    message: str

    def __init__(self, code: int, message: str = "") -> None:
        self.code = code
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
    """The opening handshake was refused or invalid (``libws.EHANDSHAKE``)."""


class WebSocketTimeout(WebSocketError, TimeoutError):
    """A libws timeout expired (``libws.ETIMEDOUT``). Also a
    :class:`TimeoutError`."""


class ConnectionClosed(WebSocketError):
    """The connection is closed (or closing) and the call cannot proceed.

    ``code`` is the C result code (``ECLOSED``, or ``EPROTO`` / ``EUTF8`` /
    ``ETOOBIG`` when libws failed the connection because the peer broke the
    protocol). ``close_code`` and ``close_reason`` tell how it closed: the
    peer's close code and reason; the code libws sent when it failed the
    connection (1002, 1007, 1009, 1008 ...); 1006 when it dropped without a
    close frame; 1005 when the peer's close frame had no code.
    ``reason`` is the same as ``close_reason``.
    """

    close_code: Optional[int]
    close_reason: str

    def __init__(
        self,
        close_code: Optional[int] = None,
        close_reason: str = "",
        code: int = _ffi.WS_ECLOSED,
        message: str = "",
    ) -> None:
        self.close_code = close_code
        self.close_reason = close_reason
        if not message:
            message = "connection closed"
            if close_code is not None:
                message += f" with code {close_code}"
                if close_reason:
                    message += f" ({close_reason})"
        super().__init__(code, message)

    @property
    def reason(self) -> str:
        return self.close_reason

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.close_code, self.close_reason, self.code, self.message))


class ConnectionClosedOK(ConnectionClosed):
    """Closed normally: close code 1000, 1001 or 1005. Iterating over a
    connection ends silently on this one."""


class ConnectionClosedError(ConnectionClosed):
    """Closed abnormally: any other close code (1006 for a dropped
    connection, 1002 / 1007 / 1009 for protocol violations ...)."""


def closed(
    close_code: Optional[int], close_reason: str = "", code: int = _ffi.WS_ECLOSED, message: str = ""
) -> ConnectionClosed:
    """The right ConnectionClosed subclass for a close code."""
    cls = ConnectionClosedOK if close_code in OK_CLOSE_CODES and code == _ffi.WS_ECLOSED else ConnectionClosedError
    return cls(close_code, close_reason, code, message)


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
        return ConnectionClosed(None, "", code, message)
    return _BY_CODE.get(code, WebSocketError)(code, message)


def check(rc: int, message: Optional[str] = None) -> int:
    """Raise for a negative result code, return it otherwise."""
    if rc < 0:
        raise error(rc, message)
    return rc
