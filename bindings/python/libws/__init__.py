"""libws: RFC 6455 WebSockets from Python, through ctypes over ``libws.so``.

A thin binding of the C ABI in ``include/ws.h``; the protocol is
implemented once, in libws (Go), and nothing of it is re-implemented here.
Standard library only; Python 3.9 or newer.

Layers
------
* Frame primitives (:mod:`libws.frames`): :func:`parse_header`,
  :func:`encode_header`, :func:`encode_frame`, :func:`mask` (in place),
  :func:`accept_key`, :func:`utf8_valid`.
* Sans-I/O (:mod:`libws.sansio`): :class:`Connection` over ``ws_parser_*``
  -- ``receive_data(bytes)``, ``events()`` yielding :class:`Message`,
  :class:`Ping`, :class:`Pong`, :class:`Close` (or :class:`Frame`), and
  ``data_to_send()``; like ``wsproto``.
* Blocking (:mod:`libws.sync`): :func:`connect` and :func:`serve` /
  :class:`Server` over ``ws_connect`` / ``ws_listen`` / ``ws_accept``;
  ``ws.recv()``, ``ws.send(str | bytes)``, ``ws.ping()``,
  ``ws.close(code, reason)``, iteration, context managers.
* asyncio (:mod:`libws.asyncio`, import it explicitly):
  ``libws.asyncio.serve(handler, host, port)`` and
  ``libws.asyncio.connect(url)`` on libws's event hub, shaped like the
  ``websockets`` package.

Text is ``str``, binary is ``bytes``. Every error is a
:class:`WebSocketError` whose ``status`` is the C result code (``EINVAL``,
``ECLOSED`` ...; ``code`` too, except on :class:`ConnectionClosed`).
:class:`ConnectionClosed` (``rcvd`` / ``sent`` close frames, ``code`` /
``reason`` from ``rcvd``, as in ``websockets``; subclasses
:class:`ConnectionClosedOK` and :class:`ConnectionClosedError`),
:class:`InvalidStatus` (``response.status_code``), :class:`ConnectFailed`
(an ``OSError``) and :class:`ProtocolError` are its main subclasses.

Finding libws.so
----------------
``libws.so`` inside this package (``./build.sh`` copies it there and
``pip install bindings/python`` installs it), else the path in
``$LIBWS_LIBRARY``, else the system library path. :data:`library_path`
says which one was loaded.

Process rules (from the Go runtime inside libws.so)
---------------------------------------------------
* **Not fork-safe.** After ``fork()`` only the parent may use libws: a
  child that calls into it may hang. With :mod:`multiprocessing` use the
  ``spawn`` (or ``forkserver``) start method --
  ``multiprocessing.set_start_method("spawn")`` or
  ``multiprocessing.get_context("spawn")`` -- and do not use
  ``os.fork()`` after importing libws unless the child only ``exec``\\ s.
* **One Go runtime per process.** Loading libws.so starts Go's runtime
  (threads, signal handlers). Do not load a second copy of libws.so, nor
  another shared library built with Go's ``-buildmode=c-shared``, into the
  same process: Go does not support it. This package loads exactly one
  library.
"""

from __future__ import annotations

from . import _ffi
from ._errors import (
    BadHandle,
    Close as CloseFrame,
    ConnectFailed,
    InvalidStatus,
    NegotiationError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    ProtocolError,
    WebSocketError,
    WebSocketTimeout,
)
from ._ffi import (
    WS_EAGAIN as EAGAIN,
    WS_EBADHANDLE as EBADHANDLE,
    WS_ECLOSED as ECLOSED,
    WS_EHANDSHAKE as EHANDSHAKE,
    WS_EINTERNAL as EINTERNAL,
    WS_EINVAL as EINVAL,
    WS_EIO as EIO,
    WS_ENOMEM as ENOMEM,
    WS_ENOSPACE as ENOSPACE,
    WS_EPOLICY as EPOLICY,
    WS_EPROTO as EPROTO,
    WS_ETIMEDOUT as ETIMEDOUT,
    WS_ETLS as ETLS,
    WS_ETOOBIG as ETOOBIG,
    WS_EUTF8 as EUTF8,
    WS_OK as OK,
    WS_OP_BINARY as OP_BINARY,
    WS_OP_CLOSE as OP_CLOSE,
    WS_OP_CONTINUATION as OP_CONTINUATION,
    WS_OP_PING as OP_PING,
    WS_OP_PONG as OP_PONG,
    WS_OP_TEXT as OP_TEXT,
    library_path,
    strerror,
)
from ._http import Headers, Request, Response
from .frames import Header, accept_key, encode_frame, encode_header, mask, parse_header, utf8_valid
from .sansio import CLIENT, SERVER, Close, Connection, Event, Frame, Message, Ping, Pong
from .sync import ClientConnection, Server, ServerConnection, WebSocket, connect, serve

#: The version of the loaded libws.so (``ws_version()``).
__version__: str = _ffi.lib.ws_version().decode()


def version() -> str:
    """``ws_version()``: the loaded library's "MAJOR.MINOR.PATCH"."""
    return _ffi.lib.ws_version().decode()


def version_number() -> int:
    """``ws_version_number()``: MAJOR * 10000 + MINOR * 100 + PATCH."""
    return int(_ffi.lib.ws_version_number())


__all__ = [
    "__version__",
    "version",
    "version_number",
    "library_path",
    "strerror",
    # errors
    "WebSocketError",
    "BadHandle",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "ProtocolError",
    "InvalidHandshake",
    "InvalidStatus",
    "NegotiationError",
    "ConnectFailed",
    "CloseFrame",
    "WebSocketTimeout",
    # frames
    "Header",
    "parse_header",
    "encode_header",
    "encode_frame",
    "mask",
    "accept_key",
    "utf8_valid",
    # sans-I/O
    "Connection",
    "CLIENT",
    "SERVER",
    "Event",
    "Message",
    "Frame",
    "Ping",
    "Pong",
    "Close",
    # blocking
    "connect",
    "serve",
    "Server",
    "WebSocket",
    "ClientConnection",
    "ServerConnection",
    # handshake views
    "Headers",
    "Request",
    "Response",
    # constants
    "OK",
    "EINVAL",
    "EBADHANDLE",
    "ENOMEM",
    "EPROTO",
    "EUTF8",
    "ETOOBIG",
    "ECLOSED",
    "ETIMEDOUT",
    "EIO",
    "EHANDSHAKE",
    "ETLS",
    "ENOSPACE",
    "EAGAIN",
    "EINTERNAL",
    "EPOLICY",
    "OP_CONTINUATION",
    "OP_TEXT",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
]
