"""asyncio API over libws's event hub, shaped like the ``websockets`` package.

::

    import libws.asyncio

    async def echo(ws):
        async for message in ws:          # str for text, bytes for binary
            await ws.send(message)

    async def main():
        async with libws.asyncio.serve(echo, "127.0.0.1", 9001) as server:
            async with libws.asyncio.connect("ws://127.0.0.1:9001/") as ws:
                await ws.send("hello")
                print(await ws.recv())

How it runs
-----------
Connections live in a *hub* (``ws_hub_t``, an inline one: see ws.h). Its
epoll loop has no thread of its own: it runs on the event loop's thread,
inside ``ws_hub_poll_raw``, so that an echo costs no hand-over between
threads (client connections are served by goroutines of the hub). The hub's
one pollable file descriptor is watched with ``loop.add_reader``; when it is
readable, one ``ws_hub_poll_raw`` call serves the sockets that are ready
and copies every waiting event (opens,
messages, pings, pongs, closes, errors, backpressure) into one preallocated
buffer, decoded here with ``struct.unpack_from``. A task waiting for a
message gets it as its future's result, and is run by that same callback
right after the batch, not from the loop's next iteration (its wake-up is
taken off the future before the result is set, so it runs once): a batch of
echoes costs one loop iteration, not two. If the fd is readable again once
the batch's replies are out, the next batch is taken in the same callback
(up to 8 in a row, then the loop's other callbacks get their turn). Messages sent during the batch,
or later during one loop iteration, are encoded as command records and
handed over with a single ``ws_hub_send_raw`` call: at the end of the batch,
or scheduled with ``loop.call_soon`` after the first send of the iteration.
So a burst of N messages costs two FFI crossings, not 2N; messages of
4 KiB and more join the batch by reference (``WS_CMD_SEND_REF``: the hub
writes them straight from the ``bytes`` object). No thread is
started by the binding and nothing calls back into Python from Go.

Hubs per event loop
-------------------
* Client connections (:func:`connect`) of one event loop share one hub,
  created on the first connection and freed shortly (0.25 s) after the last
  one has closed.
* Each server (:func:`serve`) has a hub of its own: libws's hub has no call
  to stop a single listener, so stopping a server means closing its
  connections (1001), waiting for their close handshakes (bounded by
  ``close_timeout``) and then shutting its hub down, which closes the
  listening socket.

When the peer closes first, the hub answers its close frame at the next
poll, so that what the handlers send in reply to the messages before it
still goes out first: after a batch with close events the binding polls
again once the woken tasks have run (``loop.call_soon``).

All of a hub's calls are made on its event loop's thread; connections must
be used from that loop only.

Backpressure
------------
``await ws.send(...)`` returns at once while the connection's unsent bytes
stay under the hub's high-water mark (``high_water``, 1 MiB by default).
Above it the hub reports WS_EVENT_BACKPRESSURE and ``send`` waits until
WS_EVENT_DRAIN (unsent bytes under half the mark). A connection whose peer
stops reading altogether is failed with 1008 at ``max_buffered`` (64 MiB).

Incoming messages are queued without bound: the hub has no command to pause
reading a connection.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import logging
import os
import select
import struct
import weakref
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Deque,
    Dict,
    Generator,
    Iterable,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

from . import _ffi
from ._errors import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    WebSocketError,
    WebSocketTimeout,
    closed,
)
from ._ffi import fastlib, lib
from ._http import Headers, Request, Response, parse_peer
from ._options import HeadersLike, build
from .sansio import _check_close_args

__all__ = [
    "connect",
    "serve",
    "Server",
    "WebSocket",
    "ClientConnection",
    "ServerConnection",
    "State",
    "CONNECTING",
    "OPEN",
    "CLOSING",
    "CLOSED",
]

logger = logging.getLogger("libws")

Data = Union[str, bytes]
DataLike = Union[str, bytes, bytearray, memoryview]

# Connection states (as websockets.protocol.State).
CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3
State = int

_REC = struct.Struct("<BBHIQI4x")  # the 24-byte record header of ws.h
_unpack = _REC.unpack_from
_deque = collections.deque
_Future = asyncio.Future
_current_task = asyncio.current_task
# Tasks handed a message are run straight after their batch where futures
# list their done callbacks (asyncio's C futures do; see _Hub._run_woken).
_EAGER_WAKE = hasattr(_Future, "_callbacks")
_pack = _REC.pack
_PAD = [b"\0" * i for i in range(8)]

_EV_OPEN = _ffi.WS_EVENT_OPEN
_EV_MESSAGE = _ffi.WS_EVENT_MESSAGE
_EV_PING = _ffi.WS_EVENT_PING
_EV_PONG = _ffi.WS_EVENT_PONG
_EV_CLOSE = _ffi.WS_EVENT_CLOSE
_EV_ERROR = _ffi.WS_EVENT_ERROR
_EV_BACKPRESSURE = _ffi.WS_EVENT_BACKPRESSURE
_EV_DRAIN = _ffi.WS_EVENT_DRAIN
_OP_TEXT = _ffi.WS_OP_TEXT
_OP_BINARY = _ffi.WS_OP_BINARY
_CMD_SEND = _ffi.WS_CMD_SEND

#: Size of the event buffer a hub polls into (grows for larger records).
_BUF_SIZE = 1 << 20
#: Messages at least this large join the batch by reference
#: (WS_CMD_SEND_REF: the hub writes them from the bytes object itself, held
#: until the batch is handed over) rather than being copied into it.
_REF_MIN = 4096
_REF = struct.Struct("=QQ")  # ws_send_ref_t: address and length, host byte order
_CMD_SEND_REF = _ffi.WS_CMD_SEND_REF


def _bytes_data_offset() -> Optional[int]:
    """How far a bytes object's contents lie from its id(): CPython keeps
    them inside the object, at a fixed offset. None elsewhere, or if the
    layout is not what it should be (messages are then copied)."""
    probe = bytes(b"libws bytes layout probe")
    try:
        offset = ctypes.cast(ctypes.c_char_p(probe), ctypes.c_void_p).value - id(probe)  # type: ignore[operator]
        if ctypes.string_at(id(probe) + offset, len(probe)) == probe:
            return offset
    except (TypeError, ValueError, OSError):  # pragma: no cover - not CPython
        pass
    return None  # pragma: no cover


_BYTES_DATA = _bytes_data_offset()
_FAIL_CODES = {1002: _ffi.WS_EPROTO, 1007: _ffi.WS_EUTF8, 1009: _ffi.WS_ETOOBIG}


class _Hub:
    """One ws_hub_t watched by one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, opts: Optional[int]) -> None:
        h = ctypes.c_void_p()
        rc = lib.ws_hub_new(ctypes.byref(h), opts)
        if rc < 0:
            raise _error(rc)
        self._h: Optional[int] = h.value
        self._loop = loop
        self._fd = fastlib.ws_hub_fd(self._h)
        self._alloc(_BUF_SIZE)
        self.conns: Dict[int, WebSocket] = {}
        self.server: Optional[Server] = None
        self._out: List[bytes] = []
        #: messages the batch in _out names by reference
        self._held: List[bytes] = []
        #: counts hand-overs of the command batch (flush)
        self.iteration = 0
        #: the high-water mark of the hub's server connections
        self.high_water = 1 << 20
        self._flush_handle: Optional[asyncio.Handle] = None
        self._shut = False  # poll reported WS_ECLOSED
        # Set once the hub is being shut down: commands are dropped from then
        # on (every connection is closed anyway).
        self.stopping = False
        self.on_idle: Optional[Callable[[], None]] = None
        self._closes = False
        self._ack_handle: Optional[asyncio.Handle] = None
        #: connections the peer closed whose close reply waits for our next
        #: poll: until then they may still send (replies to earlier messages)
        self.late: List[WebSocket] = []
        # (wake-up callback, its context, future) of the tasks to run after
        # the batch being dispatched, and whether that is going on (sends
        # made meanwhile are flushed at its end).
        self._woken: List[Tuple[Callable[..., Any], Any, asyncio.Future]] = []
        self._in_turn = False
        self._fd_poll = select.poll()  # is the hub readable again?
        self._fd_poll.register(self._fd, select.POLLIN)
        loop.add_reader(self._fd, self._on_readable)

    def _alloc(self, cap: int) -> None:
        self._cap = cap
        self._buf = bytearray(cap)
        self._cbuf = (ctypes.c_char * cap).from_buffer(self._buf)
        self._mv = memoryview(self._buf)

    # -- events -------------------------------------------------------------

    def _on_readable(self) -> None:
        polls = 0
        while True:
            h = self._h  # a woken handler may have freed the hub
            if h is None:
                return
            n = fastlib.ws_hub_poll_raw(h, self._cbuf, self._cap, 0)
            if n > 0:
                self._closes = False
                self._in_turn = True
                try:
                    lazy = self._dispatch(n)
                    self._run_woken()
                finally:
                    self._in_turn = False
                self.flush()
                # Flush right after the tasks this batch woke the usual way
                # (scheduled during dispatch), in the same loop iteration.
                if lazy and self._flush_handle is None:
                    self._flush_handle = self._loop.call_soon(self._end_of_iteration)
                if self._cap > _BUF_SIZE:
                    self._release_buf()
                polls += 1
                if self._closes:
                    # The hub answers a peer's close frame at our next poll
                    # (so that replies to the messages before it go first):
                    # poll again once the handlers have run on this batch.
                    if self._ack_handle is None:
                        self._ack_handle = self._loop.call_soon(self._ack)
                    break
                # A buffer not even half full held everything that was
                # waiting; otherwise poll again (a few times: the fd stays
                # readable while records are left, so nothing is lost). A
                # batch whose replies are out may find the next one already
                # in: take it now rather than after a turn of the loop.
                if polls >= 8 or (n < self._cap >> 1 and (lazy or not self._fd_poll.poll(0))):
                    break
            elif n == 0:
                break
            elif n == _ffi.WS_ENOSPACE:
                # The next record is larger than the buffer; it stays queued:
                # retry now rather than on the next wake-up.
                self._grow()
            elif n == _ffi.WS_ECLOSED:
                self._shut = True
                self._loop.remove_reader(self._fd)
                break
            else:  # pragma: no cover - WS_EBADHANDLE, WS_EIO
                logger.error("ws_hub_poll_raw failed: %s", _ffi.strerror(n))
                self._loop.remove_reader(self._fd)
                break

    def _ack(self) -> None:
        # Runs after the tasks woken by the last batch: send their replies,
        # then poll, which acknowledges that batch's close events.
        self._ack_handle = None
        late, self.late = self.late, []
        self.flush()
        self._on_readable()
        for ws in late:
            ws._late_send = False
        if not self.conns and self.on_idle is not None:
            self.on_idle()

    def _grow(self) -> None:
        # The size of the waiting record is not reported: double until it
        # fits (records are at most the message size limit + 32 bytes).
        self._release_views()
        self._alloc(self._cap * 2)

    def _release_buf(self) -> None:
        self._release_views()
        self._alloc(_BUF_SIZE)

    def _release_views(self) -> None:
        self._mv.release()
        del self._cbuf

    def _dispatch(self, n: int) -> bool:
        """Deliver n bytes of event records. Returns whether anything was
        woken the usual way (through the loop's ready queue)."""
        buf = self._buf
        mv = self._mv
        conns = self.conns
        # Outside any task (in the fd's callback), a task waiting for a
        # message is woken straight after the batch (see _run_woken).
        woken = self._woken if _EAGER_WAKE and _current_task(self._loop) is None else None
        lazy = False
        off = 0
        while off < n:
            kind, opcode, code, ln, cid, aux = _unpack(buf, off)
            p = off + 24
            off = p + ((ln + 7) & ~7)
            if kind == _EV_MESSAGE:
                ws = conns.get(cid)
                if ws is None:
                    continue
                if opcode == _OP_TEXT:
                    msg: Data = str(mv[p : p + ln], "utf-8")
                else:
                    msg = mv[p : p + ln].tobytes()
                # A waiting reader takes the message straight from its
                # future (it waits only while nothing is queued); otherwise
                # it is queued.
                w = ws._waiter
                if w is not None:
                    ws._waiter = None
                    if not w.done():
                        cbs = w._callbacks if woken is not None else None
                        if cbs is not None and len(cbs) == 1:
                            cb, ctx = cbs[0]
                            w.remove_done_callback(cb)
                            w.set_result(msg)
                            woken.append((cb, ctx, w))  # type: ignore[union-attr]
                        else:
                            w.set_result(msg)
                            lazy = True
                        continue
                q = ws._messages
                if q is None:
                    q = ws._messages = _deque()
                q.append(msg)
                continue
            lazy = True
            if kind == _EV_OPEN:
                self._on_open(cid, aux, mv[p : p + ln].tobytes())
            elif kind == _EV_CLOSE:
                self._closes = True
                ws = conns.pop(cid, None)
                if ws is not None:
                    ws._on_close(code, str(mv[p : p + ln], "utf-8", "replace"))
            elif kind == _EV_ERROR:
                ws = conns.get(cid)
                msg_s = str(mv[p : p + ln], "utf-8", "replace")
                if ws is not None:
                    ws._on_error(code, msg_s)
                else:
                    logger.debug("hub error (connection %d): %s", cid, msg_s)
            elif kind == _EV_PONG:
                ws = conns.get(cid)
                if ws is not None:
                    ws._on_pong(mv[p : p + ln].tobytes())
            elif kind == _EV_PING:
                pass  # the hub answered it already
            elif kind == _EV_BACKPRESSURE:
                ws = conns.get(cid)
                if ws is not None:
                    ws._paused = True
            elif kind == _EV_DRAIN:
                ws = conns.get(cid)
                if ws is not None:
                    ws._resume()
        return lazy

    def _run_woken(self) -> None:
        """Run the tasks the last batch handed a message to, now rather than
        from the loop's next iteration. Their done callback (the task's
        wake-up) was taken off the future before its result was set, so each
        runs once, here. Their replies leave with the flush that follows, in
        the same iteration: one iteration per batch of echoes instead of two,
        and no Handle per message."""
        woken = self._woken
        if not woken:
            return
        self._woken = []
        for cb, ctx, fut in woken:
            try:
                ctx.run(cb, fut)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # pragma: no cover - a task's wake-up does not raise
                self._loop.call_exception_handler({"message": "Exception in a task's wake-up", "exception": exc, "future": fut})

    def _on_open(self, cid: int, listener: int, payload: bytes) -> None:
        peer, path, proto, headers = payload.split(b"\0", 3)
        ws = self.conns.get(cid)
        if ws is not None:  # a client of ours
            ws._on_open(peer.decode(), path.decode(), proto.decode(), headers)
            return
        server = self.server
        if server is None:  # pragma: no cover - a listener we do not know
            self.terminate(cid)
            return
        ws = ServerConnection(self, cid)
        self.conns[cid] = ws
        ws._on_open(peer.decode(), path.decode(), proto.decode(), headers)
        server._start(ws)

    def poll_now(self) -> None:
        """Poll at once (this also acknowledges the close events of the
        previous poll)."""
        if self._ack_handle is not None:
            self._ack_handle.cancel()
            self._ack_handle = None
        late, self.late = self.late, []
        self.flush()
        self._on_readable()
        for ws in late:
            ws._late_send = False

    def release(self) -> None:
        """Shut the hub down (it has no connection left: this returns at
        once), deliver what it still reports, and free it. Listeners stop."""
        h = self._h
        if h is None:
            return
        self.flush()
        self.stopping = True
        lib.ws_hub_shutdown(h, 0)
        self.drain_events()
        self.free()

    def drain_events(self) -> None:
        """Deliver every event still queued (after a shutdown)."""
        h = self._h
        if h is None:
            return
        while True:
            n = fastlib.ws_hub_poll_raw(h, self._cbuf, self._cap, 0)
            if n > 0:
                self._dispatch(n)
                self._run_woken()
            elif n == _ffi.WS_ENOSPACE:
                self._grow()
            else:
                break

    # -- commands -----------------------------------------------------------

    def send(self, cid: int, opcode: int, data: bytes) -> None:
        if self.stopping:
            return
        n = len(data)
        if self._flush_handle is None and not self._in_turn:
            self._flush_handle = self._loop.call_soon(self._end_of_iteration)
        out = self._out
        if n >= _REF_MIN and _BYTES_DATA is not None and type(data) is bytes:
            self._held.append(data)
            out.append(_pack(_CMD_SEND_REF, opcode, 0, 16, cid, 0))
            out.append(_REF.pack(id(data) + _BYTES_DATA, n))
            return
        out.append(_pack(_CMD_SEND, opcode, 0, n, cid, 0))
        out.append(data)
        pad = -n & 7
        if pad:
            out.append(_PAD[pad])

    def _end_of_iteration(self) -> None:
        # Runs once per loop iteration in which something was sent.
        self._flush_handle = None
        self.flush()

    def flush(self) -> None:
        """Hand every queued command record to the hub: one crossing."""
        self.iteration += 1  # what connections count as unsent since (WebSocket._burst) is sent
        out = self._out
        if not out:
            return
        if self.stopping or self._h is None:
            out.clear()
            self._held.clear()
            return
        data = b"".join(out)
        out.clear()
        rc = fastlib.ws_hub_send_raw(self._h, data, len(data))
        self._held.clear()  # by-reference sends are written or copied by now
        if rc < 0 and rc != _ffi.WS_ECLOSED:  # pragma: no cover - records are built valid
            logger.error("ws_hub_send_raw failed: %s", _ffi.strerror(rc))

    def control(self, cid: int, opcode: int, data: bytes) -> None:
        """A ping or pong (checked by libws: at most 125 bytes)."""
        if self.stopping:
            return
        self.flush()
        rc = lib.ws_hub_send(self._h, cid, opcode, data, len(data))
        if rc < 0 and rc != _ffi.WS_ECLOSED:
            raise _error(rc, "ping and pong payloads have at most 125 bytes" if rc == _ffi.WS_EINVAL else "")

    def close(self, cid: int, code: int, reason: str) -> None:
        if self.stopping:
            return
        self.flush()
        rc = fastlib.ws_hub_close(self._h, cid, code, reason.encode() if reason else None)
        if rc < 0 and rc != _ffi.WS_ECLOSED:
            raise _error(rc, "ws_hub_close failed")

    def terminate(self, cid: int) -> None:
        if self.stopping:
            return
        self.flush()
        fastlib.ws_hub_terminate(self._h, cid)

    def buffered_amount(self, cid: int) -> int:
        n = lib.ws_hub_buffered_amount(self._h, cid)
        return 0 if n < 0 else n

    # -- lifetime -----------------------------------------------------------

    def free(self) -> None:
        h, self._h = self._h, None
        if h is None:
            return
        for handle in (self._flush_handle, self._ack_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._ack_handle = None
        if not self._shut and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        lib.ws_hub_free(h)


def _error(rc: int, message: str = "") -> WebSocketError:
    from ._errors import error

    return error(rc, message or _ffi.strerror(rc))


# Client hubs, one per event loop.
_client_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub]" = weakref.WeakKeyDictionary()

