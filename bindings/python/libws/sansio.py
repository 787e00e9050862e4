"""Sans-I/O connection over ``ws_parser_*``: bring your own sockets.

Like ``wsproto``: feed the bytes you received to
:meth:`Connection.receive_data`, take events out of
:meth:`Connection.events`, queue your own messages with :meth:`Connection.send`
(and ``ping``/``pong``/``close``) and write what :meth:`Connection.data_to_send`
returns to your socket. Every RFC 6455 rule is enforced by libws; nothing of
the protocol is re-implemented here. One thread at a time per connection.

Example (a client over a socket whose opening handshake you did)::

    conn = libws.Connection(libws.CLIENT)
    conn.send("hello")
    sock.sendall(conn.data_to_send())
    conn.receive_data(sock.recv(65536))
    for event in conn.events():
        if isinstance(event, libws.Message):
            print(event.data)
    sock.sendall(conn.data_to_send())   # pongs, close replies ...
"""

from __future__ import annotations

import collections
import ctypes
from dataclasses import dataclass
from typing import Any, Deque, Iterable, Iterator, Optional, Tuple, Union

from . import _ffi
from ._errors import ProtocolError, WebSocketError, error
from ._ffi import lib

__all__ = [
    "SERVER",
    "CLIENT",
    "Connection",
    "Event",
    "Message",
    "Frame",
    "Ping",
    "Pong",
    "Close",
]

#: Roles: a server expects masked input and sends unmasked frames, a client
#: the reverse.
SERVER = _ffi.WS_ROLE_SERVER
CLIENT = _ffi.WS_ROLE_CLIENT

Data = Union[str, bytes]


class Event:
    """Base class of the events :meth:`Connection.events` yields."""

    __slots__ = ()


@dataclass(frozen=True)
class Message(Event):
    """A whole data message: ``str`` for text, ``bytes`` for binary."""

    data: Data

    @property
    def is_text(self) -> bool:
        return isinstance(self.data, str)


@dataclass(frozen=True)
class Frame(Event):
    """A data frame as it came (``messages=False`` only): ``opcode`` is
    ``OP_TEXT``, ``OP_BINARY`` or ``OP_CONTINUATION``; ``data`` is bytes
    (a text fragment may end inside a UTF-8 sequence)."""

    opcode: int
    fin: bool
    data: bytes
    rsv: int = 0


@dataclass(frozen=True)
class Ping(Event):
    """A ping; libws already queued the pong unless ``auto_pong=False``."""

    data: bytes = b""


@dataclass(frozen=True)
class Pong(Event):
    """A pong."""

    data: bytes = b""


@dataclass(frozen=True)
class Close(Event):
    """The peer's close frame: its code (1005 when it had none) and reason.
    libws already queued the close reply unless ``auto_close=False``. It is
    the last event."""

    code: int
    reason: str = ""


_BATCH = 64


