"""Servers of libws.asyncio: :func:`serve`, :class:`Server` and the
connections it accepts."""

from __future__ import annotations

import asyncio
import ctypes
import logging
from typing import Any, Awaitable, Callable, Dict, Generator, List, Optional, Sequence, Set, Tuple, Union

from . import _ffi
from ._connection import WebSocket, validate_max_queue
from ._errors import ConnectionClosed
from ._ffi import lib
from ._http import Headers, Request
from ._hub import _error, _Hub
from ._options import build

logger = logging.getLogger("libws")


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


Handler = Callable[[ServerConnection], Awaitable[Any]]


class Server:
    """A listening server, made by :func:`serve`. Each connection runs
    ``handler(ws)`` in a task of its own; when the handler returns the
    connection is closed with 1000 (1011 if it raised)."""

    def __init__(
        self, handler: Handler, loop: asyncio.AbstractEventLoop, max_queue: Tuple[int, int] = (16, 4)
    ) -> None:
        self.handler = handler
        self._loop = loop
        self._max_queue = max_queue
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

    def _accept(self, hub: _Hub, cid: int, peer: str, path: str, proto: str, headers: bytes) -> None:
        # The open event of a connection our listener accepted.
        ws = ServerConnection(hub, cid)
        ws._max_queue, ws._low_queue = self._max_queue
        hub.conns[cid] = ws
        ws._on_open(peer, path, proto, headers)
        self._start(ws)

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
    ``max_total_buffered`` (256 MiB: unsent bytes of all the server's
    connections together; past it the largest buffers are failed with 1008),
    ``max_queue`` (16: messages a connection queues before its socket is
    no longer read, until the handler has taken all but a quarter of them;
    a (high, low) pair sets both marks; None: no bound, only when asked),
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
        max_total_buffered: Optional[int] = None,
        tls_cert_file: Optional[str] = None,
        tls_key_file: Optional[str] = None,
        tls_ca_file: Optional[str] = None,
        compression: Optional[str] = None,
        max_queue: Optional[Union[int, Tuple[int, int]]] = 16,
    ) -> None:
        self._max_queue = validate_max_queue(max_queue)
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
            max_total_buffered=max_total_buffered,
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
            tls_ca_file=tls_ca_file,
            compression=compression,
        )
        self._server: Optional[Server] = None

    async def _create(self) -> Server:
        server = Server(self.handler, asyncio.get_running_loop(), self._max_queue)
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