#: How long an idle client hub is kept before it is freed: the hub answers a
#: peer's close frame after the poll that acknowledges the close event, and
#: freeing it at once could cut that reply short.
_IDLE_GRACE = 0.25


def _client_hub(loop: asyncio.AbstractEventLoop) -> _Hub:
    hub = _client_hubs.get(loop)
    if hub is None or hub._h is None:
        hub = _Hub(loop, None)
        _client_hubs[loop] = hub

        def release() -> None:
            if not hub.conns and hub._h is not None:
                if _client_hubs.get(loop) is hub:
                    del _client_hubs[loop]
                hub.release()

        def idle() -> None:
            if not hub.conns and hub._h is not None:
                loop.call_later(_IDLE_GRACE, release)

        hub.on_idle = idle
    return hub


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
        self._paused = False
        self._high_water = hub.high_water
        self._burst = 0
        self._burst_iteration = -1
        self._drain_waiter: Optional[asyncio.Future] = None
        self._pings: "Optional[collections.OrderedDict[bytes, Tuple[asyncio.Future, float]]]" = None
        self._closed = self._loop.create_future()
        self._fail_code: Optional[int] = None
        self._error: str = ""
        self._late_send = False
        #: how the connection closed (see :attr:`close_code`); None while open
        self.close_code: Optional[int] = None
        #: the peer's close reason ("" if none)
        self.close_reason: str = ""
        #: the subprotocol the handshake agreed on, None if none
        self.subprotocol: Optional[str] = None
        #: (host, port) of the peer
        self.remote_address: Optional[Tuple[str, int]] = None

    # -- events from the hub ------------------------------------------------

    def _on_open(self, peer: str, path: str, proto: str, headers: bytes) -> None:
        self.state = OPEN
        self.remote_address = parse_peer(peer)
        self.subprotocol = proto or None

    def _on_error(self, code: int, message: str) -> None:
        self._error = message
        if code:
            self._fail_code = code

    def _on_close(self, code: int, reason: str) -> None:
        if self.state == OPEN and code != 1006 and self._fail_code is None:
            # The peer closed first; its close reply waits for our next poll.
            self._late_send = True
            self._hub.late.append(self)
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

    def _on_pong(self, data: bytes) -> None:
        pings = self._pings
        if not pings or data not in pings:
            return
        now = self._loop.time()
        while pings:
            key, (fut, sent) = pings.popitem(last=False)
            if not fut.done():
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
        code = _FAIL_CODES.get(self._fail_code, _ffi.WS_ECLOSED) if self._fail_code else _ffi.WS_ECLOSED
        return closed(self.close_code, self.close_reason, code)

    # -- receiving ----------------------------------------------------------

    async def recv(self) -> Data:
        """The next message: ``str`` for text, ``bytes`` for binary. Messages
        that arrived before the connection closed are still returned; then
        raises :class:`libws.ConnectionClosedOK` or
        :class:`libws.ConnectionClosedError`. Two coroutines may not wait in
        ``recv`` at once (RuntimeError)."""
        while True:
            messages = self._messages
            if messages:
                return messages.popleft()
            if self.state == CLOSED:
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
                yield messages.popleft()
                continue
            if self.state == CLOSED:
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

    async def send(self, message: Union[DataLike, Iterable[DataLike]]) -> None:
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
        if self.state != OPEN:
            if self._late_send:
                # Closed by the peer, but the close reply waits for the
                # next poll: a reply to an earlier message still goes out.
                self._hub.send(self.id, op, data)  # type: ignore[arg-type]
                return
            if self.state == CONNECTING:
                raise RuntimeError("the connection is not open yet")
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
        while self._paused and self.state != CLOSED:
            w = self._drain_waiter
            if w is None:
                w = self._drain_waiter = self._loop.create_future()
            await asyncio.shield(w)
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


