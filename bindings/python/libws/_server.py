"""Servers of libws.asyncio: :func:`serve`, :class:`Server` and the
connections it accepts."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import http
import inspect
import logging
import os
import socket
import ssl as _ssl
from typing import Any, Awaitable, Callable, Dict, Generator, List, Optional, Sequence, Set, Tuple, Union

from . import _ffi, _tls
from ._connection import OPEN, DataLike, WebSocket, validate_max_queue
from ._errors import ConnectionClosed, NegotiationError, WebSocketError
from ._ffi import lib
from ._http import Headers, Request, Response, parse_peer
from ._hub import _error, _Hub
from ._options import build, write_limit_high
from ._records import topic_name

_server_logger = logging.getLogger("libws.server")


class _HubListener:
    """The address of a listening socket the hub owns (TLS from files)."""

    def __init__(self, addr: Tuple[str, int]) -> None:
        self._addr = addr
        self.family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.type = socket.SOCK_STREAM

    def getsockname(self) -> Tuple[str, int]:
        return self._addr


def _bind(host: Optional[str], port: int, backlog: int = 511, reuse_port: bool = False) -> List[socket.socket]:
    """Listening sockets for host:port as asyncio's create_server makes
    them: every address host resolves to (None or "": every interface, one
    dual-stack socket where the system has them), SO_REUSEADDR, IPv6
    sockets IPv6-only when beside an IPv4 one. With port 0 the later
    sockets take the port the first one got. ``reuse_port``: SO_REUSEPORT."""
    if not host:
        if socket.has_dualstack_ipv6():
            return [
                socket.create_server(
                    ("", port), family=socket.AF_INET6, backlog=backlog, dualstack_ipv6=True, reuse_port=reuse_port
                )
            ]
        return [socket.create_server(("", port), backlog=backlog, reuse_port=reuse_port)]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    seen = set()
    socks: List[socket.socket] = []
    try:
        for family, type_, proto, _, addr in infos:
            if (family, addr[:2]) in seen:
                continue
            seen.add((family, addr[:2]))
            s = socket.socket(family, type_, proto)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(socks) > 1:
                addr = (addr[0], socks[0].getsockname()[1]) + tuple(addr[2:])
            s.bind(addr)
            s.listen(backlog)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


class ServerConnection(WebSocket):
    """A connection accepted by a :class:`Server`, handed to its handler."""

    request: Request

    def _on_open(self, peer: str, path: str, proto: str, headers: bytes) -> None:
        super()._on_open(peer, path, proto, headers)
        self.request = Request(path, headers)

    def respond(self, status: int, text: str) -> Response:
        """A plain-text response for ``process_request`` to refuse the
        handshake with (as websockets' ``connection.respond``)."""
        body = text.encode()
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        headers = Headers([("Content-Type", "text/plain; charset=utf-8")])
        return Response(status, phrase, headers, body)

    def subscribe(self, topic: Union[str, bytes]) -> None:
        """Subscribe to ``topic`` (str or bytes, 1 to 1024 bytes): messages
        :meth:`Server.publish` sends to it reach this connection. Joins the
        next command batch (no call into libws of its own); subscribing
        twice is subscribing once, and a connection leaves its topics when
        it closes (subscribing one that is no longer open does nothing)."""
        t = topic_name(topic)
        if self.state == OPEN:
            self._hub.topic_record(_ffi.WS_CMD_SUBSCRIBE, self.id, t)

    def unsubscribe(self, topic: Union[str, bytes]) -> None:
        """Leave ``topic`` (nothing if not subscribed)."""
        t = topic_name(topic)
        if self.state == OPEN:
            self._hub.topic_record(_ffi.WS_CMD_UNSUBSCRIBE, self.id, t)

    @property
    def path(self) -> str:
        """The request target ("/chat?room=1")."""
        return self.request.path

    @property
    def request_headers(self) -> Headers:
        return self.request.headers


Handler = Callable[[ServerConnection], Awaitable[Any]]


class _Hooks:
    """What decides an opening handshake in Python (handshake control)."""

    process_request: Optional[Callable[..., Any]] = None
    process_response: Optional[Callable[..., Any]] = None
    select_subprotocol: Optional[Callable[..., Any]] = None
    subprotocols: Optional[Sequence[str]] = None

    @property
    def active(self) -> bool:
        return bool(self.process_request or self.process_response or self.select_subprotocol or self.subprotocols)


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class Server:
    """A listening server, made by :func:`serve`. Each connection runs
    ``handler(ws)`` in a task of its own; when the handler returns the
    connection is closed with 1000 (1011 if it raised)."""

    def __init__(
        self,
        handler: Handler,
        loop: asyncio.AbstractEventLoop,
        max_queue: Tuple[int, int] = (16, 4),
        logger: Any = None,
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
        #: the logger of the server and its connections (websockets' ``logger``)
        self.logger: Any = logger if logger is not None else _server_logger
        # Listening sockets the server accepts on itself (handing each
        # accepted socket to the hub: ws_hub_adopt); empty when the hub
        # listens (TLS from certificate files).
        self._socks: List[socket.socket] = []
        self._hub_listens = False
        # Local addresses of adopted sockets whose open event is not in yet.
        self._local: Dict[int, Any] = {}
        self._hooks = _Hooks()
        self._listens = True
        # ssl=SSLContext: asyncio servers doing TLS on the listening
        # sockets, their plaintext spliced to the hub (see libws._tls).
        self._ssl: Optional[_ssl.SSLContext] = None
        self._tls_servers: List[asyncio.AbstractServer] = []
        self._ssl_handshake_timeout: Optional[float] = None

    async def _start_tls(self) -> None:
        for s in self._socks:
            srv = await asyncio.start_server(
                self._on_tls, sock=s, ssl=self._ssl, ssl_handshake_timeout=self._ssl_handshake_timeout
            )
            self._tls_servers.append(srv)

    async def _on_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A TLS connection asyncio accepted: its plaintext goes to the hub
        # over a socket pair whose other end the hub adopts.
        mine, theirs = socket.socketpair()
        remote = writer.get_extra_info("peername")
        cid = self._adopt(theirs, b"", local=writer.get_extra_info("sockname"), remote=remote)
        if cid is None:
            mine.close()
            writer.close()
            return
        plain = await asyncio.open_connection(sock=mine)
        await _tls.splice((reader, writer), plain)

    def _listen(
        self, host: Optional[str], port: int, opts: Dict[str, Any], sock: Optional[socket.socket] = None
    ) -> None:
        with build(**opts) as o:
            self._close_timeout_ms = o.get_int(_ffi.WS_OPT_CLOSE_TIMEOUT_MS)
            hub = _Hub(self._loop, o.handle)
            hub.high_water = o.get_int(_ffi.WS_OPT_HUB_HIGH_WATER)
        hub.server = self
        hub.on_idle = self._on_idle
        self._hub = hub
        if opts.get("tls_cert_file") is not None and sock is None:
            # TLS from certificate files: the hub's own TLS listener.
            out_port = ctypes.c_int()
            rc = lib.ws_hub_listen(hub._h, (host or "").encode(), port, None, ctypes.byref(out_port))
            if rc < 0:
                msg = lib.ws_hub_errmsg(hub._h)
                hub.free()
                self._hub = None
                raise _error(rc, msg.decode() if msg else "")
            self._hub_listens = True
            self.host = host
            self.port = out_port.value
            return
        if not self._listens:
            return  # connections come through adopt() / adopt_stream()
        if not 0 <= port <= 65535:
            hub.free()
            self._hub = None
            raise WebSocketError(_ffi.WS_EINVAL, f"port {port} is not in 0..65535")
        try:
            socks = [sock] if sock is not None else _bind(host, port, reuse_port=bool(opts.get("reuse_port")))
        except BaseException:
            hub.free()
            self._hub = None
            raise
        for s in socks:
            s.setblocking(False)
            if self._ssl is None:
                self._loop.add_reader(s.fileno(), self._on_accept, s)
        self._socks = socks
        addr = socks[0].getsockname()
        self.host = host if sock is None else (addr[0] if isinstance(addr, tuple) else addr)
        self.port = addr[1] if isinstance(addr, tuple) else 0

    def _on_accept(self, lsock: socket.socket) -> None:
        for _ in range(64):  # then let the loop run other callbacks
            try:
                conn, _ = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors or memory: the socket stays
                    # readable, so stop watching it for a second (as
                    # asyncio does) rather than spin.
                    self.logger.error("accept failed: %s; retrying in 1 s", exc)
                    fd = lsock.fileno()
                    self._loop.remove_reader(fd)
                    self._loop.call_later(1.0, self._rewatch, lsock)
                else:  # the client went away meanwhile (ECONNABORTED ...)
                    self.logger.debug("accept failed: %s", exc)
                return
            self._adopt(conn, b"")

    def _rewatch(self, lsock: socket.socket) -> None:
        if lsock in self._socks and self._close_task is None:
            self._loop.add_reader(lsock.fileno(), self._on_accept, lsock)

    def _adopt(self, conn: socket.socket, head: bytes, local: Any = None, remote: Any = None) -> Optional[int]:
        """Hand an accepted socket (and the bytes of its request already
        read) to the hub, which answers the request and serves the
        connection. Returns its id, None if the hub refused it."""
        hub = self._hub
        if hub is None or hub._h is None or self._close_task is not None:
            conn.close()
            return None
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover
                pass
        if local is None:
            try:
                local = conn.getsockname()
            except OSError:  # pragma: no cover - reset meanwhile
                local = None
        cid = ctypes.c_uint64()
        rc = lib.ws_hub_adopt(hub._h, conn.fileno(), head or None, len(head), None, ctypes.byref(cid))
        if rc < 0:
            msg = lib.ws_hub_errmsg(hub._h)
            conn.close()
            self.logger.error("ws_hub_adopt failed: %s", msg.decode() if msg else _ffi.strerror(rc))
            return None
        conn.detach()  # the hub owns the fd now
        local_of = self._local
        if len(local_of) >= 4096:
            # Handshakes the hub refused leave no event: forget the oldest.
            for k in list(local_of)[:2048]:
                del local_of[k]
        local_of[cid.value] = (local, remote[:2] if remote else None)
        return cid.value

    def adopt(self, sock: socket.socket, head: bytes = b"") -> bool:
        """Serve a connection the application accepted itself: ``sock`` (a
        connected TCP or Unix stream socket, plaintext) and ``head``, the
        bytes of its HTTP request already read from it (the whole head, a
        part, or nothing). The hub reads the rest, answers the upgrade (a
        request it refuses gets its 4xx) and the handler runs as for the
        server's own connections. The server owns ``sock`` afterwards (it is
        detached: do not use or close it). Returns False, with ``sock``
        closed, if the server is closing."""
        return self._adopt(sock, bytes(head)) is not None

    def adopt_stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes = b"") -> bool:
        """:meth:`adopt` for a connection of an ``asyncio.start_server``
        callback that read the request ``head``: the transport lets go of
        its socket (bytes it had read past ``head`` go along) and the
        server takes it over."""
        transport = writer.transport
        transport.pause_reading()
        sock = writer.get_extra_info("socket")
        if sock is None:
            raise ValueError("the stream has no socket (TLS streams cannot be handed over)")
        if writer.get_extra_info("sslcontext") is not None:
            raise ValueError("a TLS stream cannot be handed over: serve wss:// with ssl=")
        # Bytes the StreamReader holds past what the application read.
        rest = bytes(getattr(reader, "_buffer", b""))
        fd = os.dup(sock.fileno())
        transport.abort()  # closes its descriptor; ours keeps the socket open
        dup = socket.socket(sock.family, sock.type, sock.proto, fileno=fd)
        return self.adopt(dup, bytes(head) + rest)

    @property
    def sockets(self) -> List[Any]:
        """The listening sockets (``socket.socket`` objects, as asyncio's and
        websockets' ``server.sockets``) while serving. With
        ``tls_cert_file`` the hub owns the listening socket: the list then
        holds an object with its ``getsockname()`` only."""
        if self._hub is None or self._close_task is not None:
            return []
        if self._hub_listens:
            return [_HubListener((self.host or "0.0.0.0", self.port))]
        return list(self._socks)

    def _stop_listening(self) -> None:
        socks, self._socks = self._socks, []
        for srv in self._tls_servers:
            srv.close()  # closes its listening socket
        if self._tls_servers:
            self._tls_servers = []
            return
        for s in socks:
            if not self._loop.is_closed():
                self._loop.remove_reader(s.fileno())
            s.close()

    def _accept(self, hub: _Hub, cid: int, peer: str, path: str, proto: str, headers: bytes) -> None:
        # The open event of a connection our listener accepted (or whose
        # request event we answered).
        ws = hub.conns.get(cid)
        if ws is None:
            ws = self._connection(hub, cid)
        remote = ws.remote_address  # a TLS connection's client, not its socket pair
        ws._on_open(peer, path, proto, headers)  # type: ignore[union-attr]
        if remote is not None:
            ws.remote_address = remote
        self._start(ws)  # type: ignore[arg-type]

    def _connection(self, hub: _Hub, cid: int) -> ServerConnection:
        ws = ServerConnection(hub, cid)
        ws._max_queue, ws._low_queue = self._max_queue
        ws.logger = self.logger
        ws.local_address, ws.remote_address = self._local.pop(cid, (None, None))
        hub.conns[cid] = ws
        return ws

    # -- handshake control (process_request, select_subprotocol, process_response)

    def _on_request(
        self, hub: _Hub, cid: int, peer: str, path: str, offered: str, headers: bytes, method: str, exts: str
    ) -> None:
        ws = self._connection(hub, cid)
        ws.remote_address = ws.remote_address or parse_peer(peer)
        ws.request = Request(path, headers)
        protos = [p.strip() for p in offered.split(",") if p.strip()]
        t = self._loop.create_task(self._handshake(ws, protos))
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _handshake(self, ws: ServerConnection, offered: List[str]) -> None:
        # As websockets' ServerConnection.handshake: process_request may
        # answer instead; else the subprotocol is chosen; process_response
        # sees (and may replace) the response. The hub answers the client.
        hooks = self._hooks
        request = ws.request
        response: Optional[Response] = None
        subprotocol: Optional[str] = None
        try:
            if hooks.process_request is not None:
                response = await _maybe_await(hooks.process_request(ws, request))
            if response is None:
                try:
                    subprotocol = self._select(ws, offered)
                except NegotiationError as exc:
                    response = ws.respond(400, f"Failed to open a WebSocket connection: {exc}.\n")
            if response is None:
                response = Response(101, "Switching Protocols", Headers())
            if hooks.process_response is not None:
                replaced = await _maybe_await(hooks.process_response(ws, request, response))
                if replaced is not None:
                    response = replaced
        except Exception:
            self.logger.error("opening handshake failed", exc_info=True)
            response = ws.respond(500, "Failed to open a WebSocket connection.\nSee server log for more information.\n")
        if response.status_code == 101 and self._close_task is not None:
            response = ws.respond(503, "Server is shutting down.\n")
        hub = ws._hub
        try:
            if response.status_code == 101:
                hub.accept(ws.id, subprotocol or "", response.headers.lines())
            else:
                hub.reject(ws.id, response.status_code, response.headers.lines(), response.body)
        except WebSocketError as exc:  # e.g. a status out of 200..599
            self.logger.error("opening handshake: the response cannot be sent: %s", exc)
            hub.reject(ws.id, 500, "", b"Failed to open a WebSocket connection.\n")

    def _select(self, ws: ServerConnection, offered: List[str]) -> Optional[str]:
        select = self._hooks.select_subprotocol
        if select is not None:
            chosen = select(ws, offered)
            if chosen is not None and chosen not in offered:
                raise NegotiationError(f"select_subprotocol chose {chosen!r}, which the client did not offer")
            return chosen
        supported = self._hooks.subprotocols
        if not supported:
            return None
        if not offered:
            raise NegotiationError("missing subprotocol")
        for p in supported:
            if p in offered:
                return p
        raise NegotiationError("invalid subprotocol; expected one of " + ", ".join(supported))

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
            self.logger.error("connection handler failed", exc_info=True)
            code = 1011
        try:
            await ws.close(code)
        finally:
            self.connections.discard(ws)

    def publish(self, topic: Union[str, bytes], message: DataLike, exclude: Optional[ServerConnection] = None) -> None:
        """Send ``message`` (``str`` as text, bytes-like as binary) to every
        connection subscribed to ``topic`` but ``exclude`` -- with a
        ``broker``, to those of every server sharing it too, exactly once.
        The frame is built once for all subscribers; the publish joins the
        next command batch, in order with the sends and subscriptions
        before it. Does not wait: a subscriber that does not read is held
        to ``max_buffered`` (closed with 1008), never slowing the others.
        A topic without subscribers is not an error."""
        t = topic_name(topic)
        if isinstance(message, str):
            op, data = _ffi.WS_OP_TEXT, message.encode()
        elif isinstance(message, (bytes, bytearray, memoryview)):
            op, data = _ffi.WS_OP_BINARY, bytes(message)
        else:
            raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")
        hub = self._hub
        if hub is None:
            raise RuntimeError("the server is closed")
        # A connection of another server is none of this one's subscribers;
        # its id, unknown to this hub, would make the hub refuse the batch.
        ex = exclude.id if exclude is not None and exclude._hub is hub else 0
        hub.publish(t, op, data, ex)

    def topic_count(self, topic: Union[str, bytes]) -> int:
        """How many of this server's open connections are subscribed to
        ``topic`` (not those of other servers sharing a broker), after the
        subscriptions made before. A call into libws: for presence counts,
        not for every message."""
        t = topic_name(topic)
        if b"\0" in t:
            raise ValueError("topic_count takes topics without NUL bytes")
        hub = self._hub
        return 0 if hub is None else hub.topic_count(t)

    def is_serving(self) -> bool:
        return self._hub is not None and self._close_task is None

    def close(self) -> None:
        """Close every connection with 1001 (Going Away), wait for the close
        handshakes and the handlers, then stop listening (the hub's shutdown
        closes the socket); :meth:`wait_closed` waits for the end.
        Connections that open meanwhile are closed with 1001 at once."""
        if self._close_task is None:
            self._stop_listening()
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
    ``close_timeout`` (5 s), ``ping_interval`` / ``ping_timeout`` (20 s /
    20 s, as websockets: a connection quiet for ``ping_interval`` is pinged
    and closed with 1011 when nothing arrives within ``ping_timeout``
    after; None turns either off), ``idle_timeout`` (drop connections
    quiet that long), ``write_limit`` (websockets' name for ``high_water``),
    ``sock`` (serve on this listening socket instead of host and port),
    ``logger`` (the server's and its connections' logger),
    ``ssl`` (an ``ssl.SSLContext``: wss:// with TLS done by asyncio, see
    :mod:`libws._tls`; ``tls_cert_file`` is the faster path),
    ``listen=False`` (listen on nothing: an HTTP server of the application
    hands its upgrade requests over with :meth:`Server.adopt` /
    :meth:`Server.adopt_stream`), ``process_request`` /
    ``process_response`` / ``select_subprotocol`` (as websockets 13+:
    decide the opening handshake before the 101),
    ``high_water`` (1 MiB) / ``max_buffered`` (64 MiB) for backpressure,
    ``max_total_buffered`` (256 MiB: unsent bytes of all the server's
    connections together; past it the largest buffers are failed with 1008),
    ``max_queue`` (16: messages a connection queues before its socket is
    no longer read, until the handler has taken all but a quarter of them;
    a (high, low) pair sets both marks; None: no bound, only when asked),
    ``tls_cert_file`` + ``tls_key_file`` (wss), ``tls_ca_file`` (require
    client certificates), ``compression`` ("deflate": accept
    permessage-deflate when the client offers it; None, the default: never),
    ``broker`` (a Redis URL, "redis://host:port/db": every server given the
    same one shares its topics, see :meth:`Server.publish`; a malformed URL
    raises, an unreachable server is retried and logged), ``reuse_port``
    (SO_REUSEPORT: several processes serve one port, the kernel spreads
    the connections).
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
        ping_interval: Optional[float] = 20.0,
        ping_timeout: Optional[float] = 20.0,
        idle_timeout: Optional[float] = None,
        write_limit: Optional[Union[int, Tuple[int, int]]] = None,
        high_water: Optional[int] = None,
        max_buffered: Optional[int] = None,
        max_total_buffered: Optional[int] = None,
        tls_cert_file: Optional[str] = None,
        tls_key_file: Optional[str] = None,
        tls_ca_file: Optional[str] = None,
        compression: Optional[str] = None,
        max_queue: Optional[Union[int, Tuple[int, int]]] = 16,
        sock: Optional[socket.socket] = None,
        logger: Any = None,
        process_request: Optional[Callable[..., Any]] = None,
        process_response: Optional[Callable[..., Any]] = None,
        select_subprotocol: Optional[Callable[..., Any]] = None,
        listen: bool = True,
        ssl: Optional[_ssl.SSLContext] = None,
        broker: Optional[str] = None,
        reuse_port: bool = False,
    ) -> None:
        self._listens = listen
        if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
            raise TypeError(f"ssl must be an ssl.SSLContext, not {type(ssl).__name__}")
        if ssl is not None and tls_cert_file is not None:
            raise ValueError("give ssl or tls_cert_file, not both")
        self._ssl = ssl
        self._open_timeout = open_timeout
        self._max_queue = validate_max_queue(max_queue)
        self.handler = handler
        self.host = host
        self.port = port or 0
        self._sock = sock
        self._logger = logger
        if sock is not None and (host is not None or port is not None):
            raise ValueError("give host and port, or sock, not both")
        if sock is not None and tls_cert_file is not None:
            raise ValueError("tls_cert_file needs the hub's own listener: not with sock")
        high_water = write_limit_high(write_limit, high_water)
        hooks = self._hooks = _Hooks()
        hooks.process_request = process_request
        hooks.process_response = process_response
        hooks.select_subprotocol = select_subprotocol
        hooks.subprotocols = list(subprotocols) if subprotocols else None
        self._kw = dict(
            handshake_control=hooks.active,
            subprotocols=subprotocols,
            origins=origins,
            max_size=max_size,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            ping_interval=0 if ping_interval is None else ping_interval,
            ping_timeout=0 if ping_timeout is None or ping_interval is None else ping_timeout,
            idle_timeout=idle_timeout,
            high_water=high_water,
            max_buffered=max_buffered,
            max_total_buffered=max_total_buffered,
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
            tls_ca_file=tls_ca_file,
            compression=compression,
            broker=broker,
            reuse_port=reuse_port,
        )
        self._server: Optional[Server] = None

    async def _create(self) -> Server:
        server = Server(self.handler, asyncio.get_running_loop(), self._max_queue, self._logger)
        server._hooks = self._hooks
        server._listens = self._listens
        server._ssl = self._ssl
        server._ssl_handshake_timeout = self._open_timeout or None
        server._listen(self.host, self.port, self._kw, self._sock)
        if self._ssl is not None and server._socks:
            try:
                await server._start_tls()
            except BaseException:
                server.close()
                await server.wait_closed()
                raise
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

