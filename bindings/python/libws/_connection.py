"""A connection of libws.asyncio: receiving (with the ``max_queue`` flow
control), sending (with backpressure), pings and the close handshake. The
hub driver (:mod:`libws._hub`) calls its ``_on_*`` methods with the events
of the connection."""

from __future__ import annotations

import asyncio
import builtins
import collections
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, AsyncIterator, Deque, Iterable, List, Optional, Tuple, Union

from . import _ffi, _records
from ._errors import Close, ConnectionClosed, ConnectionClosedOK
from ._http import parse_peer
from ._hub import _QUEUE_FULL, _SEND_BLOCKED
from .sansio import _check_close_args

if TYPE_CHECKING:  # pragma: no cover
    from ._hub import _Hub

Data = Union[str, bytes]
DataLike = Union[str, bytes, bytearray, memoryview]

# Connection states (as websockets.protocol.State).
CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3
State = int

_deque = collections.deque
_Future = asyncio.Future
_logger = logging.getLogger("libws")
_OP_TEXT = _ffi.WS_OP_TEXT
_OP_BINARY = _ffi.WS_OP_BINARY

#: Default high-water mark of a connection's queue of messages not yet
#: taken (websockets' max_queue); the low-water mark is a quarter of it.
MAX_QUEUE = 16


def validate_max_queue(max_queue: Any) -> Tuple[int, int]:
    """(high, low) water marks of ``max_queue``: an int n >= 1 (low n // 4),
    a (high, low) pair with 0 <= low <= high, or None for no bound."""
    if max_queue is None:
        return sys.maxsize, sys.maxsize
    if isinstance(max_queue, tuple) and len(max_queue) == 2:
        high, low = max_queue
    else:
        high, low = max_queue, None
    for v in (high, low):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise TypeError(f"max_queue must be an int, a (high, low) pair of ints or None, not {max_queue!r}")
    if high < 1:
        raise ValueError(f"max_queue must be at least 1 (None for no bound), not {high}")
    if low is None:
        low = high // 4
    if not 0 <= low <= high:
        raise ValueError(f"max_queue's low-water mark must be in 0..{high}, not {low}")
    return high, low