class Connection:
    """A WebSocket connection without I/O (``ws_parser_t``).

    ``role`` is :data:`CLIENT` or :data:`SERVER`. ``messages=True`` joins
    fragments into :class:`Message` events; ``False`` yields every data frame
    as a :class:`Frame`. ``max_size`` / ``max_frame_size`` bound messages and
    frames (close 1009 when exceeded; default 64 MiB, ``None`` = unbounded);
    ``auto_pong`` / ``auto_close`` answer pings and the peer's close frame.

    A protocol violation by the peer makes :meth:`events` raise
    :class:`libws.ProtocolError` (after the events parsed before it); the close
    frame with the matching code (1002, 1007, 1009) is then waiting in
    :meth:`data_to_send`: send it and close the socket.
    """

    def __init__(
        self,
        role: int = CLIENT,
        *,
        messages: bool = True,
        max_size: Optional[int] = -1,
        max_frame_size: Optional[int] = None,
        auto_pong: bool = True,
        auto_close: bool = True,
    ) -> None:
        from ._options import build

        self._h: Optional[int] = None
        self.role = role
        self._flags = _ffi.WS_MESSAGES if messages else 0
        with build(
            max_size=max_size, max_frame_size=max_frame_size, auto_pong=auto_pong, auto_close=auto_close
        ) as opts:
            h = ctypes.c_void_p()
            rc = lib.ws_parser_new(ctypes.byref(h), role, opts.handle)
            if rc < 0:
                raise error(rc)
        self._h = h.value
        self._frames = (_ffi.ws_frame_t * _BATCH)()
        self._out_p = ctypes.c_void_p()
        self._out_n = ctypes.c_size_t()
        self._pending: Deque[Event] = collections.deque()
        self._peer_closed = False

    # -- helpers ------------------------------------------------------------

    def _handle(self) -> int:
        if self._h is None:
            raise error(_ffi.WS_EBADHANDLE, "the connection was freed")
        return self._h

    def _raise(self, rc: int) -> None:
        h = self._h
        msg = lib.ws_parser_errmsg(h) if h else None
        m = msg.decode("utf-8", "replace") if msg else None
        if rc in (_ffi.WS_EPROTO, _ffi.WS_EUTF8, _ffi.WS_ETOOBIG):
            raise ProtocolError(rc, m or "")
        raise error(rc, m)

    # -- input --------------------------------------------------------------

    def receive_data(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Hand bytes received from the peer to the parser (they are copied).
        They are parsed by :meth:`events`."""
        p, n = _ffi.in_buffer(data)
        if n == 0:
            return
        rc = lib.ws_parser_feed(self._handle(), p, n)
        if rc < 0:
            self._raise(rc)

    def _fill(self) -> bool:
        """Parse one batch into the pending queue; False if nothing was
        complete."""
        h = self._handle()
        if self._peer_closed:
            return False  # the Close event was the last one
        frames = self._frames
        n = lib.ws_parser_next(h, frames, _BATCH, self._flags)
        if n == 0:
            return False
        if n < 0:
            self._raise(n)
        # Copy everything out: the next call on the parser invalidates the
        # borrowed payloads.
        pending = self._pending
        for i in range(n):
            f = frames[i]
            data = ctypes.string_at(f.data, f.len) if f.len else b""
            op = f.opcode
            if op == _ffi.WS_OP_PING:
                pending.append(Ping(data))
            elif op == _ffi.WS_OP_PONG:
                pending.append(Pong(data))
            elif op == _ffi.WS_OP_CLOSE:
                code, reason = self._close_status()
                pending.append(Close(code if code is not None else 1005, reason))
                self._peer_closed = True
            elif not self._flags:
                pending.append(Frame(op, bool(f.fin), data, f.rsv))
            elif op == _ffi.WS_OP_TEXT:
                pending.append(Message(data.decode("utf-8")))
            else:
                pending.append(Message(data))
        return True

    def events(self) -> Iterator[Event]:
        """Yield the events the data received so far makes complete. Raises
        :class:`libws.ProtocolError` when the peer broke the protocol (after
        yielding the events before the violation) and
        After the :class:`Close` event nothing more is yielded."""
        pending = self._pending
        while True:
            while pending:
                yield pending.popleft()
            if not self._fill():
                return

    def next_event(self) -> Optional[Event]:
        """The next event, or None when more data is needed."""
        if not self._pending and not self._fill():
            return None
        return self._pending.popleft()

    # -- output -------------------------------------------------------------

    def send(self, message: Union[str, bytes, bytearray, memoryview]) -> None:
        """Queue a whole message: text for ``str``, binary otherwise."""
        if isinstance(message, str):
            self._write(_ffi.WS_OP_TEXT, True, message.encode())
        else:
            self._write(_ffi.WS_OP_BINARY, True, message)

    def send_frame(self, opcode: int, data: Union[str, bytes] = b"", fin: bool = True) -> None:
        """Queue one frame (``OP_TEXT``, ``OP_BINARY``, ``OP_CONTINUATION``
        with ``fin=False`` on all but the last fragment, ``OP_PING``,
        ``OP_PONG``). Fragment order is not checked."""
        self._write(opcode, fin, data.encode() if isinstance(data, str) else data)

    def send_fragments(self, fragments: Iterable[Union[str, bytes]]) -> None:
        """Queue a message in fragments; text if the first one is ``str``."""
        items = list(fragments)
        if not items:
            raise ValueError("no fragments")
        op = _ffi.WS_OP_TEXT if isinstance(items[0], str) else _ffi.WS_OP_BINARY
        for i, frag in enumerate(items):
            self.send_frame(op if i == 0 else _ffi.WS_OP_CONTINUATION, frag, i == len(items) - 1)

    def ping(self, data: Union[str, bytes] = b"") -> None:
        """Queue a ping (payload <= 125 bytes)."""
        self.send_frame(_ffi.WS_OP_PING, data)

    def pong(self, data: Union[str, bytes] = b"") -> None:
        """Queue a pong (payload <= 125 bytes)."""
        self.send_frame(_ffi.WS_OP_PONG, data)

    def _write(self, opcode: int, fin: bool, data: Any) -> None:
        p, n = _ffi.in_buffer(data)
        rc = lib.ws_parser_write(self._handle(), opcode, 1 if fin else 0, p, n)
        if rc < 0:
            self._raise(rc)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Queue a close frame (``code`` 0 = no status code). Raises
        WebSocketError (EINVAL) for codes that may not be sent and
        ConnectionClosed when a close frame was queued already."""
        rc = lib.ws_parser_close(self._handle(), code, reason.encode() if reason else None)
        if rc < 0:
            self._raise(rc)

    def data_to_send(self) -> bytes:
        """Take every byte waiting to be sent (your messages, pongs, close
        frames) and return it; the bytes are dropped from the queue."""
        h = self._handle()
        rc = lib.ws_parser_output(h, ctypes.byref(self._out_p), ctypes.byref(self._out_n))
        if rc < 0:
            self._raise(rc)
        n = self._out_n.value
        if n == 0:
            return b""
        out = ctypes.string_at(self._out_p.value or 0, n)
        rc = lib.ws_parser_consume(h, n)
        if rc < 0:
            self._raise(rc)
        return out

    # -- state --------------------------------------------------------------

    def _close_status(self) -> Tuple[Optional[int], str]:
        code = ctypes.c_int()
        reason = ctypes.create_string_buffer(_ffi.WS_MAX_CLOSE_REASON + 1)
        rc = lib.ws_parser_close_status(self._handle(), ctypes.byref(code), reason, len(reason))
        if rc < 0:
            self._raise(rc)
        if rc == 0:
            return None, ""
        return code.value, reason.value.decode("utf-8", "replace")

    @property
    def close_code(self) -> Optional[int]:
        """The peer's close code once its close frame arrived (1005 if it had
        none), else None."""
        return self._close_status()[0]

    @property
    def close_reason(self) -> str:
        """The peer's close reason ("" before its close frame)."""
        return self._close_status()[1]

    # -- lifetime -----------------------------------------------------------

    def free(self) -> None:
        """Free the parser; further calls raise BadHandle. Idempotent."""
        h, self._h = self._h, None
        if h:
            lib.ws_parser_free(h)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.free()

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:  # pragma: no cover
            pass

    def __repr__(self) -> str:
        role = "client" if self.role == CLIENT else "server"
        return f"<libws.Connection {role}{' freed' if self._h is None else ''}>"


def _check_close_args(code: int, reason: str) -> None:
    """Validate a close code and reason with libws's own rules (a scratch
    parser's ws_parser_close), for the connection layers that only learn of
    a bad code asynchronously."""
    if code == 0 and not reason:
        return
    p = ctypes.c_void_p()
    rc = lib.ws_parser_new(ctypes.byref(p), SERVER, None)
    if rc < 0:  # pragma: no cover
        raise error(rc)
    try:
        rc = lib.ws_parser_close(p.value, code, reason.encode() if reason else None)
        if rc < 0:
            msg = lib.ws_parser_errmsg(p.value)
            raise WebSocketError(rc, msg.decode("utf-8", "replace") if msg else "")
    finally:
        lib.ws_parser_free(p.value)
