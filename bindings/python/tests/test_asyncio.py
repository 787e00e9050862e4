"""asyncio API over the event hub: libws.asyncio.serve / connect."""

from __future__ import annotations

import asyncio
import errno
import contextlib
import os
import socket
import threading
import time

import pytest
from conftest import PKG_ROOT, RawClient, closed_port, join, run, wait_for

import libws
import libws.asyncio as lwa

TLS_DIR = os.path.join(PKG_ROOT, "..", "..", "tests", "c", "data")


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def url(server, path="/"):
    return f"ws://127.0.0.1:{server.port}{path}"


async def hub_released(timeout=3.0):
    """Wait until the loop's client hub was freed (it lingers for
    lwa._IDLE_GRACE after its last connection closed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop in lwa._client_hubs and loop.time() < deadline:
        await asyncio.sleep(0.02)
    assert loop not in lwa._client_hubs


def test_echo_and_handshake_details():
    seen = {}

    async def handler(ws):
        seen["path"] = ws.path
        seen["request_path"] = ws.request.path
        seen["headers"] = ws.request.headers
        seen["remote"] = ws.remote_address
        seen["sub"] = ws.subprotocol
        seen["type"] = type(ws)
        await echo(ws)

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            assert server.port > 0 and server.is_serving()
            assert [s.getsockname() for s in server.sockets] == [("127.0.0.1", server.port)]
            async with lwa.connect(url(server, "/chat?room=1"), additional_headers={"X-Test": "yes"}) as ws:
                assert isinstance(ws, lwa.ClientConnection) and ws.state == lwa.OPEN
                for msg in ["héllo €", b"\x00\xff", "", b""]:
                    await ws.send(msg)
                    got = await wait_for(ws.recv())
                    assert got == msg and type(got) is type(msg)
                await ws.send(bytearray(b"ba"))
                await ws.send(memoryview(b"xmvx")[1:3])
                assert await wait_for(ws.recv()) == b"ba"
                assert await wait_for(ws.recv()) == b"mv"
                assert ws.path == "/chat?room=1"
                assert "Upgrade" in ws.response.headers
                assert ws.response.headers["upgrade"].lower() == "websocket"
                assert ws.remote_address == ("127.0.0.1", server.port)
                assert ws.subprotocol is None
                assert "OPEN" in repr(ws)
            assert ws.state == lwa.CLOSED and ws.closed and ws.close_code == 1000
        assert not server.is_serving()

    run(main())
    assert seen["path"] == seen["request_path"] == "/chat?room=1"
    assert seen["headers"]["x-test"] == "yes" and seen["headers"].get_all("X-Test") == ["yes"]
    assert "x-test" in seen["headers"] and len(seen["headers"]) >= 5
    assert seen["remote"][0] == "127.0.0.1" and seen["remote"][1] > 0
    assert seen["sub"] is None and seen["type"] is lwa.ServerConnection


def test_fragments_are_joined():
    async def agen():
        yield "a"
        yield "é"

    async def main():
        async with lwa.serve(echo, "127.0.0.1", 0) as server:
            async with lwa.connect(url(server)) as ws:
                await ws.send(["frag", "mé", "nted"])
                assert await wait_for(ws.recv()) == "fragménted"
                await ws.send([b"1", bytearray(b"2"), memoryview(b"3")])
                assert await wait_for(ws.recv()) == b"123"
                await ws.send(agen())
                assert await wait_for(ws.recv()) == "aé"
                with pytest.raises(ValueError):
                    await ws.send([])
                with pytest.raises(TypeError):
                    await ws.send(["a", b"b"])
                with pytest.raises(TypeError):
                    await ws.send(42)

    run(main())


def test_large_messages():
    big = os.urandom(8 << 20)
    text = "ẞ" * (2 << 20)

    async def main():
        async with lwa.serve(echo, "127.0.0.1", 0, max_size=None) as server:
            async with lwa.connect(url(server), max_size=None) as ws:
                await ws.send(big)
                assert await wait_for(ws.recv(), 15) == big
                await ws.send(text)
                assert await wait_for(ws.recv(), 15) == text

    run(main())


def test_many_messages_in_order():
    async def main():
        async with lwa.serve(echo, "127.0.0.1", 0) as server:
            async with lwa.connect(url(server)) as ws:
                for i in range(2000):
                    await ws.send(str(i))
                for i in range(2000):
                    assert await wait_for(ws.recv()) == str(i)

    run(main())


def test_ping_pong():
    server_pings = []

    async def handler(ws):
        w = await ws.ping(b"from server")
        server_pings.append(await wait_for(w))
        await echo(ws)

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            async with lwa.connect(url(server)) as ws:
                rtt = await wait_for(await ws.ping())
                assert isinstance(rtt, float) and rtt >= 0
                w1 = await ws.ping(b"one")
                w2 = await ws.ping("two")
                assert await wait_for(w2) >= 0 and w1.done()
                with pytest.raises(libws.WebSocketError) as e:
                    await ws.ping(b"x" * 126)
                assert e.value.code == libws.EINVAL
                pending = await ws.ping(b"same")
                with pytest.raises(RuntimeError):
                    await ws.ping(b"same")
                await wait_for(pending)
                await ws.pong(b"unsolicited")
                await ws.send("still fine")
                assert await wait_for(ws.recv()) == "still fine"

    run(main())
    assert len(server_pings) == 1 and server_pings[0] >= 0


def test_client_close_code_reaches_handler():
    seen = {}

    async def handler(ws):
        try:
            await ws.recv()
        except libws.ConnectionClosed as e:
            seen["exc"] = e
            seen["code"] = (ws.close_code, ws.close_reason)

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            ws = await lwa.connect(url(server))
            await wait_for(ws.close(4000, "client bye"))
            assert ws.close_code == 4000  # echoed by the close reply
            await ws.close()  # idempotent
            await ws.wait_closed()
            with pytest.raises(libws.ConnectionClosedError):
                await ws.recv()
            with pytest.raises(libws.ConnectionClosed):
                await ws.send("late")
            with pytest.raises(libws.ConnectionClosed):
                await ws.ping()

    run(main())
    assert seen["code"] == (4000, "client bye")
    assert isinstance(seen["exc"], libws.ConnectionClosedError)


@pytest.mark.parametrize(
    "behaviour,code",
    [("return", 1000), ("raise", 1011), ("close", 4002), ("close1001", 1001)],
)
def test_server_side_close_paths(behaviour, code):
    async def handler(ws):
        await ws.send("hi")
        if behaviour == "raise":
            raise RuntimeError("handler bug (expected by the test)")
        if behaviour == "close":
            await ws.close(4002, "server reason")
        if behaviour == "close1001":
            await ws.close(1001)

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            async with lwa.connect(url(server)) as ws:
                got = []
                if code in (1000, 1001):
                    async for m in ws:  # ends silently on a normal close
                        got.append(m)
                else:
                    with pytest.raises(libws.ConnectionClosedError) as e:
                        async for m in ws:
                            got.append(m)
                    assert e.value.close_code == code
                assert got == ["hi"]
                await wait_for(ws.wait_closed())
                assert ws.close_code == code
                if behaviour == "close":
                    assert ws.close_reason == "server reason"

    run(main())


def test_server_close_sends_1001_and_ends_handlers():
    ended = []

    async def handler(ws):
        try:
            await echo(ws)
        finally:
            ended.append(ws.close_code)

    async def main():
        server = await lwa.serve(handler, "127.0.0.1", 0)
        clients = [await lwa.connect(url(server)) for _ in range(5)]
        for c in clients:
            await c.send("x")
            assert await wait_for(c.recv()) == "x"
        assert len(server.connections) == 5
        server.close()
        server.close()  # idempotent
        await wait_for(server.wait_closed(), 10)
        for c in clients:
            await wait_for(c.wait_closed())
            assert c.close_code == 1001
        # the port is free again (no listener; TIME_WAIT connections may remain)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", server.port))
        s.listen(1)
        s.close()
        with pytest.raises(libws.WebSocketError):
            await lwa.connect(url(server))

    run(main())
    assert ended == [1001] * 5


def test_serve_forever_cancelled():
    async def main():
        server = await lwa.serve(echo, "127.0.0.1", 0)
        task = asyncio.ensure_future(server.serve_forever())
        ws = await lwa.connect(url(server))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_for(ws.wait_closed())
        assert ws.close_code == 1001 and not server.is_serving()

    run(main())


def test_terminate_gives_1006():
    seen = []

    async def handler(ws):
        try:
            while True:
                await ws.recv()
        except libws.ConnectionClosed as e:
            seen.append(e)

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            ws = await lwa.connect(url(server))
            await ws.send("x")
            ws.terminate()
            await wait_for(ws.wait_closed())
            assert ws.close_code == 1006
            ws.terminate()  # no-op
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert isinstance(seen[0], libws.ConnectionClosedError) and seen[0].close_code == 1006


def test_concurrent_recv_and_invalid_close():
    async def main():
        async with lwa.serve(echo, "127.0.0.1", 0) as server:
            async with lwa.connect(url(server)) as ws:
                t = asyncio.ensure_future(ws.recv())
                await asyncio.sleep(0)
                with pytest.raises(RuntimeError):
                    await ws.recv()
                await ws.send("for the first")
                assert await wait_for(t) == "for the first"
                # a cancelled recv loses nothing
                t = asyncio.ensure_future(ws.recv())
                await asyncio.sleep(0)
                t.cancel()
                await ws.send("kept")
                assert await wait_for(ws.recv()) == "kept"
                with pytest.raises(libws.WebSocketError) as e:
                    await ws.close(1006)
                assert e.value.code == libws.EINVAL
                with pytest.raises(libws.WebSocketError):
                    await ws.close(0, "reason without code")
                assert ws.state == lwa.OPEN
                await ws.close(1000, "é" * 100)  # long reasons are cut to 123 bytes
                assert ws.close_code == 1000

    run(main())


def test_oversize_message_closes_1009():
    seen = {}

    async def handler(ws):
        try:
            await ws.recv()
        except libws.ConnectionClosed as e:
            seen["exc"] = e
            seen["code"] = ws.close_code

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0, max_size=1000) as server:
            async with lwa.connect(url(server)) as ws:
                await ws.send(b"x" * 1001)
                await wait_for(ws.wait_closed())
                assert ws.close_code == 1009

    run(main())
    assert seen["code"] == 1009
    assert seen["exc"].status == libws.ETOOBIG and seen["exc"].close_code == 1009


def test_client_max_size():
    async def handler(ws):
        await ws.send(b"y" * 5000)
        await ws.wait_closed()

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            ws = await lwa.connect(url(server), max_size=1000)
            with pytest.raises(libws.ConnectionClosedError) as e:
                await wait_for(ws.recv())
            assert e.value.close_code == 1009 and e.value.status == libws.ETOOBIG

    run(main())


def test_invalid_utf8_from_client_closes_1007():
    seen = {}

    async def handler(ws):
        try:
            await ws.recv()
        except libws.ConnectionClosed as e:
            seen["exc"] = e
            seen["code"] = ws.close_code

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            loop = asyncio.get_running_loop()

            def raw_peer():
                raw = RawClient(server.port)
                raw.send_frame(libws.OP_TEXT, b"\xce\xba\xff")
                evs = raw.events(lambda e: isinstance(e, libws.Close))
                raw.close()
                return evs

            evs = await wait_for(loop.run_in_executor(None, raw_peer))
            assert evs[-1].code == 1007
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert seen["code"] == 1007
    assert isinstance(seen["exc"], libws.ConnectionClosedError) and seen["exc"].status == libws.EUTF8


def test_invalid_utf8_from_server_closes_1007():
    # a blocking libws server that sends invalid text (ws_write_frame does
    # not validate what it sends)
    server = libws.serve(None, "127.0.0.1", 0)

    def serve_one():
        ws = server.accept(timeout=10)
        ws.send_frame(libws.OP_TEXT, b"\xff")
        try:
            ws.recv()
        except libws.WebSocketError:
            pass
        ws.free()

    t = threading.Thread(target=serve_one)
    t.start()

    async def main():
        ws = await lwa.connect(f"ws://127.0.0.1:{server.port}/")
        with pytest.raises(libws.ConnectionClosedError) as e:
            await wait_for(ws.recv())
        assert e.value.close_code == 1007 and e.value.status == libws.EUTF8
        assert ws.close_code == 1007

    try:
        run(main())
    finally:
        join(t)
        server.shutdown()


def test_connect_errors():
    async def main():
        with pytest.raises(libws.WebSocketError) as e:
            await wait_for(lwa.connect(f"ws://127.0.0.1:{closed_port()}/"))
        assert e.value.code == libws.EIO and "refused" in e.value.message
        for bad in ("http://example.com/", "ws://", "::::"):
            with pytest.raises(libws.WebSocketError) as e:
                await wait_for(lwa.connect(bad))
            assert e.value.code == libws.EINVAL, bad
        # the handshake times out against a server that never answers
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        try:
            t0 = time.monotonic()
            with pytest.raises(libws.WebSocketTimeout):
                await wait_for(lwa.connect(f"ws://127.0.0.1:{s.getsockname()[1]}/", open_timeout=0.3))
            assert time.monotonic() - t0 < 5
        finally:
            s.close()
        # a refused handshake (origin not allowed)
        async with lwa.serve(echo, "127.0.0.1", 0, origins=["https://good.example"]) as server:
            with pytest.raises(libws.InvalidHandshake) as e:
                await wait_for(lwa.connect(url(server), origin="https://evil.example"))
            assert e.value.code == libws.EHANDSHAKE
            async with lwa.connect(url(server), origin="https://good.example") as ws:
                await ws.send("ok")
                assert await wait_for(ws.recv()) == "ok"
        # bad options are reported at once
        with pytest.raises(libws.WebSocketError) as e:
            await lwa.connect("ws://127.0.0.1:1/", subprotocols=["bad token"])
        assert e.value.code == libws.EINVAL
        # the client hub is released shortly after its last connection is gone
        await hub_released()

    run(main())


def test_listen_errors():
    async def main():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        try:
            # As asyncio and websockets: the OSError of bind()
            with pytest.raises(OSError) as e:
                await lwa.serve(echo, "127.0.0.1", s.getsockname()[1])
            assert e.value.errno == errno.EADDRINUSE
        finally:
            s.close()
        with pytest.raises(libws.WebSocketError) as e:
            await lwa.serve(echo, "127.0.0.1", 70000)
        assert e.value.code == libws.EINVAL

    run(main())


def test_subprotocols():
    async def handler(ws):
        await ws.send(ws.subprotocol or "none")

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0, subprotocols=["v2", "v1"]) as server:
            async with lwa.connect(url(server), subprotocols=["v1", "v2"]) as ws:
                assert ws.subprotocol == "v2"
                assert await wait_for(ws.recv()) == "v2"
            async with lwa.connect(url(server), subprotocols=["v1"]) as ws:
                assert ws.subprotocol == "v1"
            # As websockets 13+: a server with subprotocols refuses a client
            # that offers none of them, or none at all, with 400.
            for offered in (None, ["v3"]):
                with pytest.raises(libws.InvalidStatus) as e:
                    await lwa.connect(url(server), subprotocols=offered)
                assert e.value.response.status_code == 400

    run(main())


def test_backpressure_waits_for_drain():
    chunk = b"z" * 65536
    total = 160
    progress = {"sent": 0, "paused_seen": False, "buffered": 0}

    async def handler(ws):
        for _ in range(total):
            await ws.send(chunk)
            progress["sent"] += 1
            if ws._paused:
                progress["paused_seen"] = True
            progress["buffered"] = max(progress["buffered"], ws.buffered_amount)
        await ws.close()

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0, high_water=256 << 10) as server:
            loop = asyncio.get_running_loop()
            raw = await loop.run_in_executor(None, RawClient, server.port)
            # The client does not read: once the kernel's socket buffers and
            # the hub's high-water mark are full, the handler must stall.
            await asyncio.sleep(0.5)
            stalled_at = progress["sent"]
            assert stalled_at < total
            assert progress["buffered"] > 0

            def read_all():
                n = 0
                evs = raw.events(lambda e: isinstance(e, libws.Close), timeout=10)
                for e in evs:
                    if isinstance(e, libws.Message):
                        assert e.data == chunk
                        n += 1
                raw.close()
                return n

            n = await wait_for(loop.run_in_executor(None, read_all), 15)
            assert n == total
            assert progress["sent"] == total

    run(main())


def test_buffered_amount_counts_sends_not_yet_handed_over():
    # Sends wait in the binding's batch until the task yields: they are
    # unsent bytes as much as those the hub holds. 10,000 bytes go by
    # reference, 100 by copy; both count, and both arrive.
    seen = {}

    async def handler(ws):
        await ws.send(b"x" * 10000)
        await ws.send(b"y" * 100)
        seen["pending"] = ws.buffered_amount
        await asyncio.sleep(0.2)  # handed over and written by now
        seen["later"] = ws.buffered_amount
        await ws.recv()

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            async with lwa.connect(url(server)) as ws:
                assert await ws.recv() == b"x" * 10000
                assert await ws.recv() == b"y" * 100
                await ws.send("done")
                await wait_for(ws.wait_closed(), 5)
        assert seen == {"pending": 10100, "later": 0}

    run(main())


def test_idle_timeout_closes_1008():
    async def main():
        async with lwa.serve(echo, "127.0.0.1", 0, idle_timeout=0.3) as server:
            ws = await lwa.connect(url(server))
            await wait_for(ws.wait_closed(), 5)
            assert ws.close_code == 1008

    run(main())


def test_ping_interval_keeps_connection_alive():
    async def main():
        async with lwa.serve(echo, "127.0.0.1", 0, ping_interval=0.1, idle_timeout=0.8) as server:
            async with lwa.connect(url(server)) as ws:
                # the client answers the server's pings, so it is not idle
                await asyncio.sleep(1.2)
                assert ws.state == lwa.OPEN
                await ws.send("alive")
                assert await wait_for(ws.recv()) == "alive"

    run(main())


def test_client_hub_shared_and_released():
    async def main():
        loop = asyncio.get_running_loop()
        async with lwa.serve(echo, "127.0.0.1", 0) as server:
            a = await lwa.connect(url(server))
            b = await lwa.connect(url(server))
            assert a._hub is b._hub is lwa._client_hubs[loop]
            assert a.id != b.id
            await a.close()
            assert loop in lwa._client_hubs
            await b.close()
            await hub_released()
            c = await lwa.connect(url(server))  # a new hub
            await c.send("x")
            assert await wait_for(c.recv()) == "x"
            await c.close()

    run(main())


def test_two_event_loops_in_two_threads():
    results = []

    async def one(i):
        async with lwa.serve(echo, "127.0.0.1", 0) as server:
            async with lwa.connect(url(server)) as ws:
                for j in range(50):
                    await ws.send(f"{i}-{j}")
                    assert await wait_for(ws.recv()) == f"{i}-{j}"
        results.append(i)

    threads = [threading.Thread(target=run, args=(one(i),)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        join(t, 20)
    assert sorted(results) == [0, 1, 2]


def test_connect_cancelled():
    async def main():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        try:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(lwa.connect(f"ws://127.0.0.1:{s.getsockname()[1]}/"), 0.2)
        finally:
            s.close()
        await hub_released()

    run(main())


@pytest.mark.skipif(not os.path.exists(os.path.join(TLS_DIR, "server.pem")), reason="no test certificates")
def test_tls():
    async def main():
        async with lwa.serve(
            echo,
            "127.0.0.1",
            0,
            tls_cert_file=os.path.join(TLS_DIR, "server.pem"),
            tls_key_file=os.path.join(TLS_DIR, "server.key"),
        ) as server:
            u = f"wss://127.0.0.1:{server.port}/"
            async with lwa.connect(u, tls_ca_file=os.path.join(TLS_DIR, "ca.pem")) as ws:
                await ws.send("secure")
                assert await wait_for(ws.recv()) == "secure"
                big = os.urandom(1 << 20)
                await ws.send(big)
                assert await wait_for(ws.recv()) == big
            with pytest.raises(libws.WebSocketError) as e:
                await wait_for(lwa.connect(u))
            assert e.value.code == libws.ETLS

    run(main())


def test_replies_go_out_before_the_close_reply():
    # The peer sends messages and its close frame in one write: the
    # handler's echoes must reach it before the close reply (the hub answers
    # the close only at the binding's next poll).
    async def main():
        async with lwa.serve(echo, "127.0.0.1", 0) as server:
            loop = asyncio.get_running_loop()

            def raw_peer():
                raw = RawClient(server.port)
                wire = b"".join(libws.encode_frame(libws.OP_TEXT, f"m{i}".encode(), mask=True) for i in range(20))
                wire += libws.encode_frame(libws.OP_CLOSE, (4000).to_bytes(2, "big") + b"bye", mask=True)
                raw.send_raw(wire)
                evs = raw.events(lambda e: isinstance(e, libws.Close))
                raw.close()
                return evs

            evs = await wait_for(loop.run_in_executor(None, raw_peer), 10)
            # The close reply echoes the peer's code and reason (docs/hub-contract.md).
            assert evs == [libws.Message(f"m{i}") for i in range(20)] + [libws.Close(4000, "bye")]

    run(main())


def test_origin_list_and_no_origin_accepted():
    async def main():
        async with lwa.serve(echo, "127.0.0.1", 0, origins=["https://a.example", "https://b.example"]) as server:
            for origin in (None, "https://a.example", "https://B.example"):
                async with lwa.connect(url(server), origin=origin) as ws:
                    await ws.send("ok")
                    assert await wait_for(ws.recv()) == "ok"

    run(main())


@contextlib.contextmanager
def blocking_server(handler):
    """A server of the blocking API in a thread: a peer that does not run on
    the test's event loop, so that the loop can be held still."""
    server = libws.serve(handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        join(thread, 5)


def test_cancelled_reader_loses_no_message():
    # A message handed to a waiting reader that is cancelled before it runs
    # goes back in front of the queue. The peer is a blocking server in a
    # thread, so that this loop can be held still between the poll that
    # delivers the messages and the cancellation.
    def replies(ws):
        if ws.recv() == "go":
            ws.send("first")
            ws.send("second")
        ws.recv()

    async def main(server):
        async with lwa.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            reader = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0)
            await ws.send("go")
            ws._hub.flush()
            time.sleep(0.3)  # the loop stands still while both replies come in
            ws._hub.poll_now()
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            assert await wait_for(ws.recv()) == "first"
            assert await wait_for(ws.recv()) == "second"

    with blocking_server(replies) as server:
        run(main(server))