class ServerConnection(WebSocket):
    """A connection accepted by a :class:`Server`, handed to its handler."""

    request: Request

    def _on_open(self, peer: str, path: str, proto: str, headers: bytes) -> None:
        super()._on_open(peer, path, proto, headers)
        self.request = Request(path, headers)

    @property
    def path(self) -> str:
        """The request target ("/chat?room=1")."""
        return self.request.path

    @property
    def request_headers(self) -> Headers:
        return self.request.headers


class ClientConnection(WebSocket):
    """A connection opened by :func:`connect`."""

    response: Optional[Response] = None
    path: str = "/"

    def __init__(self, hub: _Hub, cid: int) -> None:
        super().__init__(hub, cid)
        self._opened = self._loop.create_future()

    def _on_open(self, peer: str, path: str, proto: str, headers: bytes) -> None:
        super()._on_open(peer, path, proto, headers)
        self.path = path
        self.response = Response(Headers.parse(headers))
        if not self._opened.done():
            self._opened.set_result(None)

    def _on_close(self, code: int, reason: str) -> None:
        super()._on_close(code, reason)
        if not self._opened.done():
            self._opened.set_exception(_connect_error(self._error))
            self._opened.exception()


def _connect_error(message: str) -> WebSocketError:
    """The exception for a client connection that failed before opening.
    The hub's error event carries only a message, so its C code is guessed
    from it."""
    low = message.lower()
    if "url" in low:
        return WebSocketError(_ffi.WS_EINVAL, message)
    if "handshake failed" in low:
        return InvalidHandshake(_ffi.WS_EHANDSHAKE, message)
    if "deadline exceeded" in low or "timeout" in low or "timed out" in low:
        return WebSocketTimeout(_ffi.WS_ETIMEDOUT, message)
    if "tls:" in low or "x509" in low or "certificate" in low:
        return WebSocketError(_ffi.WS_ETLS, message)
    return WebSocketError(_ffi.WS_EIO, message or "connection failed")