class WebSocket:
    """A connection of the event hub; see :class:`ServerConnection` and
    :class:`ClientConnection`. Use it from its event loop only."""

    def __init__(self, hub: _Hub, cid: int) -> None:
        self._hub = hub
        self._loop = hub._loop
        #: the connection's id in its hub
        self.id = cid
        self.state: State = CONNECTING
        # Messages not yet taken, and pings waiting for their pong: made when
        # needed and dropped when empty, so that an idle connection holds
        # neither (an empty deque alone is 760 bytes).
        self._messages: Optional[Deque[Data]] = None
        self._waiter: Optional[asyncio.Future] = None
        # Flow control: the hub stops reading the socket while the queue
        # holds max_queue messages (until it is down to the low-water mark)
        # and while a send waits for the peer (bits _QUEUE_FULL,
        # _SEND_BLOCKED); _paused: the hub reported backpressure.
        self._max_queue, self._low_queue = MAX_QUEUE, MAX_QUEUE // 4
        self._paused_reading = 0
        self._paused = False
        self._high_water = hub.high_water
        self._burst = 0
        self._burst_iteration = -1
        self._drain_waiter: Optional[asyncio.Future] = None
        self._pings: "Optional[collections.OrderedDict[bytes, Tuple[asyncio.Future, float]]]" = None
        self._closed = self._loop.create_future()
        self._fail_code: Optional[int] = None
        self._fail_status = 0  # the WS_E* status of the error event, if any
        self._error: str = ""
        self._late_send = False
        # The close frames received and sent (websockets' close_rcvd,
        # close_sent), and whether the peer's came first.
        self._rcvd: Optional[Close] = None
        self._sent: Optional[Close] = None
        self._rcvd_then_sent: Optional[bool] = None
        #: how the connection closed (see :attr:`close_code`); None while open
        self.close_code: Optional[int] = None
        #: the peer's close reason ("" if none)
        self.close_reason: str = ""
        #: the subprotocol the handshake agreed on, None if none
        self.subprotocol: Optional[str] = None
        #: (host, port) of the peer
        self.remote_address: Optional[Tuple[str, int]] = None
        #: (host, port) of this end: set for server connections (None for
        #: clients, whose socket the hub dials)
        self.local_address: Optional[Tuple[Any, ...]] = None
        #: round trip in seconds of the last ping answered (keepalive or
        #: :meth:`ping`), 0 before any, as websockets' ``latency``
        self.latency: float = 0.0
        #: the logger given to serve/connect (websockets' ``logger``)
        self.logger: Any = _logger

    # -- events from the hub ------------------------------------------------

    def _on_open(self, peer: str, path: str, proto: str, headers: bytes) -> None:
        self.state = OPEN
        self.remote_address = parse_peer(peer)
        self.subprotocol = proto or None

    def _on_error(self, code: int, status: int, message: str) -> None:
        self._error = message
        self._fail_status = _records.event_status(status, code)
        if code:
            self._fail_code = code
            if self._sent is None:
                # ws.h names the reason of the keepalive's close; other
                # failures' reasons are not part of the contract.
                keepalive = code == 1011 and self._fail_status == _ffi.WS_ETIMEDOUT
                self._sent = Close(code, "keepalive ping timeout" if keepalive else "")

    def _on_close(self, code: int, reason: str) -> None:
        if code != 1006:  # 1006: no close frame arrived
            self._rcvd = Close(code, reason)
            if self._sent is None and self.state == OPEN:
                # The peer closed first: the hub echoes its code and reason.
                self._sent = Close(code or 1005, reason)
                self._rcvd_then_sent = True
            elif self._sent is not None:
                self._rcvd_then_sent = False
        if self.state == OPEN:
            # The peer closed first, or its input broke the protocol after
            # messages of the same batch (1006 here, the hub's 1002 then
            # waits): the hub's close frame waits for our next poll, and
            # replies to those messages still go out until then.
            self._late_send = True
            self._hub.late.append(self)
        self._paused_reading = 0
        if code == 1006 and self._fail_code is not None:
            code = self._fail_code
        self.close_code = code
        self.close_reason = reason
        self.state = CLOSED
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)
        self._resume()
        exc = self._closed_exc()
        for fut, _ in (self._pings or {}).values():
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: no "never retrieved" warning
        self._pings = None
        if not self._closed.done():
            self._closed.set_result(None)

    def _on_pong(self, data: bytes, latency_us: int = 0) -> None:
        if latency_us:
            # The pong of the hub's keepalive ping: its round trip.
            self.latency = latency_us / 1e6
        pings = self._pings
        if not pings or data not in pings:
            return
        now = self._loop.time()
        while pings:
            key, (fut, sent) = pings.popitem(last=False)
            if not fut.done():
                self.latency = now - sent
                fut.set_result(now - sent)
            if key == data:
                break
        if not pings:
            self._pings = None

    def _resume(self) -> None:
        self._paused = False
        w = self._drain_waiter
        if w is not None:
            self._drain_waiter = None
            if not w.done():
                w.set_result(None)

    def _keep(self, w: "asyncio.Future[Optional[Data]]") -> None:
        # The reader was cancelled after a message had been handed to its
        # future: put the message back in front for the next reader.
        if w.done() and not w.cancelled():
            msg = w.result()
            if msg is not None:
                q = self._messages
                if q is None:
                    q = self._messages = _deque()
                q.appendleft(msg)

    def _closed_exc(self) -> ConnectionClosed:
        return _records.closed_error(self._rcvd, self._sent, self._rcvd_then_sent, self._fail_status)

    # -- flow control ---------------------------------------------------------

    def _pause(self, why: int) -> None:
        if not self._paused_reading and self.state != CLOSED:
            self._hub.pause(self.id)
        self._paused_reading |= why

    def _unpause(self, why: int) -> None:
        if self._paused_reading & why:
            self._paused_reading &= ~why
            if not self._paused_reading and self.state != CLOSED:
                self._hub.resume(self.id)

    def _taken(self) -> None:
        # A message was taken from the queue while reading is paused.
        q = self._messages
        if self._paused_reading & _QUEUE_FULL and (q is None or len(q) <= self._low_queue):
            self._unpause(_QUEUE_FULL)

    # -- receiving ----------------------------------------------------------

    async def recv(self, decode: Optional[bool] = None) -> Data:
        """The next message: ``str`` for text, ``bytes`` for binary. Messages
        that arrived before the connection closed are still returned; then
        raises :class:`libws.ConnectionClosedOK` or
        :class:`libws.ConnectionClosedError`. Two coroutines may not wait in
        ``recv`` at once (RuntimeError).

        ``decode`` as in websockets: False returns text messages as UTF-8
        ``bytes``, True returns binary messages decoded as UTF-8 ``str``
        (UnicodeDecodeError if they are not)."""
        msg = await self._recv()
        if decode is None:
            return msg
        if decode:
            return msg if type(msg) is str else msg.decode()  # type: ignore[union-attr]
        return msg.encode() if type(msg) is str else msg  # type: ignore[union-attr]

    async def recv_streaming(self, decode: Optional[bool] = None) -> AsyncIterator[Data]:
        """The next message as an async iterator of its fragments, as
        websockets' ``recv_streaming``. The hub joins fragments before
        delivering a message, so the whole message is the one fragment
        yielded."""
        yield await self.recv(decode)

    async def _recv(self) -> Data:
        while True:
            messages = self._messages
            if messages:
                msg = messages.popleft()
                if self._paused_reading:
                    self._taken()
                return msg
            if self.state == CLOSED:
                self._late_send = False  # the close is seen: no reply is late now
                raise self._closed_exc()
            if self._waiter is not None:
                raise RuntimeError("another coroutine is already waiting for the next message")
            self._messages = None  # idle: hold no queue
            w = self._waiter = _Future(loop=self._loop)
            try:
                msg = await w
            except asyncio.CancelledError:
                self._keep(w)
                raise
            finally:
                if self._waiter is w:
                    self._waiter = None
            if msg is not None:
                return msg

    async def __aiter__(self) -> AsyncIterator[Data]:
        """``async for message in ws``: ends when the connection closes
        normally (1000, 1001, 1005), raises ConnectionClosedError otherwise."""
        loop = self._loop
        while True:
            messages = self._messages
            if messages:
                msg = messages.popleft()
                if self._paused_reading:
                    self._taken()
                yield msg
                continue
            if self.state == CLOSED:
                self._late_send = False  # the close is seen: no reply is late now
                exc = self._closed_exc()
                if isinstance(exc, ConnectionClosedOK):
                    return
                raise exc
            if self._waiter is not None:
                raise RuntimeError("another coroutine is already waiting for the next message")
            # recv() inlined: one coroutine less per message on the hot path
            self._messages = None  # idle: hold no queue
            w = self._waiter = _Future(loop=loop)
            try:
                msg = await w
            except asyncio.CancelledError:
                self._keep(w)
                raise
            finally:
                if self._waiter is w:
                    self._waiter = None
            if msg is not None:
                yield msg

    # -- sending ------------------------------------------------------------

    async def send(self, message: Union[DataLike, Iterable[DataLike]], *, text: Optional[bool] = None) -> None:
        """Send a message: ``str`` as text, bytes-like as binary. An
        iterable (or async iterable) of fragments is joined and sent as one
        message (the hub sends whole messages). Raises ConnectionClosed once
        the closing handshake started -- except right after the peer's close
        frame arrived, when replies to the messages before it still go out
        (until the binding's next poll lets the hub answer the close). Waits
        while the connection is over its high-water mark (see the module's
        notes on backpressure)."""
        t = type(message)
        if t is str:
            op, data = _OP_TEXT, message.encode()  # type: ignore[union-attr]
        elif t is bytes:
            op, data = _OP_BINARY, message
        elif isinstance(message, str):
            op, data = _OP_TEXT, message.encode()
        elif isinstance(message, (bytes, bytearray, memoryview)):
            op, data = _OP_BINARY, bytes(message)
        elif isinstance(message, Iterable) or hasattr(message, "__aiter__"):
            op, data = await _join_fragments(message)
        else:
            raise TypeError(f"message must be str, bytes-like or an iterable, not {type(message).__name__}")
        if text is not None:
            # As websockets: text=True sends bytes (valid UTF-8) as a text
            # message, text=False a str as binary.
            if text and op == _OP_BINARY:
                try:
                    bytes(data).decode()  # type: ignore[arg-type]
                except UnicodeDecodeError:
                    raise ValueError("text=True needs UTF-8 bytes") from None
                op = _OP_TEXT
            elif not text:
                op = _OP_BINARY
        if self.state != OPEN:
            if self._late_send:
                # Closed by the peer, but the close reply waits for the
                # next poll and the application has not seen the close
                # yet (recv): a reply to an earlier message still goes out.
                self._hub.send(self.id, op, data)  # type: ignore[arg-type]
                return
            if self.state == CONNECTING:
                raise RuntimeError("the connection is not open yet")
            if self.state == CLOSING:
                # As websockets: the exception tells how it closed, known
                # once the handshake ended (bounded by close_timeout).
                await self.wait_closed()
            raise self._closed_exc()
        hub = self._hub
        n = len(data)  # type: ignore[arg-type]
        hub.send(self.id, op, data)  # type: ignore[arg-type]
        # Bytes this connection sent since the batch was last handed over
        # (see buffered_amount): a sender that never waits must still let
        # the loop see backpressure events.
        if self._burst_iteration != hub.iteration:
            self._burst_iteration = hub.iteration
            self._burst = n
        else:
            self._burst += n
        if self._paused or self._burst > self._high_water:
            await self._wait_drain()

    async def _wait_drain(self) -> None:
        hub = self._hub
        if self._burst > self._high_water:
            # Hand the batch over, let the loop run once (events, other
            # tasks), then ask the hub how much is still unsent: its
            # backpressure event may still be on its way.
            self._burst = 0
            hub.flush()
            await asyncio.sleep(0)
            if self.state == OPEN and not self._paused and hub._h is not None:
                if hub.buffered_amount(self.id) > self._high_water:
                    self._paused = True
        if self._paused and self.state != CLOSED:
            # While the peer does not take what we send, take nothing more
            # from it: an echo to a client that never reads stops reading.
            self._pause(_SEND_BLOCKED)
            try:
                while self._paused and self.state != CLOSED:
                    w = self._drain_waiter
                    if w is None:
                        w = self._drain_waiter = self._loop.create_future()
                    await asyncio.shield(w)
            finally:
                self._unpause(_SEND_BLOCKED)
        if self.state == CLOSED:
            raise self._closed_exc()

    async def ping(self, data: Optional[DataLike] = None) -> "asyncio.Future[float]":
        """Send a ping and return a future that resolves to the round-trip
        time in seconds when the matching pong arrives (a pong also answers
        every earlier ping). ``data`` (<= 125 bytes) defaults to 4 random
        bytes."""
        pings = self._pings or {}
        if data is None:
            payload = os.urandom(4)
            while payload in pings:  # pragma: no cover
                payload = os.urandom(4)
        else:
            payload = data.encode() if isinstance(data, str) else bytes(data)
            if payload in pings:
                raise RuntimeError("a ping with this payload is already waiting for its pong")
        if self.state != OPEN:
            raise self._closed_exc()
        self._hub.control(self.id, _ffi.WS_OP_PING, payload)
        fut = self._loop.create_future()
        if self._pings is None:
            self._pings = collections.OrderedDict()
        self._pings[payload] = (fut, self._loop.time())
        return fut

    async def pong(self, data: DataLike = b"") -> None:
        """Send an unsolicited pong (<= 125 bytes)."""
        payload = data.encode() if isinstance(data, str) else bytes(data)
        if self.state != OPEN:
            raise self._closed_exc()
        self._hub.control(self.id, _ffi.WS_OP_PONG, payload)

    # -- closing ------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake with ``code`` and ``reason`` and wait for
        it to finish (the peer's reply, or the hub's ``close_timeout``).
        Idempotent. Raises WebSocketError (EINVAL) for codes that may not be
        sent or invalid reasons."""
        self._start_close(code, reason)
        await self.wait_closed()

    def _start_close(self, code: int, reason: str = "") -> None:
        _check_close_args(code, reason)
        if self.state == OPEN:
            self.state = CLOSING
            self._hub.close(self.id, code, reason)
            self._sent = Close(code or 1005, reason)
        elif self.state == CONNECTING:
            self.state = CLOSING
            self._hub.terminate(self.id)

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        await asyncio.shield(self._closed)

    def terminate(self) -> None:
        """Drop the TCP connection at once, without a close handshake; the
        close code becomes 1006."""
        if self.state != CLOSED:
            self._hub.terminate(self.id)

    @property
    def closed(self) -> bool:
        return self.state == CLOSED

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for this connection and not yet taken by the kernel."""
        hub = self._hub
        if self.state == CLOSED or hub._h is None:
            return 0
        # The hub's count, and what send() took since the batch was last
        # handed over.
        pending = self._burst if self._burst_iteration == hub.iteration else 0
        return hub.buffered_amount(self.id) + pending

    def __repr__(self) -> str:
        names = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")
        return f"<{type(self).__name__} id={self.id} {names[self.state]} {self.remote_address}>"


