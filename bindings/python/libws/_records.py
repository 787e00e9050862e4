"""The hub's records as docs/hub-contract.md describes them: decoding what
``ws_hub_poll_raw`` writes, encoding what ``ws_hub_send_raw`` takes, and the
exceptions an error event stands for. No I/O and no asyncio here: the
event-loop side is in :mod:`libws._hub`.
"""

from __future__ import annotations

import struct
from typing import Optional, Tuple

from . import _ffi
from ._errors import Close, ConnectionClosed, ProtocolError, WebSocketError, closed, error

__all__ = ["HEADER", "topic_name", "record_size", "open_fields", "event_error", "closed_error", "status_of_close_code"]

#: The 24-byte record header: kind, opcode, code, len, conn, aux, status.
HEADER = struct.Struct("<BBHIQIi")
assert HEADER.size == _ffi.WS_RECORD_HEADER

_U32 = struct.Struct("<I")


def record_size(head) -> int:  # type: ignore[no-untyped-def]
    """The size of the record whose header starts ``head``: 24 + len
    rounded up to 8. What ``ws_hub_poll_raw`` leaves in the buffer when it
    answers WS_ENOSPACE. Raises ValueError for a length the hub never
    writes (over WS_RECORD_MAX_LEN)."""
    n = _U32.unpack_from(head, 4)[0]
    if n > _ffi.WS_RECORD_MAX_LEN:
        raise ValueError(f"record length {n} over WS_RECORD_MAX_LEN")
    return _ffi.WS_RECORD_HEADER + ((n + 7) & ~7)


def topic_name(topic) -> bytes:  # type: ignore[no-untyped-def]
    """A topic as the hub takes it: a str (UTF-8) or bytes, 1 to
    WS_TOPIC_MAX_LEN bytes. Raises TypeError / ValueError otherwise, so that
    a batch never carries a record the hub refuses."""
    if isinstance(topic, str):
        b = topic.encode()
    elif isinstance(topic, (bytes, bytearray, memoryview)):
        b = bytes(topic)
    else:
        raise TypeError(f"topic must be str or bytes, not {type(topic).__name__}")
    if not 0 < len(b) <= _ffi.WS_TOPIC_MAX_LEN:
        raise ValueError(f"a topic has 1 to {_ffi.WS_TOPIC_MAX_LEN} bytes, not {len(b)}")
    return b


#: Fields of an open event's payload, in order (later versions may append).
OPEN_FIELDS = 4


def open_fields(payload) -> Tuple[str, str, str, bytes]:  # type: ignore[no-untyped-def]
    """(peer, request target, subprotocol, raw header lines) of an open
    event. Each field is ``u32 length | bytes | NUL``: lengths, not
    separators, delimit them, so no byte a client sends moves into the next
    field. Fields past the fourth are ignored. Raises ValueError when the
    payload is not made of such fields."""
    try:
        out = _fields(payload, OPEN_FIELDS)
    except ValueError as exc:
        raise ValueError(f"open event: {exc}") from None
    peer, target, proto, headers = out
    # The hub refuses request targets with control or non-ASCII bytes it
    # cannot carry; decode leniently so that nothing here can raise later.
    return (
        peer.decode("utf-8", "replace"),
        target.decode("utf-8", "replace"),
        proto.decode("utf-8", "replace"),
        headers,
    )


def request_fields(payload) -> Tuple[str, str, str, bytes, str, str]:  # type: ignore[no-untyped-def]
    """(peer, request target, offered subprotocols, raw header lines,
    method, offered extensions) of a request event (handshake control):
    the open event's four fields, the third being the offered list, then
    two more. Raises ValueError when the payload is not made of them."""
    fields = _fields(payload, 6)
    peer, target, protos, headers, method, exts = fields
    dec = lambda b: b.decode("utf-8", "replace")  # noqa: E731
    return dec(peer), dec(target), dec(protos), headers, dec(method), dec(exts)


def _fields(payload, count):  # type: ignore[no-untyped-def]
    mv = memoryview(payload)
    out = []
    off = 0
    end = len(mv)
    for _ in range(count):
        if off + 4 > end:
            raise ValueError("a field is missing")
        n = _U32.unpack_from(mv, off)[0]
        p = off + 4
        if p + n + 1 > end or mv[p + n] != 0:
            raise ValueError("a field runs past the payload")
        out.append(mv[p : p + n].tobytes())
        off = p + n + 1
    return out


#: The status a hub without a status word implies by the close code it sent.
_STATUS_OF_CLOSE = {
    1002: _ffi.WS_EPROTO,
    1007: _ffi.WS_EUTF8,
    1008: _ffi.WS_EPOLICY,
    1009: _ffi.WS_ETOOBIG,
    1011: _ffi.WS_EINTERNAL,
}

#: Statuses of a connection libws failed (it sent the close code): the
#: ConnectionClosed raised afterwards carries them as its code.
FAILED = frozenset((_ffi.WS_EPROTO, _ffi.WS_EUTF8, _ffi.WS_ETOOBIG, _ffi.WS_EPOLICY, _ffi.WS_EINTERNAL))


def status_of_close_code(code: int) -> int:
    return _STATUS_OF_CLOSE.get(code, _ffi.WS_EIO)


def event_status(status: int, close_code: int) -> int:
    """The WS_E* code of an error event: its status word. A record without
    one (0) is classified by the close code sent, never by its text."""
    if status < 0:
        return status
    return status_of_close_code(close_code)


def event_error(status: int, close_code: int, message: str) -> WebSocketError:
    """The exception an error event stands for (see :func:`libws._errors.error`):
    ProtocolError for EPROTO/EUTF8/ETOOBIG, WebSocketTimeout, InvalidHandshake,
    WebSocketError otherwise; ``message`` only describes."""
    st = event_status(status, close_code)
    exc = error(st, message or _ffi.strerror(st))
    if close_code and isinstance(exc, ProtocolError):
        exc.close_code = close_code
    return exc


def closed_error(
    rcvd: Optional[Close], sent: Optional[Close], rcvd_then_sent: Optional[bool], status: int
) -> ConnectionClosed:
    """The ConnectionClosed for a connection that ended with the close
    frames ``rcvd`` and ``sent`` after an error event with ``status`` (0:
    none). Its status is the error's when libws failed the connection,
    ECLOSED otherwise."""
    return closed(rcvd, sent, rcvd_then_sent, status if status in FAILED else _ffi.WS_ECLOSED)
