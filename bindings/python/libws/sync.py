"""Blocking connections over ``ws_connect`` / ``ws_listen`` / ``ws_accept``.

Go runs the sockets; every call here blocks the calling thread only (ctypes
releases the GIL while libws waits for the network), so threads work::

    with libws.connect("ws://127.0.0.1:9001/") as ws:
        ws.send("hello")
        print(ws.recv())

    def echo(ws):
        for message in ws:
            ws.send(message)

    with libws.serve(echo, "127.0.0.1", 9001) as server:
        server.serve_forever()

Threads: one thread may read (``recv``, iteration) while other threads
``send``, ``ping`` or ``close`` the same connection.
"""

from __future__ import annotations

import collections
import ctypes
import ipaddress
import os
import re
import socket
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from . import _ffi
from ._errors import (
    Close,
    ConnectFailed,
    InvalidStatus,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    WebSocketError,
    WebSocketTimeout,
    closed,
    error,
)
from ._http import Headers, Request, Response, parse_peer
from urllib.parse import urlsplit
from ._ffi import lib
from ._options import HeadersLike, build

__all__ = ["WebSocket", "ClientConnection", "ServerConnection", "connect", "serve", "Server"]

Data = Union[str, bytes]
DataLike = Union[str, bytes, bytearray, memoryview]

_FAIL_CLOSE = {_ffi.WS_EPROTO: 1002, _ffi.WS_EUTF8: 1007, _ffi.WS_ETOOBIG: 1009}