async def _join_fragments(message: Any) -> Tuple[int, bytes]:
    parts: List[DataLike] = []
    if hasattr(message, "__aiter__"):
        async for p in message:
            parts.append(p)
    else:
        parts = list(message)
    if not parts:
        raise ValueError("a fragmented message needs at least one fragment")
    if all(isinstance(p, str) for p in parts):
        return _OP_TEXT, "".join(parts).encode()  # type: ignore[arg-type]
    if any(isinstance(p, str) for p in parts):
        raise TypeError("all fragments must be str, or all bytes-like")
    return _OP_BINARY, b"".join(parts)  # type: ignore[arg-type]




def broadcast(connections: Iterable["WebSocket"], message: DataLike, raise_exceptions: bool = False) -> None:
    """Send ``message`` to every open connection of ``connections`` without
    waiting, as ``websockets.broadcast``: ``str`` as text, bytes-like as
    binary, encoded once. Connections that are not open are skipped; a send
    that fails is logged with the connection's logger, or collected into an
    ExceptionGroup with ``raise_exceptions=True`` (Python 3.11+). Unlike
    ``send``, it does not wait for backpressure: a peer that does not read
    is failed with 1008 at ``max_buffered``."""
    if isinstance(message, str):
        op, data = _OP_TEXT, message.encode()
    elif isinstance(message, (bytes, bytearray, memoryview)):
        op, data = _OP_BINARY, bytes(message)
    else:
        raise TypeError("data must be str or bytes")
    errors: List[Exception] = []
    for ws in connections:
        if ws.state != OPEN:
            continue
        try:
            ws._hub.send(ws.id, op, data)
        except Exception as exc:  # pragma: no cover - the hub takes any send to an open connection
            if raise_exceptions:
                err = RuntimeError("failed to write message")
                err.__cause__ = exc
                errors.append(err)
            else:
                ws.logger.warning("skipped broadcast: failed to write message: %s", exc)
    if errors:
        group = getattr(builtins, "ExceptionGroup", None)  # Python 3.11+
        if group is None:  # pragma: no cover - older Pythons: the first one
            raise errors[0]
        raise group("skipped broadcast", errors)