class connect:
    """Open a client connection: ``ws = await connect(url)`` or
    ``async with connect(url) as ws``.

    Options: ``subprotocols`` (offered, most preferred first),
    ``additional_headers`` (mapping or pairs), ``origin``, ``open_timeout``
    (seconds for connect + TLS + handshake, default 10), ``close_timeout``
    (seconds to wait for the peer's close reply, default 5), ``max_size``
    (largest incoming message, default 64 MiB; None = no limit),
    ``high_water`` / ``max_buffered`` (send backpressure), ``tls_verify``,
    ``tls_ca_file``, ``tls_cert_file``, ``tls_key_file``,
    ``tls_server_name``, ``compression`` ("deflate" offers permessage-deflate;
    None, the default, does not).

    Raises :class:`libws.WebSocketError` with code EINVAL (bad URL), EIO
    (refused, unresolvable), ETIMEDOUT (:class:`libws.WebSocketTimeout`),
    ETLS, EHANDSHAKE (:class:`libws.InvalidHandshake`).
    """

    def __init__(
        self,
        url: str,
        *,
        subprotocols: Optional[Sequence[str]] = None,
        additional_headers: Optional[HeadersLike] = None,
        origin: Optional[str] = None,
        open_timeout: Optional[float] = 10.0,
        close_timeout: Optional[float] = None,
        max_size: Optional[int] = -1,
        high_water: Optional[int] = None,
        max_buffered: Optional[int] = None,
        tls_verify: Optional[bool] = None,
        tls_ca_file: Optional[str] = None,
        tls_cert_file: Optional[str] = None,
        tls_key_file: Optional[str] = None,
        tls_server_name: Optional[str] = None,
        compression: Optional[str] = None,
    ) -> None:
        self.url = url
        self._kw = dict(
            subprotocols=subprotocols,
            headers=additional_headers,
            origin=origin,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            max_size=max_size,
            high_water=high_water,
            max_buffered=max_buffered,
            tls_verify=tls_verify,
            tls_ca_file=tls_ca_file,
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
            tls_server_name=tls_server_name,
            compression=compression,
        )
        self._ws: Optional[ClientConnection] = None

    async def _create(self) -> ClientConnection:
        loop = asyncio.get_running_loop()
        url = self.url.encode()
        with build(**self._kw) as opts:  # type: ignore[arg-type]
            high_water = opts.get_int(_ffi.WS_OPT_HUB_HIGH_WATER)
            hub = _client_hub(loop)
            cid = ctypes.c_uint64()
            rc = lib.ws_hub_connect(hub._h, url, opts.handle, ctypes.byref(cid))
        if rc < 0:
            msg = lib.ws_hub_errmsg(hub._h)
            if not hub.conns and hub.on_idle is not None:
                hub.on_idle()
            raise _error(rc, msg.decode() if msg else "")
        ws = ClientConnection(hub, cid.value)
        ws._high_water = high_water
        hub.conns[cid.value] = ws
        try:
            await asyncio.shield(ws._opened)
        except asyncio.CancelledError:
            ws.terminate()
            raise
        return ws

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._create().__await__()

    async def __aenter__(self) -> ClientConnection:
        self._ws = await self._create()
        return self._ws

    async def __aexit__(self, *exc: Any) -> None:
        if self._ws is not None:
            await self._ws.close()