class WebSocket:
    """A blocking WebSocket connection (``ws_conn_t``). Created by
    :func:`connect` or by a :class:`Server`; use it as a context manager (or
    call :meth:`close`, then :meth:`free` or let it be collected)."""

    def __init__(self, handle: int) -> None:
        self._h: Optional[int] = handle
        self._frame = _ffi.ws_frame_t()
        self._lock = threading.Lock()  # guards freeing against other threads
        self._close_code: Optional[int] = None
        self._close_reason = ""
        self._fail_code: Optional[int] = None
        # The peer's close frame (code, reason) once it arrived, and the
        # close frame close() sent.
        self._peer_close: Optional[Tuple[int, str]] = None
        self._sent: Optional[Close] = None
        # Reading: one reader at a time; messages a pong waiter read before
        # its pong, for the next recv; pings waiting for their pong.
        self._read_lock = threading.Lock()
        self._pending: Deque[Data] = collections.deque()
        self._pings: Dict[bytes, "_Pong"] = {}
        #: seconds recv() waits by default (connect/serve's read_timeout)
        self.read_timeout: Optional[float] = None
        #: round trip in seconds of the last ping answered, 0 before any
        self.latency: float = 0.0
        path, headers, peer = lib.ws_conn_path(handle), lib.ws_conn_headers(handle), lib.ws_conn_peer(handle)
        #: the request target ("/chat?room=1"): the server's request, the
        #: client's URL
        self.path: str = path.decode("utf-8", "replace") if path else "/"
        self._raw_headers: bytes = headers or b""
        #: (host, port) of the peer
        self.remote_address: Optional[Tuple[str, int]] = parse_peer(peer.decode()) if peer else None
        sub = lib.ws_conn_subprotocol(handle)
        #: the subprotocol the handshake agreed on, None if none.
        self.subprotocol: Optional[str] = sub.decode() if sub else None

    # -- errors -------------------------------------------------------------

    def _message(self, h: Optional[int]) -> Optional[str]:
        m = lib.ws_conn_errmsg(h) if h else None
        return m.decode("utf-8", "replace") if m else None

    def _closed_error(self, rc: int = _ffi.WS_ECLOSED, message: str = "") -> ConnectionClosed:
        """The ConnectionClosed telling the close frames received and sent,
        as websockets does; rc is its status."""
        self._refresh_status()
        rcvd = Close(*self._peer_close) if self._peer_close is not None else None
        sent, rcvd_then_sent = self._sent, None
        if sent is not None:
            rcvd_then_sent = False
        elif self._fail_code is not None:
            sent = Close(self._fail_code, "")
        elif rcvd is not None:
            sent, rcvd_then_sent = rcvd, True  # libws echoed the peer's close
        return closed(rcvd, sent, rcvd_then_sent, rc, message)

    def _raise(self, h: Optional[int], rc: int) -> None:
        msg = self._message(h)
        if rc == _ffi.WS_ECLOSED or (rc == _ffi.WS_EBADHANDLE and self._h is None):
            raise self._closed_error(_ffi.WS_ECLOSED, msg or "")
        if rc in _FAIL_CLOSE:
            # libws sent the close frame with the matching code and closed.
            self._fail_code = _FAIL_CLOSE[rc]
            self._refresh_status()
            if self._close_code in (None, 1006):
                self._close_code = self._fail_code
            raise self._closed_error(rc, msg or "")
        if rc == _ffi.WS_EIO:
            self._refresh_status()
            if self._close_code is None:
                self._close_code = 1006
            raise self._closed_error(_ffi.WS_ECLOSED, msg or "")
        raise error(rc, msg)

    def _handle(self) -> int:
        h = self._h
        if h is None:
            raise self._closed_error(_ffi.WS_ECLOSED, "the connection was freed")
        return h

    def _refresh_status(self) -> None:
        h = self._h
        if h is None:
            return
        code = ctypes.c_int()
        reason = ctypes.create_string_buffer(_ffi.WS_MAX_CLOSE_REASON + 1)
        if lib.ws_close_status(h, ctypes.byref(code), reason, len(reason)) == 1:
            if code.value != 1006:
                self._peer_close = (code.value, reason.value.decode("utf-8", "replace"))
            if self._fail_code is not None and code.value == 1006:
                return  # keep the code libws failed the connection with
            self._close_code = code.value
            self._close_reason = reason.value.decode("utf-8", "replace")

    # -- reading ------------------------------------------------------------

    def recv(self, timeout: Optional[float] = None, decode: Optional[bool] = None) -> Data:
        """Block until the next message and return it: ``str`` for text,
        ``bytes`` for binary (``decode`` as in the asyncio API). Pings are
        answered and skipped; pongs answer :meth:`ping`. Raises
        :class:`libws.ConnectionClosedOK` / :class:`libws.ConnectionClosedError`
        once the connection is closed, and :class:`libws.WebSocketTimeout`
        (a :class:`TimeoutError`) when ``timeout`` seconds (default:
        ``read_timeout``; None: no bound) pass without one -- the connection
        stays usable then, and a message partly received is kept."""
        if timeout is None:
            timeout = self.read_timeout
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            if self._pending:
                msg = self._pending.popleft()
                break
            if not self._read_lock.acquire(timeout=-1 if deadline is None else max(0.0, deadline - time.monotonic())):
                raise WebSocketTimeout(_ffi.WS_ETIMEDOUT, "no message within the timeout")
            try:
                if self._pending:  # a pong waiter read it meanwhile
                    continue
                got = self._read_one(deadline)
            finally:
                self._read_lock.release()
            if got is not None:
                msg = got
                break
        if decode is None:
            return msg
        if decode:
            return msg if isinstance(msg, str) else msg.decode()
        return msg.encode() if isinstance(msg, str) else msg

    def _read_one(self, deadline: Optional[float]) -> Optional[Data]:
        """Read one frame (read lock held): a message, or None after a ping
        or pong. Raises WebSocketTimeout past the deadline."""
        h = self._handle()
        f = self._frame
        ms = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        rc = lib.ws_read_message_timeout(h, ctypes.byref(f), _ffi.WS_READ_CONTROL, ms)
        if rc == _ffi.WS_ETIMEDOUT:
            raise WebSocketTimeout(rc, "no message within the timeout")
        if rc < 0:
            self._raise(h, rc)
        data = ctypes.string_at(f.data, f.len) if f.len else b""
        op = f.opcode
        if op == _ffi.WS_OP_TEXT:
            return data.decode("utf-8")
        if op == _ffi.WS_OP_BINARY:
            return data
        if op == _ffi.WS_OP_PONG:
            self._on_pong(data)
        return None

    def _on_pong(self, data: bytes) -> None:
        pings = self._pings
        if data not in pings:
            return
        # A pong answers its ping and every earlier one (RFC 6455 lets a
        # peer answer only the last).
        for key in list(pings):
            pings.pop(key)._answered()
            if key == data:
                break

    def recv_streaming(self, timeout: Optional[float] = None, decode: Optional[bool] = None) -> Iterator[Data]:
        """The next message as an iterator of its fragments, as websockets'
        ``recv_streaming``: libws joins fragments, so it yields the whole
        message once."""
        yield self.recv(timeout, decode)

    def recv_into(self, buffer: Union[bytearray, memoryview]) -> "tuple[int, bool]":
        """Read the next message into ``buffer``; returns (length, is_text).
        If it does not fit, raises WebSocketError(ENOSPACE) with the size
        needed in ``needed`` and keeps the message for the next read."""
        h = self._handle()
        arr, cap = _ffi.out_buffer(buffer)
        op = ctypes.c_int()
        n = ctypes.c_size_t()
        rc = lib.ws_read_message_into(h, ctypes.byref(op), arr if cap else None, cap, ctypes.byref(n))
        if rc == _ffi.WS_ENOSPACE:
            exc = error(rc, self._message(h))
            exc.needed = n.value  # type: ignore[attr-defined]
            raise exc
        if rc < 0:
            self._raise(h, rc)
        return n.value, op.value == _ffi.WS_OP_TEXT

    def __iter__(self) -> Iterator[Data]:
        """Iterate over incoming messages; ends when the connection closes
        normally, raises ConnectionClosedError otherwise."""
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    # -- writing ------------------------------------------------------------

    def send(self, message: Union[DataLike, Iterable[DataLike]]) -> None:
        """Send a message: ``str`` as text, bytes-like as binary, or an
        iterable of str / bytes-like as one fragmented message (one frame
        per item)."""
        if isinstance(message, str):
            self._write(_ffi.WS_OP_TEXT, True, message.encode())
        elif isinstance(message, (bytes, bytearray, memoryview)):
            self._write(_ffi.WS_OP_BINARY, True, message)
        elif isinstance(message, Iterable):
            self._send_fragments(message)
        else:
            raise TypeError(f"message must be str, bytes-like or an iterable, not {type(message).__name__}")

    def _send_fragments(self, fragments: Iterable[DataLike]) -> None:
        it = iter(fragments)
        try:
            prev = next(it)
        except StopIteration:
            raise ValueError("a fragmented message needs at least one fragment") from None
        text = isinstance(prev, str)
        op = _ffi.WS_OP_TEXT if text else _ffi.WS_OP_BINARY
        for item in it:
            if isinstance(item, str) != text:
                raise TypeError("all fragments must be str, or all bytes-like")
            self._write(op, False, prev.encode() if text else prev)  # type: ignore[union-attr]
            op, prev = _ffi.WS_OP_CONTINUATION, item
        self._write(op, True, prev.encode() if text else prev)  # type: ignore[union-attr]

    def send_frame(self, opcode: int, data: DataLike = b"", fin: bool = True) -> None:
        """Send one raw frame (``ws_write_frame``): OP_TEXT / OP_BINARY /
        OP_CONTINUATION with ``fin`` as given, OP_PING / OP_PONG."""
        self._write(opcode, fin, data.encode() if isinstance(data, str) else data)

    def _write(self, opcode: int, fin: bool, data: Any) -> None:
        h = self._handle()
        p, n = _ffi.in_buffer(data)
        rc = lib.ws_write_frame(h, opcode, 1 if fin else 0, p, n)
        if rc < 0:
            self._raise(h, rc)

    def ping(self, data: Optional[DataLike] = None) -> threading.Event:
        """Send a ping (payload <= 125 bytes; default 4 random bytes) and
        return an event set when its pong arrives (as websockets.sync).
        Its ``wait(timeout)`` reads the connection itself when no other
        thread is reading; messages it reads meanwhile are kept for
        :meth:`recv`. ``latency`` is then the round trip."""
        if data is None:
            payload = os.urandom(4)
            while payload in self._pings:  # pragma: no cover
                payload = os.urandom(4)
        else:
            payload = data.encode() if isinstance(data, str) else bytes(data)
            if payload in self._pings:
                raise RuntimeError("a ping with this payload is already waiting for its pong")
        pong = _Pong(self)
        self._pings[payload] = pong
        try:
            self._control(lib.ws_ping, payload)
        except BaseException:
            self._pings.pop(payload, None)
            raise
        return pong

    def pong(self, data: DataLike = b"") -> None:
        """Send an unsolicited pong (payload <= 125 bytes)."""
        self._control(lib.ws_pong, data)

    def _control(self, fn: Callable[..., int], data: DataLike) -> None:
        h = self._handle()
        p, n = _ffi.in_buffer(data.encode() if isinstance(data, str) else data)
        rc = fn(h, p, n)
        if rc < 0:
            self._raise(h, rc)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the close handshake: send a close frame, wait (up to
        ``close_timeout``) for the peer's, close the socket. A no-op when the
        connection is closed already. Raises WebSocketError (EINVAL) for codes
        that may not be sent and invalid reasons."""
        h = self._h
        if h is None:
            return
        self._refresh_status()
        first = self._peer_close is None and self._fail_code is None
        rc = lib.ws_close(h, code, reason.encode() if reason else None)
        if rc < 0 and rc not in (_ffi.WS_ECLOSED, _ffi.WS_EBADHANDLE, _ffi.WS_EIO):
            raise error(rc, self._message(h))
        if first and self._sent is None and rc != _ffi.WS_ECLOSED:
            self._sent = Close(code or 1005, reason)
        self._refresh_status()

    @property
    def close_code(self) -> Optional[int]:
        """How the peer closed: its code (1005 none, 1006 dropped), or the code
        libws sent when it failed the connection (1002, 1007, 1009); None
        while open."""
        self._refresh_status()
        return self._close_code

    @property
    def close_reason(self) -> str:
        self._refresh_status()
        return self._close_reason

    # -- lifetime -----------------------------------------------------------

    def free(self) -> None:
        """Free the handle (closing the socket at once if still open: call
        :meth:`close` first for a clean close). Threads blocked on this
        connection return with ConnectionClosed. Idempotent."""
        with self._lock:
            h = self._h
            if h is None:
                return
            self._refresh_status()
            self._h = None
        lib.ws_conn_free(h)

    def __enter__(self) -> "WebSocket":
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.close()
        finally:
            self.free()

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "freed" if self._h is None else "open" if self._close_code is None else "closed"
        return f"<{type(self).__name__} {state}>"


class _Pong(threading.Event):
    """Set when the pong of a :meth:`WebSocket.ping` arrived."""

    def __init__(self, ws: WebSocket) -> None:
        super().__init__()
        self._ws = ws
        self._sent = time.monotonic()

    def _answered(self) -> None:
        self._ws.latency = time.monotonic() - self._sent
        self.set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for the pong, reading the connection when no other thread
        does (messages read are kept for recv). False on timeout, or when
        the connection closed first."""
        ws = self._ws
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            if ws._read_lock.acquire(blocking=False):
                try:
                    msg = ws._read_one(None if left is None else time.monotonic() + min(left, 0.25))
                    if msg is not None:
                        ws._pending.append(msg)
                except WebSocketTimeout:
                    pass
                except ConnectionClosed:
                    return self.is_set()
                finally:
                    ws._read_lock.release()
            else:  # another thread reads: it will set us
                super().wait(0.05 if left is None else min(left, 0.05))
        return self.is_set()