def test_reader_cancelled_by_a_task_woken_in_the_same_batch():
    # Two messages arrive in one batch; the task woken with the first one
    # cancels the task the second one was handed to, before that one runs.
    # The second message goes back to its connection's queue.
    def replies(ws):
        if ws.recv() == "go":
            ws.send("first")
        ws.recv()

    async def main(server):
        u = f"ws://127.0.0.1:{server.port}/"
        async with lwa.connect(u) as ws1, lwa.connect(u) as ws2:
            reader2 = asyncio.ensure_future(ws2.recv())

            async def reader1():
                message = await ws1.recv()
                reader2.cancel()
                return message

            task1 = asyncio.ensure_future(reader1())
            await asyncio.sleep(0)
            for ws in (ws1, ws2):
                await ws.send("go")
                ws._hub.flush()
                time.sleep(0.2)  # the loop stands still: ws1's reply comes in first
            assert await wait_for(task1) == "first"
            with pytest.raises(asyncio.CancelledError):
                await reader2
            assert await wait_for(ws2.recv()) == "first"

    with blocking_server(replies) as server:
        run(main(server))


def test_adopt_a_socket_whose_request_was_partly_read():
    # listen=False: connections come from the application's own accept;
    # the bytes it read (here the first 20 of the request) go along.
    async def handler(ws):
        await ws.send(f"{ws.path} {ws.request.headers['X-App']}")

    async def main():
        loop = asyncio.get_running_loop()
        lsock = socket.create_server(("127.0.0.1", 0))
        lsock.setblocking(False)
        port = lsock.getsockname()[1]
        async with lwa.serve(handler, listen=False) as server:
            assert server.sockets == []
            client = asyncio.ensure_future(lwa.connect(f"ws://127.0.0.1:{port}/adopted?x=1", additional_headers={"X-App": "1"}))
            conn, _ = await loop.sock_accept(lsock)
            head = b""
            while len(head) < 20:
                head += await loop.sock_recv(conn, 20 - len(head))
            assert server.adopt(conn, head)
            ws = await wait_for(client)
            assert await wait_for(ws.recv()) == "/adopted?x=1 1"
            await ws.close()
        lsock.close()

    run(main())
