"""Memory stays bounded when the application does not consume (issue #16,
defect 3): a connection whose queue of undelivered messages reaches
``max_queue``, or whose ``send`` waits on backpressure, is paused (the hub
stops reading its socket, so TCP pushes back on the peer)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from conftest import RawClient, run, wait_for
from test_ordering import start_example, stop_example

import libws
import libws.asyncio as lwa

CHUNK = 64 * 1024
MiB = 1 << 20


def vm_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Pusher(threading.Thread):
    """A raw client that sends ``count`` binary messages of CHUNK bytes and
    never reads; ``sent`` counts the messages the kernel took."""

    def __init__(self, port: int, count: int) -> None:
        super().__init__(daemon=True)
        self.client = RawClient(port)
        # Small buffers of our own, so that what the server holds (not what
        # this socket holds) decides how much gets through.
        self.client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        self.client.sock.settimeout(None)
        self.frame = libws.encode_frame(libws.OP_BINARY, b"\x42" * CHUNK, mask=b"abcd")
        self.count = count
        self.sent = 0
        self.error = None

    def run(self) -> None:
        try:
            for _ in range(self.count):
                self.client.sock.sendall(self.frame)
                self.sent += 1
        except OSError as exc:
            self.error = exc

    def stalled(self, quiet: float = 1.5, limit: float = 30.0) -> int:
        """Wait until no message went out for ``quiet`` seconds (or all
        did); return how many went out."""
        deadline = time.monotonic() + limit
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline and self.is_alive():
            if self.sent != last:
                last, since = self.sent, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
            time.sleep(0.05)
        return self.sent

    def stop(self) -> None:
        try:
            self.client.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.join(10)
        self.client.close()


def echoed_promptly(port: int, timeout: float = 5.0) -> bool:
    c = RawClient(port)
    try:
        c.send_frame(libws.OP_TEXT, b"still there?")
        evs = c.events(lambda e: isinstance(e, libws.Message), timeout=timeout)
        return any(isinstance(e, libws.Message) and e.data == "still there?" for e in evs)
    finally:
        c.close()


def test_echo_server_stops_reading_a_client_that_never_reads():
    # 200 MiB offered in 64 KiB messages to examples/python/echo_server.py by
    # a client that reads nothing: the server stops reading (queue full,
    # send waiting on backpressure), so little of it gets through and the
    # server's memory stays bounded; another client is still served.
    proc, port = start_example()
    try:
        assert echoed_promptly(port)
        before = vm_rss(proc.pid)
        p = Pusher(port, 200 * MiB // CHUNK)
        p.start()
        sent = p.stalled()
        grown = vm_rss(proc.pid) - before
        # Measured: 6-10 MiB through (kernel buffers mostly), RSS +6 MiB;
        # before pausing, all 200 MiB went through and stayed queued.
        assert sent * CHUNK < 64 * MiB, f"{sent * CHUNK / MiB:.0f} MiB went through: the server kept reading"
        assert grown < 32 * MiB, f"server RSS grew by {grown / MiB:.0f} MiB"
        assert echoed_promptly(port)
        p.stop()
        assert proc.poll() is None
    finally:
        stop_example(proc)


def test_max_queue_pauses_and_resumes_reading():
    # A handler that does not read: its queue stops growing near max_queue
    # (the hub stops reading the socket); once it reads, the rest arrives.
    count = 1000  # 62.5 MiB
    state = {}

    async def handler(ws):
        state["ws"] = ws
        await state["go"]
        n = 0
        while n < count:
            msg = await ws.recv()
            assert len(msg) == CHUNK
            n += 1
        state["received"] = n

    async def main():
        loop = asyncio.get_running_loop()
        state["go"] = loop.create_future()
        async with lwa.serve(handler, "127.0.0.1", 0, max_queue=4) as server:
            p = await loop.run_in_executor(None, Pusher, server.port, count)  # handshake off the loop
            p.start()
            sent = await loop.run_in_executor(None, p.stalled)
            ws = state["ws"]
            queued = len(ws._messages or ())
            assert sent < count and sent * CHUNK < 40 * MiB, sent
            # One batch may land after the pause: bounded by the hub's read.
            assert queued * CHUNK <= 4 * MiB, queued
            state["go"].set_result(None)
            await wait_for(_until(lambda: "received" in state), 30)
            assert state["received"] == count
            await loop.run_in_executor(None, p.join, 10)
            assert p.sent == count
            p.stop()

    run(main(), timeout=60)


async def _until(cond, step=0.02):
    while not cond():
        await asyncio.sleep(step)


def test_max_queue_none_is_unbounded():
    count = 100
    state = {}

    async def handler(ws):
        state["ws"] = ws
        await state["go"]

    async def main():
        loop = asyncio.get_running_loop()
        state["go"] = loop.create_future()
        async with lwa.serve(handler, "127.0.0.1", 0, max_queue=None) as server:
            p = await loop.run_in_executor(None, Pusher, server.port, count)  # handshake off the loop
            p.start()
            await wait_for(_until(lambda: "ws" in state and len(state["ws"]._messages or ()) == count), 20)
            state["go"].set_result(None)
            await loop.run_in_executor(None, p.join, 10)
            p.stop()

    run(main(), timeout=30)


@pytest.mark.parametrize("bad", [0, -1, (4, 8), (4, -1), "16", 1.5])
def test_max_queue_invalid(bad):
    async def main():
        with pytest.raises((ValueError, TypeError)):
            await lwa.serve(lambda ws: None, "127.0.0.1", 0, max_queue=bad)
        with pytest.raises((ValueError, TypeError)):
            await lwa.connect("ws://127.0.0.1:1/", max_queue=bad)

    run(main())


def test_client_connection_pauses_too():
    # A client connection (a goroutine transport of the client hub) that
    # does not read: its queue stays near max_queue while the server's sends
    # back up; once it reads, everything arrives in order.
    count = 300  # 18.75 MiB
    state = {}

    async def handler(ws):
        for i in range(count):
            await ws.send(i.to_bytes(4, "big") + b"\x00" * (CHUNK - 4))
        state["sent"] = True
        await ws.recv()

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            async with lwa.connect(f"ws://127.0.0.1:{server.port}/", max_queue=4) as ws:
                await asyncio.sleep(1.5)
                queued = len(ws._messages or ())
                assert "sent" not in state  # the server is held back
                assert queued * CHUNK <= 4 * MiB, queued
                for i in range(count):
                    msg = await wait_for(ws.recv(), 10)
                    assert int.from_bytes(msg[:4], "big") == i
                assert state.get("sent")
                await ws.send("done")

    run(main(), timeout=60)


def test_send_waiting_on_backpressure_pauses_reading():
    # max_queue=None: only the pause while send() waits for the drain holds
    # back an echo whose client never reads.
    count = 1000  # 62.5 MiB
    conns = []

    async def handler(ws):
        conns.append(ws)
        async for message in ws:
            await ws.send(message)

    async def main():
        loop = asyncio.get_running_loop()
        async with lwa.serve(handler, "127.0.0.1", 0, max_queue=None) as server:
            p = await loop.run_in_executor(None, Pusher, server.port, count)
            p.start()
            sent = await loop.run_in_executor(None, p.stalled)
            assert sent < count and sent * CHUNK < 40 * MiB, sent
            ws = conns[0]
            assert ws._paused and len(ws._messages or ()) * CHUNK <= 4 * MiB
            p.stop()

    run(main(), timeout=60)


def _deflate_upgrade(port: int):
    import base64
    import os

    key = base64.b64encode(os.urandom(16)).decode()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        ).encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, _, rest = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101") and b"permessage-deflate" in head.lower(), head
    return s, rest


def _close_code_of(s: socket.socket, rest: bytes, timeout: float = 10.0):
    s.settimeout(timeout)
    parser = libws.Connection(libws.CLIENT, max_size=None)
    try:
        data = rest
        while True:
            if data:
                parser.receive_data(data)
                for ev in parser.events():
                    if isinstance(ev, libws.Close):
                        return ev.code
            data = s.recv(65536)
            if not data:
                return None
    finally:
        parser.free()


@pytest.mark.parametrize("attack", ["oversized-frame", "deflate-bomb"])
def test_echo_server_keeps_its_limits(attack):
    # examples/python/echo_server.py runs with a message limit (64 MiB): a
    # frame that announces 100 MiB, or 1 GiB of zeros deflated to 1 MiB, is
    # refused with 1009, and the server is still there for others.
    import zlib

    proc, port = start_example()
    try:
        before = vm_rss(proc.pid)
        s, rest = _deflate_upgrade(port)
        try:
            if attack == "oversized-frame":
                head = libws.encode_header(libws.OP_BINARY, 100 * MiB, mask=b"abcd")
                s.sendall(head + b"\0" * 65536)
            else:
                # 1 GiB of zeros: 1 MiB deflated once, up to a full flush (no
                # reference back across it), repeated 1024 times.
                c = zlib.compressobj(9, zlib.DEFLATED, -15)
                body = (c.compress(b"\0" * MiB) + c.flush(zlib.Z_FULL_FLUSH)) * 1024
                body = body[:-4]  # permessage-deflate drops the 00 00 ff ff tail
                assert len(body) < 2 * MiB
                s.sendall(libws.encode_frame(libws.OP_BINARY, body, rsv=libws._ffi.WS_RSV1, mask=b"abcd"))
            assert _close_code_of(s, rest) == 1009
        finally:
            s.close()
        # Inflating stops past the limit: the peak stays a few times the
        # 64 MiB limit (measured +260 MiB: the output buffer grows by
        # doubling), far below the 1 GiB the bomb holds.
        assert vm_rss(proc.pid) - before < 512 * MiB
        assert echoed_promptly(port)
    finally:
        stop_example(proc)
