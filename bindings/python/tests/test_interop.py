"""Interop with an independent implementation, the `websockets` package:
its client against libws's servers and libws's clients against its server,
for text, binary, fragmented and large messages, ping/pong and every close
path."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from conftest import join, run, wait_for

import libws
import libws.asyncio as lwa

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect as ws_connect  # noqa: E402
from websockets.asyncio.server import serve as ws_serve  # noqa: E402
from websockets.exceptions import ConnectionClosedError as WSClosedError  # noqa: E402
from websockets.exceptions import ConnectionClosedOK as WSClosedOK  # noqa: E402

BIG = os.urandom(6 << 20)
BIG_TEXT = "€" * (2 << 20)  # 6 MiB of UTF-8


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def libws_url(server, path="/"):
    return f"ws://127.0.0.1:{server.port}{path}"


def ws_url(server, path="/"):
    port = server.sockets[0].getsockname()[1]
    return f"ws://127.0.0.1:{port}{path}"


def rcvd_code(exc_or_ws):
    rcvd = exc_or_ws.rcvd
    return None if rcvd is None else (rcvd.code, rcvd.reason)


# ============================================================================
# websockets client -> libws asyncio server


def test_websockets_client_messages():
    seen = {}

    async def handler(ws):
        seen["path"] = ws.path
        seen["ua"] = ws.request.headers.get("User-Agent", "")
        seen["sub"] = ws.subprotocol
        await echo(ws)

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0, max_size=None, subprotocols=["chat"]) as server:
            async with ws_connect(libws_url(server, "/p?q=1"), max_size=None, compression=None,
                                  subprotocols=["chat"], close_timeout=2) as c:
                assert c.subprotocol == "chat"
                for msg in ["héllo", b"\x00\x01\xff", "", b""]:
                    await c.send(msg)
                    got = await wait_for(c.recv())
                    assert got == msg and type(got) is type(msg)
                # fragmented: websockets sends one frame per item
                await c.send(["frag", "mé", "nted"])
                assert await wait_for(c.recv()) == "fragménted"
                await c.send([b"a" * 70000, b"b" * 3, b"c" * 200000])
                assert await wait_for(c.recv()) == b"a" * 70000 + b"b" * 3 + b"c" * 200000
                # large
                await c.send(BIG)
                assert await wait_for(c.recv(), 15) == BIG
                await c.send(BIG_TEXT)
                assert await wait_for(c.recv(), 15) == BIG_TEXT
                # many, in order
                for i in range(500):
                    await c.send(str(i))
                for i in range(500):
                    assert await wait_for(c.recv()) == str(i)

    run(main(), 40)
    assert seen["path"] == "/p?q=1" and "websockets" in seen["ua"].lower() and seen["sub"] == "chat"


def test_websockets_client_ping_pong():
    latency = []

    async def handler(ws):
        latency.append(await wait_for(await ws.ping(b"libws-ping")))
        await echo(ws)

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            async with ws_connect(libws_url(server), close_timeout=2) as c:
                pong = await c.ping(b"ws-ping")
                assert await wait_for(pong) >= 0
                await c.send("x")
                assert await wait_for(c.recv()) == "x"
                await c.pong(b"unsolicited")
                await c.send("y")
                assert await wait_for(c.recv()) == "y"

    run(main())
    assert latency and latency[0] >= 0


@pytest.mark.parametrize("code,reason", [(1000, ""), (1001, "going"), (4000, "app reason")])
def test_websockets_client_closes(code, reason):
    seen = {}

    async def handler(ws):
        try:
            await echo(ws)
            seen["end"] = "ok"
        except libws.ConnectionClosedError as e:
            seen["end"] = e
        seen["close"] = (ws.close_code, ws.close_reason)

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            c = await ws_connect(libws_url(server), close_timeout=2)
            await c.send("x")
            await wait_for(c.recv())
            await wait_for(c.close(code, reason))
            assert rcvd_code(c.protocol.close_exc) == (code, reason)  # libws echoes code and reason
            for _ in range(100):
                if "close" in seen:
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert seen["close"] == (code, reason)
    if code in (1000, 1001):
        assert seen["end"] == "ok"  # async for ended silently
    else:
        assert isinstance(seen["end"], libws.ConnectionClosedError) and seen["end"].close_code == code


@pytest.mark.parametrize("behaviour,code,reason", [
    ("return", 1000, ""),
    ("raise", 1011, ""),
    ("close", 4003, "server reason"),
    ("shutdown", 1001, "server shutting down"),
    ("terminate", None, None),
])
def test_libws_server_closes(behaviour, code, reason):
    async def handler(ws):
        await ws.send("hello")
        if behaviour == "raise":
            raise RuntimeError("handler bug (expected by the test)")
        if behaviour == "close":
            await ws.close(4003, "server reason")
        if behaviour == "terminate":
            ws.terminate()
        if behaviour in ("shutdown", "terminate"):
            await ws.wait_closed()

    async def main():
        server = await lwa.serve(handler, "127.0.0.1", 0)
        try:
            c = await ws_connect(libws_url(server), close_timeout=2)
            assert await wait_for(c.recv()) == "hello"
            if behaviour == "shutdown":
                server.close()
            if code in (1000, 1001):
                with pytest.raises(WSClosedOK) as e:
                    await wait_for(c.recv())
            else:
                with pytest.raises(WSClosedError) as e:
                    await wait_for(c.recv())
            assert rcvd_code(e.value) == (None if code is None else (code, reason))
            await wait_for(c.wait_closed())
        finally:
            server.close()
            await wait_for(server.wait_closed())

    run(main())


def test_websockets_client_invalid_utf8_gets_1007():
    seen = {}

    async def handler(ws):
        try:
            await ws.recv()
        except libws.ConnectionClosed as e:
            seen["exc"] = e

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            c = await ws_connect(libws_url(server), close_timeout=2)
            c.protocol.send_text(b"\xff\xfe invalid")  # websockets' sans-I/O layer does not check
            c.send_data()
            with pytest.raises(WSClosedError) as e:
                await wait_for(c.recv())
            assert e.value.rcvd.code == 1007
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert seen["exc"].close_code == 1007 and seen["exc"].status == libws.EUTF8


def test_websockets_client_oversize_gets_1009():
    async def main():
        async with lwa.serve(echo, "127.0.0.1", 0, max_size=1 << 20) as server:
            c = await ws_connect(libws_url(server), close_timeout=2)
            await c.send(b"x" * ((1 << 20) + 1))
            with pytest.raises(WSClosedError) as e:
                await wait_for(c.recv())
            assert e.value.rcvd.code == 1009

    run(main())


# ============================================================================
# libws asyncio client -> websockets server


def test_libws_client_messages():
    seen = {}

    async def handler(c):
        seen["path"] = c.request.path
        seen["hdr"] = c.request.headers.get("X-Libws")
        async for m in c:
            await c.send(m)

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0, max_size=None, compression=None,
                            subprotocols=["v1", "v2"]) as server:
            async with lwa.connect(ws_url(server, "/x?y=1"), max_size=None, subprotocols=["v2"],
                                   additional_headers=[("X-Libws", "1")]) as ws:
                assert ws.subprotocol == "v2"
                for msg in ["héllo", b"\x00\x01\xff", "", b""]:
                    await ws.send(msg)
                    got = await wait_for(ws.recv())
                    assert got == msg and type(got) is type(msg)
                await ws.send(BIG)
                assert await wait_for(ws.recv(), 15) == BIG
                await ws.send(BIG_TEXT)
                assert await wait_for(ws.recv(), 15) == BIG_TEXT
                for i in range(500):
                    await ws.send(str(i))
                for i in range(500):
                    assert await wait_for(ws.recv()) == str(i)

    run(main(), 40)
    assert seen == {"path": "/x?y=1", "hdr": "1"}


def test_libws_client_receives_fragments():
    async def handler(c):
        await c.send(["frag", "mé", "nted"])
        await c.send([b"a" * 100000, b"b", b"c" * 5000])
        await c.wait_closed()

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0, compression=None) as server:
            async with lwa.connect(ws_url(server)) as ws:
                assert await wait_for(ws.recv()) == "fragménted"
                assert await wait_for(ws.recv()) == b"a" * 100000 + b"b" + b"c" * 5000

    run(main())


def test_libws_client_ping_pong():
    latency = []

    async def handler(c):
        latency.append(await wait_for(await c.ping(b"from websockets")))
        async for m in c:
            await c.send(m)

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0) as server:
            async with lwa.connect(ws_url(server)) as ws:
                assert await wait_for(await ws.ping(b"from libws")) >= 0
                await ws.send("x")
                assert await wait_for(ws.recv()) == "x"

    run(main())
    assert latency and latency[0] >= 0


@pytest.mark.parametrize("code,reason", [(1000, ""), (4001, "client reason")])
def test_libws_client_closes(code, reason):
    seen = {}

    async def handler(c):
        try:
            async for m in c:
                await c.send(m)
        finally:
            seen["close"] = rcvd_code(c.protocol.close_exc)

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0) as server:
            ws = await lwa.connect(ws_url(server))
            await ws.send("x")
            await wait_for(ws.recv())
            await wait_for(ws.close(code, reason))
            assert ws.close_code == code  # websockets echoes the code
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert seen["close"] == (code, reason)


@pytest.mark.parametrize("behaviour,code,reason", [
    ("return", 1000, ""),
    ("raise", 1011, ""),
    ("close", 4002, "websockets reason"),
    ("shutdown", 1001, ""),
    ("abort", 1006, ""),
])
def test_websockets_server_closes(behaviour, code, reason):
    async def handler(c):
        await c.send("hello")
        if behaviour == "raise":
            raise RuntimeError("handler bug (expected by the test)")
        if behaviour == "close":
            await c.close(4002, "websockets reason")
        if behaviour == "abort":
            c.transport.abort()
        if behaviour == "shutdown":
            await c.wait_closed()

    async def main():
        server = await ws_serve(handler, "127.0.0.1", 0, close_timeout=2)
        try:
            ws = await lwa.connect(ws_url(server))
            assert await wait_for(ws.recv()) == "hello"
            if behaviour == "shutdown":
                server.close()
            exc = libws.ConnectionClosedOK if code in (1000, 1001) else libws.ConnectionClosedError
            with pytest.raises(exc) as e:
                await wait_for(ws.recv())
            assert (e.value.close_code, e.value.close_reason) == (code, reason)
            assert (ws.close_code, ws.close_reason) == (code, reason)
        finally:
            server.close()
            await wait_for(server.wait_closed())

    run(main())


def test_websockets_server_invalid_utf8_gets_1007():
    seen = {}

    async def handler(c):
        c.protocol.send_text(b"\xc3\x28 invalid")
        c.send_data()
        try:
            await c.recv()
        except WSClosedError as e:
            seen["rcvd"] = rcvd_code(e)

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0, close_timeout=2) as server:
            ws = await lwa.connect(ws_url(server))
            with pytest.raises(libws.ConnectionClosedError) as e:
                await wait_for(ws.recv())
            assert e.value.close_code == 1007 and e.value.status == libws.EUTF8
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert seen["rcvd"][0] == 1007


def test_websockets_server_oversize_gets_1009():
    seen = {}

    async def handler(c):
        await c.send(b"x" * 5000)
        try:
            await c.recv()
        except WSClosedError as e:
            seen["rcvd"] = rcvd_code(e)

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0, close_timeout=2) as server:
            ws = await lwa.connect(ws_url(server), max_size=4096)
            with pytest.raises(libws.ConnectionClosedError) as e:
                await wait_for(ws.recv())
            assert e.value.close_code == 1009
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.02)

    run(main())
    assert seen["rcvd"][0] == 1009


# ============================================================================
# blocking API both ways (websockets' threaded implementation)


def test_sync_libws_client_against_websockets_server():
    from websockets.sync.server import serve as sync_serve

    closes = []

    def handler(c):
        try:
            for m in c:
                c.send(m)
        finally:
            closes.append(rcvd_code(c.protocol.close_exc))

    server = sync_serve(handler, "127.0.0.1", 0, max_size=None, compression=None)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        with libws.connect(url) as ws:
            ws.send("text")
            assert ws.recv() == "text"
            ws.send(b"\x00bin")
            assert ws.recv() == b"\x00bin"
            ws.send(["frag", "mented"])  # real fragments through ws_write_frame
            assert ws.recv() == "fragmented"
            ws.send(BIG)
            assert ws.recv() == BIG
            ws.ping(b"p")
            ws.send("after ping")
            assert ws.recv() == "after ping"
            ws.close(4005, "sync bye")
            assert ws.close_code == 4005
    finally:
        server.shutdown()
        join(t)
    assert closes == [(4005, "sync bye")]


def test_sync_websockets_client_against_libws_server():
    from websockets.sync.client import connect as sync_connect

    def handler(ws):
        for m in ws:
            ws.send(m)

    server = libws.serve(handler, "127.0.0.1", 0, max_size=None)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        with sync_connect(f"ws://127.0.0.1:{server.port}/", max_size=None, compression=None,
                          close_timeout=2) as c:
            c.send("text")
            assert c.recv(timeout=5) == "text"
            c.send(b"\x00bin")
            assert c.recv(timeout=5) == b"\x00bin"
            c.send(["frag", "mented"])
            assert c.recv(timeout=5) == "fragmented"
            c.send(BIG)
            assert c.recv(timeout=10) == BIG
            assert c.ping(b"p").wait(5)
            c.close(4006, "bye")
            assert rcvd_code(c.protocol.close_exc) == (4006, "")  # the echo of the close handshake
    finally:
        server.shutdown()
        join(t)


# ============================================================================
# permessage-deflate both ways


def test_compression_websockets_client_libws_server():
    seen = {}

    async def handler(ws):
        seen["ext"] = ws.request.headers.get("Sec-WebSocket-Extensions", "")
        await echo(ws)

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0, compression="deflate", max_size=None) as server:
            async with ws_connect(libws_url(server), compression="deflate", max_size=None, close_timeout=2) as c:
                assert c.protocol.extensions, "not negotiated"
                for msg in ["compressible " * 5000, BIG, b"\x00" * 300000, "short"]:
                    await c.send(msg)
                    assert await wait_for(c.recv(), 15) == msg

    run(main(), 40)
    assert "permessage-deflate" in seen["ext"]


def test_compression_libws_client_websockets_server():
    async def handler(c):
        assert c.protocol.extensions, "not negotiated"
        async for m in c:
            await c.send(m)

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0, compression="deflate", max_size=None) as server:
            async with lwa.connect(ws_url(server), compression="deflate", max_size=None) as ws:
                assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
                for msg in ["compressible " * 5000, BIG, b"\x00" * 300000, "short"]:
                    await ws.send(msg)
                    assert await wait_for(ws.recv(), 15) == msg

    run(main(), 40)


def test_compression_sync_both_ways():
    from websockets.sync.client import connect as sync_connect

    def handler(ws):
        for m in ws:
            ws.send(m)

    server = libws.serve(handler, "127.0.0.1", 0, compression="deflate")
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"ws://127.0.0.1:{server.port}/"
        with sync_connect(url, close_timeout=2) as c:  # websockets offers deflate by default
            assert c.protocol.extensions
            c.send("z" * 50000)
            assert c.recv(timeout=5) == "z" * 50000
        with libws.connect(url, compression="deflate") as ws:
            ws.send(b"y" * 50000)
            assert ws.recv() == b"y" * 50000
    finally:
        server.shutdown()
        join(t)
    with pytest.raises(ValueError):
        libws.connect(url, compression="gzip")
