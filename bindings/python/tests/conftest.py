"""Shared helpers of the libws Python tests.

The tests import the package from this source tree (bindings/python), which
loads libws.so from the package directory (./build.sh copies it there) or
from $LIBWS_LIBRARY. Run from the repository root:

    python3 -m pytest bindings/python/tests -q

Every wait is bounded: coroutines run through :func:`run` (asyncio.wait_for),
threads are joined with timeouts, sockets have timeouts.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import sys
import threading
from typing import Any, Awaitable, Callable, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)
if sys.path[0] != PKG_ROOT:
    sys.path.insert(0, PKG_ROOT)

import libws  # noqa: E402

#: Bound of every single test's asyncio part, in seconds.
TIMEOUT = 20.0


def run(coro: Awaitable[Any], timeout: float = TIMEOUT) -> Any:
    """Run a coroutine in a fresh event loop, bounded by ``timeout``."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def wait_for(coro: Awaitable[Any], timeout: float = 5.0) -> Awaitable[Any]:
    return asyncio.wait_for(coro, timeout)


class RawClient:
    """A bare TCP WebSocket client (handshake by hand) for misbehaving peers:
    it sends whatever frames a test builds with libws.encode_frame."""

    def __init__(self, port: int, path: str = "/", host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            buf += chunk
        head, _, self.rest = buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        assert libws.accept_key(key).encode() in head or self.status != 101
        self.parser = libws.Connection(libws.CLIENT)
        if self.rest:
            self.parser.receive_data(self.rest)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        self.sock.sendall(libws.encode_frame(opcode, payload, fin=fin, mask=True))

    def events(self, until: Callable[[Any], bool], timeout: float = 5.0) -> list:
        """Read and parse until an event satisfies ``until`` (or EOF)."""
        self.sock.settimeout(timeout)
        out = []
        while True:
            for ev in self.parser.events():
                out.append(ev)
                if until(ev):
                    return out
            chunk = self.sock.recv(65536)
            if not chunk:
                return out
            self.parser.receive_data(chunk)

    def close(self) -> None:
        self.sock.close()
        self.parser.free()


class ThreadedLoop:
    """An asyncio event loop in a thread (to run a `websockets` server or
    client next to blocking libws code)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Awaitable[Any], timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def threaded_loop():
    tl = ThreadedLoop()
    yield tl
    tl.stop()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    return free_port()


def join(t: threading.Thread, timeout: float = 10.0) -> None:
    t.join(timeout)
    assert not t.is_alive(), f"thread {t.name} did not finish within {timeout} s"


def first(it: Any, default: Optional[Any] = None) -> Any:
    for x in it:
        return x
    return default
