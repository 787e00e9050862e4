"""Client connections of libws.asyncio: :func:`connect`, and the hub the
client connections of one event loop share."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import random
import ipaddress
import socket
import ssl as _ssl
import weakref
from urllib.parse import urlsplit
from typing import Any, AsyncIterator, Callable, Generator, Iterator, Optional, Sequence, Tuple, Union

from . import _ffi, _records, _tls
from ._connection import CONNECTING, WebSocket, validate_max_queue
from ._errors import ConnectFailed, InvalidStatus, WebSocketError
from ._ffi import lib
from ._http import Headers, Response
from ._hub import _error, _Hub
from ._options import HeadersLike, build, write_limit_high

_client_logger = logging.getLogger("libws.client")

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


class ClientConnection(WebSocket):
    """A connection opened by :func:`connect`."""

    response: Optional[Response] = None
    path: str = "/"
    _refused = 0
    _bridge: "Optional[asyncio.Task]" = None  # ssl=: the TLS bridge it runs over

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
            # Classified by the error event's status, never by its text.
            self._opened.set_exception(self._open_error())
            self._opened.exception()

    def _on_error(self, code: int, status: int, message: str) -> None:
        if self.state == CONNECTING:
            # code: the HTTP status of a refused handshake, not a close code.
            self._error = message
            self._fail_status = status if status < 0 else _ffi.WS_EIO
            self._refused = code
            return
        super()._on_error(code, status, message)

    def _open_error(self) -> WebSocketError:
        # As websockets: InvalidStatus (with the response) for a refusal,
        # an OSError for a server that cannot be reached.
        status, message = self._fail_status, self._error or "connection failed"
        if status == _ffi.WS_EHANDSHAKE and self._refused:
            return InvalidStatus(Response(self._refused), message)
        if status == _ffi.WS_EIO:
            return ConnectFailed(status, message)
        return _records.event_error(status, 0, message)


def _check_url(url: str) -> None:
    # A URL the hub cannot dial is the caller's error (EINVAL), told at once
    # rather than by an error event whose status would say the handshake
    # failed.
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("ws", "wss") and bool(parts.hostname)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        ok = False
    if not ok:
        raise WebSocketError(_ffi.WS_EINVAL, f"not a ws:// or wss:// URL with a host: {url!r}")


async def _resolvable(loop: asyncio.AbstractEventLoop, url: str) -> None:
    """Raise socket.gaierror, as websockets does, for a host name that does
    not resolve (the hub's dial would only say EIO). IP literals need no
    lookup."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)


class connect:
    """Open a client connection: ``ws = await connect(url)`` or
    ``async with connect(url) as ws``.

    Options: ``subprotocols`` (offered, most preferred first),
    ``additional_headers`` (mapping or pairs), ``origin``, ``open_timeout``
    (seconds for connect + TLS + handshake, default 10), ``close_timeout``
    (seconds to wait for the peer's close reply, default 5), ``max_size``
    (largest incoming message, default 64 MiB; None = no limit),
    ``high_water`` / ``max_buffered`` (send backpressure), ``max_queue``
    (16: messages queued before the socket is no longer read, see
    :func:`serve`), ``tls_verify``,
    ``tls_ca_file``, ``tls_cert_file``, ``tls_key_file``,
    ``tls_server_name``, ``compression`` ("deflate" offers permessage-deflate;
    None, the default, does not), ``ping_interval`` / ``ping_timeout``
    (keepalive, 20 s / 20 s as websockets; None turns it off),
    ``write_limit`` (websockets' name for ``high_water``), ``logger``,
    ``process_exception`` (for ``async for ws in connect(...)``), ``ssl``
    (an ``ssl.SSLContext`` for wss://: TLS done by asyncio, see
    :mod:`libws._tls`; without it wss:// uses the engine's TLS with the
    ``tls_*`` options) and ``server_hostname``.

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
        max_queue: Optional[Union[int, Tuple[int, int]]] = 16,
        ping_interval: Optional[float] = 20.0,
        ping_timeout: Optional[float] = 20.0,
        write_limit: Optional[Union[int, Tuple[int, int]]] = None,
        logger: Any = None,
        process_exception: Optional[Callable[[Exception], Optional[Exception]]] = None,
        ssl: Optional[_ssl.SSLContext] = None,
        server_hostname: Optional[str] = None,
    ) -> None:
        if ssl is not None and not isinstance(ssl, _ssl.SSLContext):
            raise TypeError(f"ssl must be an ssl.SSLContext, not {type(ssl).__name__}")
        self._ssl = ssl
        self._server_hostname = server_hostname
        self._open_timeout = open_timeout
        self._max_queue = validate_max_queue(max_queue)
        self.url = url
        #: the connections' logger (websockets' ``logger``)
        self.logger: Any = logger if logger is not None else _client_logger
        self.process_exception = process_exception or default_process_exception
        high_water = write_limit_high(write_limit, high_water)
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
            ping_interval=0 if ping_interval is None else ping_interval,
            ping_timeout=0 if ping_timeout is None or ping_interval is None else ping_timeout,
        )
        self._ws: Optional[ClientConnection] = None

    async def _create(self) -> ClientConnection:
        loop = asyncio.get_running_loop()
        _check_url(self.url)
        if self._ssl is None:
            await _resolvable(loop, self.url)
            return await self._dial(self.url)
        # ssl=SSLContext: asyncio does the TLS; the hub dials a loopback
        # bridge to it (see libws._tls).
        parts = urlsplit(self.url)
        if parts.scheme != "wss":
            raise ValueError("connect() received an ssl argument for a ws:// URI")
        host, port = parts.hostname or "", parts.port or 443
        timeout = self._open_timeout or None
        tls = await asyncio.wait_for(
            asyncio.open_connection(
                host, port, ssl=self._ssl, server_hostname=self._server_hostname or host, ssl_handshake_timeout=timeout
            ),
            timeout,
        )
        try:
            lsock = socket.create_server(("127.0.0.1", 0))
        except BaseException:
            tls[1].close()
            raise
        lsock.setblocking(False)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        bridge = loop.create_task(_tls.client_bridge(lsock, tls, parts.netloc.rpartition("@")[2], timeout))
        try:
            ws = await self._dial(f"ws://127.0.0.1:{lsock.getsockname()[1]}{target}")
        except BaseException:
            bridge.cancel()
            lsock.close()
            tls[1].close()
            raise
        ws._bridge = bridge
        ws.remote_address = tls[1].get_extra_info("peername")[:2]
        ws.local_address = tls[1].get_extra_info("sockname")
        return ws

    async def _dial(self, url_s: str) -> ClientConnection:
        loop = asyncio.get_running_loop()
        url = url_s.encode()
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
        ws.logger = self.logger
        ws._high_water = high_water
        ws._max_queue, ws._low_queue = self._max_queue
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

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        """``async for ws in connect(url)``: connect again whenever the
        connection fails or the body of the loop is left by an exception
        ``process_exception`` calls retryable (OSError, timeouts, HTTP 500,
        502, 503, 504 by default), waiting with websockets' exponential
        backoff; other exceptions are raised. Leave with ``break``."""
        delays: Optional[Iterator[float]] = None
        while True:
            try:
                async with self as ws:
                    yield ws
            except Exception as exc:
                try:
                    new_exc = self.process_exception(exc)
                except Exception as raised:
                    new_exc = raised
                if new_exc is exc:
                    raise
                if new_exc is not None:
                    raise new_exc from exc
                if delays is None:
                    delays = backoff()
                delay = next(delays)
                self.logger.info("connect failed; reconnecting in %.1f seconds: %s", delay, exc)
                await asyncio.sleep(delay)
            else:
                delays = None


def default_process_exception(exc: Exception) -> Optional[Exception]:
    """Retryable (None) or fatal (the exception), as websockets decides:
    network errors and timeouts, and HTTP 500, 502, 503 and 504, are
    retried."""
    if isinstance(exc, (OSError, asyncio.TimeoutError)):
        return None
    if isinstance(exc, InvalidStatus) and exc.response.status_code in (500, 502, 503, 504):
        return None
    return exc


def backoff(
    initial_delay: float = 5.0, min_delay: float = 3.1, max_delay: float = 90.0, factor: float = 1.618
) -> Iterator[float]:
    """websockets' reconnection delays: a random first one (so that many
    clients do not come back at once), then growing by ``factor`` up to
    ``max_delay``."""
    yield random.random() * initial_delay
    delay = min_delay
    while delay < max_delay:
        yield delay
        delay *= factor
    while True:
        yield max_delay