class ClientConnection(WebSocket):
    """A connection made by :func:`connect`."""

    @property
    def response_headers(self) -> Headers:
        """The headers of the server's 101 response."""
        return Headers.parse(self._raw_headers)


class ServerConnection(WebSocket):
    """A connection accepted by a :class:`Server`: ``path``,
    ``request.headers`` (``request_headers``) and ``remote_address`` tell
    what the opening request said and who sent it."""

    @property
    def request(self) -> Request:
        return Request(self.path, self._raw_headers)

    @property
    def request_headers(self) -> Headers:
        return Headers.parse(self._raw_headers)


def connect(
    url: str,
    *,
    subprotocols: Optional[Sequence[str]] = None,
    additional_headers: Optional[HeadersLike] = None,
    origin: Optional[str] = None,
    open_timeout: Optional[float] = 10.0,
    close_timeout: Optional[float] = None,
    read_timeout: Optional[float] = None,
    write_timeout: Optional[float] = None,
    max_size: Optional[int] = -1,
    tls_verify: Optional[bool] = None,
    tls_ca_file: Optional[str] = None,
    tls_cert_file: Optional[str] = None,
    tls_key_file: Optional[str] = None,
    tls_server_name: Optional[str] = None,
    compression: Optional[str] = None,
) -> ClientConnection:
    """Open a WebSocket to a ``ws://`` or ``wss://`` URL (``ws_connect``),
    blocking until the handshake completed (bounded by ``open_timeout``
    seconds; None = no bound). ``max_size`` bounds incoming messages (libws
    default 64 MiB; None = no limit). ``compression="deflate"`` offers
    permessage-deflate. Raises WebSocketError: EINVAL (bad URL), EIO
    (refused, unresolvable), ETIMEDOUT, ETLS, InvalidHandshake."""
    with build(
        subprotocols=subprotocols,
        headers=additional_headers,
        origin=origin,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        read_timeout=read_timeout,
        write_timeout=write_timeout,
        max_size=max_size,
        tls_verify=tls_verify,
        tls_ca_file=tls_ca_file,
        tls_cert_file=tls_cert_file,
        tls_key_file=tls_key_file,
        tls_server_name=tls_server_name,
        compression=compression,
    ) as opts:
        _resolvable(url)
        h = ctypes.c_void_p()
        rc = lib.ws_connect(ctypes.byref(h), url.encode(), opts.handle)
    if rc < 0:
        raise _connect_error(rc, _ffi.errmsg())
    ws = ClientConnection(h.value)  # type: ignore[arg-type]
    ws.read_timeout = read_timeout
    return ws