Handler = Callable[[ServerConnection], Awaitable[Any]]


class Server:
    """A listening server, made by :func:`serve`. Each connection runs
    ``handler(ws)`` in a task of its own; when the handler returns the
    connection is closed with 1000 (1011 if it raised)."""

    def __init__(self, handler: Handler, loop: asyncio.AbstractEventLoop) -> None:
        self.handler = handler
        self._loop = loop
        self._hub: Optional[_Hub] = None
        self._tasks: Set[asyncio.Task] = set()
        self._close_task: Optional[asyncio.Task] = None
        self._close_started: asyncio.Future = loop.create_future()
        self._idle: Optional[asyncio.Future] = None
        self._close_timeout_ms = 5000
        #: the bound port (useful with port 0)
        self.port: int = 0
        self.host: Optional[str] = None
        #: the open connections
        self.connections: Set[ServerConnection] = set()

    def _listen(self, host: Optional[str], port: int, opts: Dict[str, Any]) -> None:
        with build(**opts) as o:
            self._close_timeout_ms = o.get_int(_ffi.WS_OPT_CLOSE_TIMEOUT_MS)
            hub = _Hub(self._loop, o.handle)
            hub.high_water = o.get_int(_ffi.WS_OPT_HUB_HIGH_WATER)
        hub.server = self
        hub.on_idle = self._on_idle
        self._hub = hub
        out_port = ctypes.c_int()
        rc = lib.ws_hub_listen(hub._h, (host or "").encode(), port, None, ctypes.byref(out_port))
        if rc < 0:
            msg = lib.ws_hub_errmsg(hub._h)
            hub.free()
            self._hub = None
            raise _error(rc, msg.decode() if msg else "")
        self.host = host
        self.port = out_port.value

    @property
    def sockets(self) -> List[Tuple[str, int]]:
        """[(host, port)] of the listening socket while serving (Go owns the
        socket itself, so these are addresses, not socket objects)."""
        return [] if self._hub is None or self._close_task else [(self.host or "", self.port)]

    def _start(self, ws: ServerConnection) -> None:
        if self._close_task is not None:
            ws._start_close(1001, "server shutting down")
            return
        self.connections.add(ws)
        t = self._loop.create_task(self._run(ws))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _run(self, ws: ServerConnection) -> None:
        code = 1000
        try:
            await self.handler(ws)
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            # Cancelled (the loop is ending): start the close handshake
            # without waiting for it.
            self.connections.discard(ws)
            ws._start_close(1001)
            raise
        except Exception:
            logger.error("connection handler failed", exc_info=True)
            code = 1011
        try:
            await ws.close(code)
        finally:
            self.connections.discard(ws)

    def is_serving(self) -> bool:
        return self._hub is not None and self._close_task is None

    def close(self) -> None:
        """Close every connection with 1001 (Going Away), wait for the close
        handshakes and the handlers, then stop listening (the hub's shutdown
        closes the socket); :meth:`wait_closed` waits for the end.
        Connections that open meanwhile are closed with 1001 at once."""
        if self._close_task is None:
            self._close_task = self._loop.create_task(self._shutdown())
            self._close_started.set_result(None)

    async def _shutdown(self) -> None:
        hub = self._hub
        if hub is None:
            return
        # Close every connection with 1001 and wait for their close events
        # (the hub's close timeout bounds each handshake). Connections that
        # open meanwhile are closed at once by _start().
        for ws in list(hub.conns.values()):
            ws._start_close(1001, "server shutting down")
        deadline = self._loop.time() + self._close_timeout_ms / 1000.0 + 2.0
        while hub.conns and self._loop.time() < deadline:
            self._idle = self._loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._idle), deadline - self._loop.time())
            except asyncio.TimeoutError:  # pragma: no cover - the hub's own timeout comes first
                break
        # Every handler has seen its ConnectionClosed by now.
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        hub.flush()
        hub.poll_now()  # acknowledge the last close events
        hub.release()
        self._hub = None

    def _on_idle(self) -> None:
        idle = self._idle
        if idle is not None and not idle.done():
            idle.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until :meth:`close` finished: listener and connections
        closed, handlers returned."""
        await asyncio.shield(self._close_started)
        assert self._close_task is not None
        await asyncio.shield(self._close_task)

    async def serve_forever(self) -> None:
        """Serve until cancelled (then close)."""
        try:
            await self._loop.create_future()
        finally:
            self.close()
            await self.wait_closed()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()


class serve:
    """Serve ``handler`` on ``host:port``: ``server = await serve(...)`` or
    ``async with serve(handler, host, port) as server``.

    ``host`` None or "" listens on every interface; ``port`` 0 picks a free
    one (:attr:`Server.port`). The handler is ``async def handler(ws)`` with a
    :class:`ServerConnection` (``ws.request.path``, ``ws.path``,
    ``ws.remote_address``, ``ws.subprotocol``).

    Options: ``subprotocols`` (supported, most preferred first),
    ``origins`` (allowed Origin values), ``max_size`` (largest message,
    default 64 MiB; None = no limit), ``open_timeout`` (handshake, 10 s),
    ``close_timeout`` (5 s), ``ping_interval`` (ping quiet connections every
    so many seconds), ``idle_timeout`` (drop connections quiet that long),
    ``high_water`` (1 MiB) / ``max_buffered`` (64 MiB) for backpressure,
    ``tls_cert_file`` + ``tls_key_file`` (wss), ``tls_ca_file`` (require
    client certificates), ``compression`` ("deflate": accept
    permessage-deflate when the client offers it; None, the default: never).
    """

    def __init__(
        self,
        handler: Handler,
        host: Optional[str] = None,
        port: Optional[int] = None,
        *,
        subprotocols: Optional[Sequence[str]] = None,
        origins: Optional[Sequence[str]] = None,
        max_size: Optional[int] = -1,
        open_timeout: Optional[float] = 10.0,
        close_timeout: Optional[float] = None,
        ping_interval: Optional[float] = None,
        idle_timeout: Optional[float] = None,
        high_water: Optional[int] = None,
        max_buffered: Optional[int] = None,
        tls_cert_file: Optional[str] = None,
        tls_key_file: Optional[str] = None,
        tls_ca_file: Optional[str] = None,
        compression: Optional[str] = None,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port or 0
        self._kw = dict(
            subprotocols=subprotocols,
            origins=origins,
            max_size=max_size,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            ping_interval=ping_interval,
            idle_timeout=idle_timeout,
            high_water=high_water,
            max_buffered=max_buffered,
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
            tls_ca_file=tls_ca_file,
            compression=compression,
        )
        self._server: Optional[Server] = None

    async def _create(self) -> Server:
        server = Server(self.handler, asyncio.get_running_loop())
        server._listen(self.host, self.port, self._kw)
        return server

    def __await__(self) -> Generator[Any, None, Server]:
        return self._create().__await__()

    async def __aenter__(self) -> Server:
        self._server = await self._create()
        return self._server

    async def __aexit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
