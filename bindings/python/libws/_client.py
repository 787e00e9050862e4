"""Client connections of libws.asyncio: :func:`connect`, and the hub the
client connections of one event loop share."""

from __future__ import annotations

import asyncio
import ctypes
import weakref
from urllib.parse import urlsplit
from typing import Any, Generator, Optional, Sequence, Tuple, Union

from . import _ffi, _records
from ._connection import WebSocket, validate_max_queue
from ._errors import WebSocketError
from ._ffi import lib
from ._http import Headers, Response
from ._hub import _error, _Hub
from ._options import HeadersLike, build

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
            self._opened.set_exception(_records.event_error(self._fail_status, 0, self._error or "connection failed"))
            self._opened.exception()


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
        max_queue: Optional[Union[int, Tuple[int, int]]] = 16,
    ) -> None:
        self._max_queue = validate_max_queue(max_queue)
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
        _check_url(self.url)
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


