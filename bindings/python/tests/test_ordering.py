"""The ordering rule (docs/hub-contract.md): the replies to a batch reach the
peer before the hub's close frame, whether that echoes the peer's close or
fails the connection for a protocol error that followed valid messages in
the same read. Checked against examples/python/echo_server.py and an
in-process libws.asyncio.serve echo, with a raw TCP client that sends
everything in ONE write (frames pipelined right behind the upgrade)."""

from __future__ import annotations

import base64
import os
import socket
import struct
import subprocess
import sys

import pytest
from conftest import PKG_ROOT, ThreadedLoop

import libws

MiB = 1 << 20
import libws.asyncio as lwa
from libws.sansio import Close, Message

EXAMPLE = os.path.join(PKG_ROOT, "..", "..", "examples", "python", "echo_server.py")


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = PKG_ROOT + os.pathsep + e.get("PYTHONPATH", "")
    return e


def start_example():
    proc = subprocess.Popen([sys.executable, EXAMPLE, "0"], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("echo_server: listening on ws://127.0.0.1:"):
        proc.kill()
        raise AssertionError(line + proc.stderr.read())
    port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
    return proc, port


def stop_example(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()


async def echo(ws):
    async for message in ws:
        await ws.send(message)


@pytest.fixture(params=["example", "serve"])
def echo_port(request):
    """The port of an echo server: the example in a subprocess, or
    lwa.serve in an event loop of a thread."""
    if request.param == "example":
        proc, port = start_example()
        try:
            yield port
        finally:
            stop_example(proc)
        return
    tl = ThreadedLoop()

    async def start():
        return await lwa.serve(echo, "127.0.0.1", 0)

    server = tl.call(start())
    try:
        yield server.port
    finally:
        async def stop():
            server.close()
            await server.wait_closed()

        tl.call(stop())
        tl.stop()


def upgrade(port: int) -> tuple:
    key = base64.b64encode(os.urandom(16)).decode()
    req = (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    return req, key


def exchange(port: int, frames: bytes, timeout: float = 5.0) -> list:
    """Send the upgrade request and ``frames`` in one write; return the
    events the server sent until its close frame (or EOF)."""
    req, key = upgrade(port)
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    parser = libws.Connection(libws.CLIENT)
    try:
        s.sendall(req + frames)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, f"closed during the handshake: {buf!r}"
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101") and libws.accept_key(key).encode() in head, head
        out = []
        data = rest
        while True:
            if data:
                parser.receive_data(data)
                for ev in parser.events():
                    out.append(ev)
                    if isinstance(ev, Close):
                        return out
            data = s.recv(65536)
            if not data:
                return out
    finally:
        s.close()
        parser.free()


def text(msg: str) -> bytes:
    return libws.encode_frame(libws.OP_TEXT, msg, mask=True)


def close_frame(code: int, reason: str = "") -> bytes:
    return libws.encode_frame(libws.OP_CLOSE, struct.pack("!H", code) + reason.encode(), mask=True)


MESSAGES = [f"message {i}" for i in range(20)]


def test_messages_and_close_in_one_write(echo_port):
    events = exchange(echo_port, b"".join(text(m) for m in MESSAGES) + close_frame(1000, "bye"))
    assert [e.data for e in events if isinstance(e, Message)] == MESSAGES
    assert isinstance(events[-1], Close) and len(events) == 21
    assert (events[-1].code, events[-1].reason) == (1000, "bye")


def test_messages_pipelined_behind_the_upgrade(echo_port):
    # No close: the echoes come, then the client closes on its own.
    req, key = upgrade(echo_port)
    s = socket.create_connection(("127.0.0.1", echo_port), timeout=5)
    parser = libws.Connection(libws.CLIENT)
    try:
        s.sendall(req + b"".join(text(m) for m in MESSAGES))
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        _, _, rest = buf.partition(b"\r\n\r\n")
        got = []
        if rest:
            parser.receive_data(rest)
        while True:
            got += [e.data for e in parser.events() if isinstance(e, Message)]
            if len(got) >= len(MESSAGES):
                break
            chunk = s.recv(65536)
            assert chunk, got
            parser.receive_data(chunk)
        assert got == MESSAGES
        s.sendall(close_frame(1000))
        s.settimeout(5)
        while True:
            evs = list(parser.events())
            if any(isinstance(e, Close) for e in evs):
                assert [e.code for e in evs if isinstance(e, Close)] == [1000]
                break
            chunk = s.recv(65536)
            assert chunk
            parser.receive_data(chunk)
    finally:
        s.close()
        parser.free()


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(libws.encode_frame(libws.OP_TEXT, "x", rsv=4, mask=True), id="rsv1"),
        pytest.param(libws.encode_frame(0x3, "x", mask=True), id="reserved-opcode"),
        pytest.param(libws.encode_frame(libws.OP_CONTINUATION, "x", mask=True), id="stray-continuation"),
    ],
)
def test_protocol_error_after_a_message_in_one_write(echo_port, bad):
    events = exchange(echo_port, text("hello") + bad)
    assert len(events) == 2, events
    assert events[0] == Message("hello")
    assert isinstance(events[1], Close) and events[1].code == 1002


def test_invalid_utf8_fails_before_the_frame_completes(echo_port):
    # A text frame announces 1 MiB; its first KiB holds an invalid byte, and
    # the rest never comes: the connection fails with 1007 at once, not
    # when (if ever) the frame completes.
    payload = b"a" * 100 + b"\xff" + b"a" * (MiB - 101)
    frame = libws.encode_frame(libws.OP_TEXT, payload, mask=True)
    events = exchange(echo_port, text("first") + frame[: 14 + 1024])
    assert events[0] == Message("first")
    assert isinstance(events[-1], Close) and events[-1].code == 1007, events

