"""The hub driver of libws.asyncio: one ``ws_hub_t`` watched by one event
loop. Polls event records (decoded per docs/hub-contract.md, see
:mod:`libws._records`), hands them to the connections, and batches the
connections' commands into one ``ws_hub_send_raw`` call.

The ordering rule of the contract is kept here: every command queued while
a batch was handled is handed to the hub before the next poll (:meth:`_Hub.flush`
runs first in every poll), and a batch whose handlers were woken through the
loop's ready queue is followed by no poll until they have run.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import logging
import select
import struct
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from . import _ffi, _records
from ._errors import WebSocketError, error
from ._ffi import fastlib, lib

if TYPE_CHECKING:  # pragma: no cover
    from ._connection import WebSocket
    from ._server import Server

logger = logging.getLogger("libws")

_REC = _records.HEADER
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
_EV_REQUEST = _ffi.WS_EVENT_REQUEST
_OP_TEXT = _ffi.WS_OP_TEXT
_OP_BINARY = _ffi.WS_OP_BINARY
_CMD_SEND = _ffi.WS_CMD_SEND
_CMD_SUBSCRIBE = _ffi.WS_CMD_SUBSCRIBE
_CMD_UNSUBSCRIBE = _ffi.WS_CMD_UNSUBSCRIBE
_CMD_PUBLISH = _ffi.WS_CMD_PUBLISH
_EV_BROKER = _ffi.WS_EVENT_BROKER
_U16 = struct.Struct("<H")

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
_CMD_PAUSE = _ffi.WS_CMD_PAUSE
_CMD_RESUME = _ffi.WS_CMD_RESUME
#: Why a connection is paused (bits of WebSocket._paused_reading): its
#: queue of messages not yet taken is full (max_queue), or a send waits for
#: the peer to take what was sent (backpressure).
_QUEUE_FULL = 1
_SEND_BLOCKED = 2


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
            if self._out:
                # The ordering rule: what was sent in reply to the last
                # batch reaches the hub before the poll that lets it answer
                # that batch's closes and errors.
                self.flush()
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
                    # The hub answers a peer's close frame, and fails a
                    # connection whose input broke the protocol, at our next
                    # poll (so that replies to the messages before go
                    # first): poll again once the handlers have run.
                    if self._ack_handle is None:
                        self._ack_handle = self._loop.call_soon(self._ack)
                    break
                # Handlers woken through the loop's ready queue have not
                # replied yet: no poll before they ran (the fd stays
                # readable while records are left, so nothing is lost).
                # Otherwise a buffer not even half full held everything
                # that was waiting; if not, poll again (a few times): a
                # batch whose replies are out may find the next one already
                # in: take it now rather than after a turn of the loop.
                if lazy or polls >= 8 or (n < self._cap >> 1 and not self._fd_poll.poll(0)):
                    break
            elif n == 0:
                break
            elif n == _ffi.WS_ENOSPACE:
                # The next record is larger than the buffer; it stays queued:
                # retry now rather than on the next wake-up.
                if not self._grow():
                    self._loop.remove_reader(self._fd)
                    break
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

    def _grow(self) -> bool:
        """Make room for the record whose header WS_ENOSPACE left in the
        buffer: exactly its size (doubling could take twice the memory of
        the largest message, up to 4 GiB). False if the header is not one
        the hub writes."""
        try:
            need = _records.record_size(self._buf)
        except ValueError as exc:
            logger.error("ws_hub_poll_raw: %s", exc)
            return False
        if need <= self._cap:  # pragma: no cover - WS_ENOSPACE says it does not fit
            logger.error("ws_hub_poll_raw: WS_ENOSPACE for a record of %d bytes in %d", need, self._cap)
            return False
        self._release_views()
        self._alloc(need)
        return True

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
            kind, opcode, code, ln, cid, aux, status = _unpack(buf, off)
            p = off + 24
            off = p + ((ln + 7) & ~7)
            if off > n:  # pragma: no cover - the hub writes whole records
                logger.error("ws_hub_poll_raw: a record runs past the %d bytes returned", n)
                break
            if kind == _EV_MESSAGE:
                ws = conns.get(cid)
                if ws is None:
                    continue
                if opcode == _OP_TEXT:
                    msg: Any = str(mv[p : p + ln], "utf-8")
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
                if len(q) >= ws._max_queue:
                    ws._pause(_QUEUE_FULL)
                continue
            lazy = True
            if kind == _EV_OPEN:
                self._on_open(cid, aux, mv[p : p + ln])
            elif kind == _EV_CLOSE:
                self._closes = True
                ws = conns.pop(cid, None)
                if ws is not None:
                    ws._on_close(code, str(mv[p : p + ln], "utf-8", "replace"))
            elif kind == _EV_ERROR:
                self._closes = True  # a close frame may wait for our next poll
                ws = conns.get(cid)
                msg_s = str(mv[p : p + ln], "utf-8", "replace")
                if ws is not None:
                    ws._on_error(code, status, msg_s)
                else:
                    logger.debug("hub error (connection %d): %s", cid, msg_s)
            elif kind == _EV_PONG:
                ws = conns.get(cid)
                if ws is not None:
                    ws._on_pong(mv[p : p + ln].tobytes(), aux)
            elif kind == _EV_PING:
                pass  # the hub answered it already
            elif kind == _EV_BACKPRESSURE:
                ws = conns.get(cid)
                if ws is not None:
                    ws._paused = True
            elif kind == _EV_REQUEST:
                self._on_request(cid, mv[p : p + ln])
            elif kind == _EV_DRAIN:
                ws = conns.get(cid)
                if ws is not None:
                    ws._resume()
            elif kind == _EV_BROKER:
                self._on_broker(code, str(mv[p : p + ln], "utf-8", "replace"))
        return lazy

    def _on_broker(self, code: int, text: str) -> None:
        # The hub carries on without the broker (local subscribers only)
        # and reconnects by itself: the host is only told.
        log = self.server.logger if self.server is not None else logger
        if code == _ffi.WS_BROKER_DOWN:
            log.warning("broker unreachable, publishes reach this server's subscribers only: %s", text)
        else:
            log.info("broker connected: %s", text)

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

    def _on_open(self, cid: int, listener: int, payload: memoryview) -> None:
        try:
            peer, path, proto, headers = _records.open_fields(payload)
        except ValueError as exc:  # pragma: no cover - the hub writes valid fields
            logger.error("connection %d: %s", cid, exc)
            self.terminate(cid)
            return
        ws = self.conns.get(cid)
        server = self.server
        if ws is not None and server is None:  # a client of ours
            ws._on_open(peer, path, proto, headers)
            return
        if server is None:  # pragma: no cover - a listener we do not know
            self.terminate(cid)
            return
        server._accept(self, cid, peer, path, proto, headers)

    def _on_request(self, cid: int, payload: memoryview) -> None:
        try:
            fields = _records.request_fields(payload)
        except ValueError as exc:  # pragma: no cover - the hub writes valid fields
            logger.error("connection %d: request event: %s", cid, exc)
            self.terminate(cid)
            return
        if self.server is None:  # pragma: no cover - only servers ask for them
            self.terminate(cid)
            return
        self.server._on_request(self, cid, *fields)

    def accept(self, cid: int, subprotocol: Optional[str], headers: str) -> None:
        """Answer a request event with the 101 (ws_hub_accept)."""
        if self.stopping or self._h is None:
            return
        self.flush()
        rc = lib.ws_hub_accept(
            self._h, cid, None if subprotocol is None else subprotocol.encode(), headers.encode() if headers else None
        )
        if rc < 0 and rc != _ffi.WS_ECLOSED:
            raise _error(rc, (lib.ws_hub_errmsg(self._h) or b"").decode())

    def reject(self, cid: int, status: int, headers: str, body: bytes) -> None:
        """Answer a request event with an HTTP response (ws_hub_reject)."""
        if self.stopping or self._h is None:
            return
        self.flush()
        rc = lib.ws_hub_reject(self._h, cid, status, headers.encode() if headers else None, body or None, len(body))
        if rc < 0 and rc != _ffi.WS_ECLOSED:
            raise _error(rc, (lib.ws_hub_errmsg(self._h) or b"").decode())

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
            elif n == _ffi.WS_ENOSPACE and self._grow():
                continue
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
            out.append(_pack(_CMD_SEND_REF, opcode, 0, 16, cid, 0, 0))
            out.append(_REF.pack(id(data) + _BYTES_DATA, n))
            return
        out.append(_pack(_CMD_SEND, opcode, 0, n, cid, 0, 0))
        out.append(data)
        pad = -n & 7
        if pad:
            out.append(_PAD[pad])

    def pause(self, cid: int) -> None:
        """Stop reading the connection's socket (WS_CMD_PAUSE): TCP then
        pushes back on its peer. Handed over with the next batch, before
        the next poll."""
        self._command(_CMD_PAUSE, cid)

    def resume(self, cid: int) -> None:
        """Read the connection's socket again (WS_CMD_RESUME)."""
        self._command(_CMD_RESUME, cid)

    def topic_record(self, kind: int, cid: int, topic: bytes) -> None:
        """Subscribe (WS_CMD_SUBSCRIBE) or unsubscribe (WS_CMD_UNSUBSCRIBE)
        a connection: a record of the next batch."""
        if self.stopping:
            return
        if self._flush_handle is None and not self._in_turn:
            self._flush_handle = self._loop.call_soon(self._end_of_iteration)
        n = len(topic)
        out = self._out
        out.append(_pack(kind, 0, 0, n, cid, 0, 0))
        out.append(topic)
        pad = -n & 7
        if pad:
            out.append(_PAD[pad])

    def publish(self, topic: bytes, opcode: int, data: bytes, exclude: int) -> None:
        """Deliver a message to every subscriber of topic but exclude (0:
        none): a WS_CMD_PUBLISH record of the next batch."""
        if self.stopping:
            return
        if self._flush_handle is None and not self._in_turn:
            self._flush_handle = self._loop.call_soon(self._end_of_iteration)
        t = len(topic)
        n = 2 + t + len(data)
        out = self._out
        out.append(_pack(_CMD_PUBLISH, opcode, 0, n, exclude, 0, 0))
        out.append(_U16.pack(t))
        out.append(topic)
        out.append(data)
        pad = -n & 7
        if pad:
            out.append(_PAD[pad])

    def topic_count(self, topic: bytes) -> int:
        """This hub's open subscribers of topic, after the queued commands."""
        if self._h is None:
            return 0
        self.flush()
        n = lib.ws_hub_topic_count(self._h, topic)
        if n < 0:
            raise _error(n)
        return n

    def _command(self, kind: int, cid: int) -> None:
        if self.stopping:
            return
        if self._flush_handle is None and not self._in_turn:
            self._flush_handle = self._loop.call_soon(self._end_of_iteration)
        self._out.append(_pack(kind, 0, 0, 0, cid, 0, 0))

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
    return error(rc, message or _ffi.strerror(rc))