#: ws_connect's message for a refused handshake names the HTTP status
#: (ws.h: "handshake failed (403): ...").
_REFUSED = re.compile(r"handshake failed \((\d{3})\)")


def _connect_error(rc: int, message: str) -> WebSocketError:
    """As websockets.sync: InvalidStatus for a refusal, an OSError for a
    server that cannot be reached."""
    if rc == _ffi.WS_EHANDSHAKE:
        m = _REFUSED.search(message)
        if m:
            return InvalidStatus(Response(int(m.group(1))), message)
    if rc == _ffi.WS_EIO:
        return ConnectFailed(rc, message)
    return error(rc, message)


def _resolvable(url: str) -> None:
    """socket.gaierror, as websockets raises, for a host name that does not
    resolve (ws_connect would only say EIO). Bad URLs are ws_connect's to
    refuse (EINVAL)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return
    if not host or parts.scheme not in ("ws", "wss"):
        return
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    socket.getaddrinfo(host, port or (443 if parts.scheme == "wss" else 80), type=socket.SOCK_STREAM)


Handler = Callable[[ServerConnection], Any]


class Server:
    """A listening socket (``ws_listener_t``) whose handshakes Go runs in the
    background. :meth:`serve_forever` hands each connection to ``handler`` in
    a thread of its own; :meth:`accept` takes one connection yourself."""

    def __init__(
        self,
        handler: Optional[Handler],
        host: Optional[str] = "127.0.0.1",
        port: int = 0,
        *,
        subprotocols: Optional[Sequence[str]] = None,
        origins: Optional[Sequence[str]] = None,
        additional_headers: Optional[HeadersLike] = None,
        open_timeout: Optional[float] = 10.0,
        close_timeout: Optional[float] = None,
        read_timeout: Optional[float] = None,
        write_timeout: Optional[float] = None,
        max_size: Optional[int] = -1,
        tls_cert_file: Optional[str] = None,
        tls_key_file: Optional[str] = None,
        tls_ca_file: Optional[str] = None,
        compression: Optional[str] = None,
    ) -> None:
        self.handler = handler
        self._h: Optional[int] = None
        self._read_timeout = read_timeout
        with build(
            subprotocols=subprotocols,
            origins=origins,
            headers=additional_headers,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            max_size=max_size,
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
            tls_ca_file=tls_ca_file,
            compression=compression,
        ) as opts:
            h = ctypes.c_void_p()
            rc = lib.ws_listen(ctypes.byref(h), host.encode() if host else None, port, opts.handle)
        if rc < 0:
            raise error(rc)
        self._h = h.value
        self.host = host
        #: the bound port (useful with port 0).
        self.port: int = lib.ws_listener_port(self._h)
        self._lock = threading.Lock()
        self._conns: Set[ServerConnection] = set()
        self._threads: List[threading.Thread] = []
        self._shutdown = threading.Event()

    def accept(self, timeout: Optional[float] = None) -> ServerConnection:
        """The next client whose handshake completed. ``timeout`` seconds
        (None: wait as long as needed; 0: raise WebSocketError(EAGAIN) at
        once if none is ready); WebSocketTimeout when it expires;
        ConnectionClosed once the server was shut down."""
        h = self._h
        if h is None:
            raise ConnectionClosedError(None, None, None, _ffi.WS_ECLOSED, "the server was shut down")
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        out = ctypes.c_void_p()
        rc = lib.ws_accept(h, ctypes.byref(out), ms)
        if rc == _ffi.WS_EBADHANDLE and self._h is None:
            rc = _ffi.WS_ECLOSED
        if rc < 0:
            m = lib.ws_listener_errmsg(h) if self._h is not None else None
            raise error(rc, m.decode() if m else None)
        ws = ServerConnection(out.value)  # type: ignore[arg-type]
        ws.read_timeout = self._read_timeout
        return ws

    def serve_forever(self) -> None:
        """Accept connections and run ``handler(ws)`` for each in a new
        thread until :meth:`shutdown`. After the handler returns the
        connection is closed (1000; 1011 if the handler raised)."""
        if self.handler is None:
            raise ValueError("no handler")
        while not self._shutdown.is_set():
            try:
                ws = self.accept()
            except ConnectionClosed:
                return
            t = threading.Thread(target=self._run, args=(ws,), daemon=True, name="libws-handler")
            with self._lock:
                if self._h is None:  # shut down meanwhile
                    ws.free()
                    return
                self._conns.add(ws)
                self._threads = [x for x in self._threads if x.is_alive()]
                self._threads.append(t)
                t.start()

    def _run(self, ws: ServerConnection) -> None:
        code = 1000
        try:
            self.handler(ws)  # type: ignore[misc]
        except ConnectionClosed:
            pass
        except Exception:
            import logging

            logging.getLogger("libws").exception("connection handler failed")
            code = 1011
        finally:
            try:
                ws.close(code)
            except WebSocketError:
                pass
            ws.free()
            with self._lock:
                self._conns.discard(ws)

    def shutdown(self, timeout: Optional[float] = 5.0) -> None:
        """Stop listening (blocked accepts return), close every connection
        served by :meth:`serve_forever` with 1001 and wait up to ``timeout``
        seconds for their handlers."""
        self._shutdown.set()
        with self._lock:
            h, self._h = self._h, None
            conns = list(self._conns)
            threads = list(self._threads)
        if h is not None:
            lib.ws_listener_free(h)
        for ws in conns:
            try:
                ws.close(1001, "server shutting down")
            except WebSocketError:
                pass
        for t in threads:
            t.join(timeout)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def __del__(self) -> None:
        h, self._h = getattr(self, "_h", None), None
        if h is not None:
            try:
                lib.ws_listener_free(h)
            except Exception:  # pragma: no cover
                pass


def serve(handler: Optional[Handler], host: Optional[str] = "127.0.0.1", port: int = 0, **options: Any) -> Server:
    """Listen on ``host:port`` (``ws_listen``; port 0 picks a free one, see
    :attr:`Server.port`) and return the :class:`Server`; call
    :meth:`Server.serve_forever` to run ``handler(ws)`` for each client.
    Options as for :class:`Server`."""
    return Server(handler, host, port, **options)
