"""Topics of libws.asyncio (docs/hub-contract.md, Topics): ws.subscribe /
ws.unsubscribe, server.publish / server.topic_count, and servers sharing a
real redis-server through ``broker=``. Clients are ``websockets``."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from typing import Any, List

import pytest
import websockets
from conftest import free_port, run, wait_for

import libws
import libws.asyncio as lwa

TOPIC = "room"


def _topic_handler(ready_reply: str = "ready"):  # type: ignore[no-untyped-def]
    """A handler that subscribes its connection to TOPIC, says so (the
    reply follows the subscription in the batch, so once a client reads it
    the subscription is in place), then obeys simple commands."""

    async def handler(ws: lwa.ServerConnection) -> None:
        ws.subscribe(TOPIC)
        await ws.send(ready_reply)
        async for msg in ws:
            if msg == "leave":
                ws.unsubscribe(TOPIC)
                await ws.send("left")
            elif msg == "join":
                ws.subscribe(TOPIC)
                await ws.send("joined")
            elif isinstance(msg, str) and msg.startswith("say:"):
                # A chat message goes to everybody else in the room.
                handler.server.publish(TOPIC, msg[4:], exclude=ws)  # type: ignore[attr-defined]
            elif msg == "ping-me":
                await ws.send("pong-you")

    return handler


async def _subscribers(port: int, n: int) -> List[Any]:
    clients = await asyncio.gather(*(websockets.connect(f"ws://127.0.0.1:{port}/") for _ in range(n)))
    for c in clients:
        assert await wait_for(c.recv()) == "ready"
    return list(clients)


async def _close_all(clients: List[Any]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def _quiet(c: Any) -> None:
    """Asserts the client got nothing else: a direct round trip follows
    anything published to it before."""
    await c.send("ping-me")
    assert await wait_for(c.recv()) == "pong-you"


def test_fanout_to_every_subscriber_text_and_binary() -> None:
    async def main() -> None:
        h = _topic_handler()
        async with lwa.serve(h, "127.0.0.1", 0) as server:
            h.server = server  # type: ignore[attr-defined]
            clients = await _subscribers(server.port, 25)
            assert server.topic_count(TOPIC) == 25
            assert server.topic_count("nobody-here") == 0
            for i in range(50):
                server.publish(TOPIC, f"m{i}")
            server.publish(TOPIC, b"\x00\xffbin")
            server.publish(TOPIC, bytearray(b"ba"))
            for c in clients:
                got = [await wait_for(c.recv()) for _ in range(52)]
                assert got == [f"m{i}" for i in range(50)] + [b"\x00\xffbin", b"ba"]
                await _quiet(c)
            await _close_all(clients)

    run(main())


def test_exclude_leaves_out_the_sender() -> None:
    async def main() -> None:
        h = _topic_handler()
        async with lwa.serve(h, "127.0.0.1", 0) as server:
            h.server = server  # type: ignore[attr-defined]
            a, b, c = await _subscribers(server.port, 3)
            await a.send("say:hello")
            assert await wait_for(b.recv()) == "hello"
            assert await wait_for(c.recv()) == "hello"
            await _quiet(a)  # the sender got nothing
            await _close_all([a, b, c])

    run(main())


def test_exclude_of_another_server_excludes_nobody() -> None:
    async def main() -> None:
        h1, h2 = _topic_handler(), _topic_handler()
        async with lwa.serve(h1, "127.0.0.1", 0) as s1, lwa.serve(h2, "127.0.0.1", 0) as s2:
            h1.server, h2.server = s1, s2  # type: ignore[attr-defined]
            (a,) = await _subscribers(s1.port, 1)
            others = await _subscribers(s2.port, 40)  # ids beyond s1's
            (foreign,) = [ws for ws in s2.connections if ws.id not in {w.id for w in s1.connections}][:1]
            s1.publish(TOPIC, "to-a", exclude=foreign)
            assert await wait_for(a.recv()) == "to-a"
            await _quiet(a)
            await _close_all([a, *others])

    run(main())


def test_unsubscribe_and_subscribe_again() -> None:
    async def main() -> None:
        h = _topic_handler()
        async with lwa.serve(h, "127.0.0.1", 0) as server:
            h.server = server  # type: ignore[attr-defined]
            a, b = await _subscribers(server.port, 2)
            await a.send("leave")
            assert await wait_for(a.recv()) == "left"
            assert server.topic_count(TOPIC) == 1
            server.publish(TOPIC, "only-b")
            assert await wait_for(b.recv()) == "only-b"
            await _quiet(a)
            await a.send("join")
            assert await wait_for(a.recv()) == "joined"
            await a.send("join")  # twice is once
            assert await wait_for(a.recv()) == "joined"
            assert server.topic_count(TOPIC) == 2
            server.publish(TOPIC, "both")
            assert await wait_for(a.recv()) == "both"
            assert await wait_for(b.recv()) == "both"
            await _quiet(a)
            await _close_all([a, b])

    run(main())


def test_subscriber_that_disconnects_leaves_the_topic() -> None:
    async def main() -> None:
        h = _topic_handler()
        async with lwa.serve(h, "127.0.0.1", 0) as server:
            h.server = server  # type: ignore[attr-defined]
            clients = await _subscribers(server.port, 6)
            gone, stay = clients[:3], clients[3:]
            await gone[0].close()  # a clean close
            gone[1].transport.abort()  # a reset, no close frame
            # One drops while publishes to it are going out.
            for i in range(200):
                server.publish(TOPIC, f"x{i}")
                if i == 100:
                    gone[2].transport.abort()
            deadline = time.monotonic() + 10
            while server.topic_count(TOPIC) != 3:
                assert time.monotonic() < deadline, server.topic_count(TOPIC)
                await asyncio.sleep(0.02)
            server.publish(TOPIC, "after")
            for c in stay:
                got = [await wait_for(c.recv()) for _ in range(201)]
                assert got == [f"x{i}" for i in range(200)] + ["after"]
            assert len(server.connections) == 3
            await _close_all(stay)

    run(main())


def test_bad_topics_and_messages_raise() -> None:
    async def main() -> None:
        errors: List[BaseException] = []

        async def handler(ws: lwa.ServerConnection) -> None:
            for bad in ("", b"", "x" * 1025):
                try:
                    ws.subscribe(bad)
                except ValueError as exc:
                    errors.append(exc)
            try:
                ws.subscribe(5)  # type: ignore[arg-type]
            except TypeError as exc:
                errors.append(exc)
            ws.subscribe("x" * 1024)  # the longest name
            ws.subscribe(b"\x00bin\xff")  # any bytes
            await ws.send("ok")
            await ws.wait_closed()

        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/") as c:
                assert await wait_for(c.recv()) == "ok"
                assert server.topic_count("x" * 1024) == 1
                server.publish(b"\x00bin\xff", "to-binary-name")
                assert await wait_for(c.recv()) == "to-binary-name"
                with pytest.raises(TypeError):
                    server.publish("t", 5)  # type: ignore[arg-type]
                with pytest.raises(ValueError):
                    server.publish("", "m")
                with pytest.raises(ValueError):
                    server.topic_count(b"a\x00b")
            assert len(errors) == 4

    run(main())


def test_malformed_broker_url_raises() -> None:
    async def main() -> None:
        with pytest.raises(libws.WebSocketError):
            await lwa.serve(_topic_handler(), "127.0.0.1", 0, broker="http://nope")

    run(main())


def test_reuse_port_shares_a_port() -> None:
    async def main() -> None:
        h1, h2 = _topic_handler("one"), _topic_handler("two")
        async with lwa.serve(h1, "127.0.0.1", 0, reuse_port=True) as s1:
            async with lwa.serve(h2, "127.0.0.1", s1.port, reuse_port=True) as s2:
                assert s2.port == s1.port
                seen = set()
                clients = []
                for _ in range(40):
                    c = await websockets.connect(f"ws://127.0.0.1:{s1.port}/")
                    clients.append(c)
                    seen.add(await wait_for(c.recv()))
                    if seen == {"one", "two"}:
                        break
                assert seen == {"one", "two"}
                await _close_all(clients)

    run(main())


# -- two servers sharing a real redis-server ---------------------------------


def _start_redis(port: int) -> "subprocess.Popen[bytes]":
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop_redis(proc)
                pytest.fail("redis-server did not start")
            time.sleep(0.05)


def _stop_redis(proc: "subprocess.Popen[bytes]") -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def _redis(restartable: bool = False):  # type: ignore[no-untyped-def]
    """A redis-server of its own on a free port, stopped at the end. With
    restartable, yields (url, restart): restart() stops it and starts it
    again on the same port."""
    port = free_port()
    procs = [_start_redis(port)]

    def restart() -> None:
        _stop_redis(procs[0])
        time.sleep(0.5)  # the hubs notice the outage
        procs[0] = _start_redis(port)

    url = f"redis://127.0.0.1:{port}/0"
    try:
        yield (url, restart) if restartable else url
    finally:
        _stop_redis(procs[0])


def test_two_servers_share_topics_through_redis_exactly_once() -> None:
    N = 200

    async def main(url: str) -> None:
        ha, hb = _topic_handler(), _topic_handler()
        async with lwa.serve(ha, "127.0.0.1", 0, broker=url) as sa, lwa.serve(hb, "127.0.0.1", 0, broker=url) as sb:
            ha.server, hb.server = sa, sb  # type: ignore[attr-defined]
            on_a = await _subscribers(sa.port, 3)
            on_b = await _subscribers(sb.port, 3)
            everyone = on_a + on_b

            # Warm up: until each server's publishes reach the other one's
            # subscribers (both hubs connected and subscribed in Redis).
            async def warm(src: lwa.Server, dst: Any, tag: str) -> None:
                i = 0
                while True:
                    src.publish(TOPIC, f"warm-{tag}-{i}")
                    i += 1
                    try:
                        while True:
                            m = await asyncio.wait_for(dst.recv(), 0.2)
                            if isinstance(m, str) and m.startswith(f"warm-{tag}-"):
                                return
                    except asyncio.TimeoutError:
                        pass

            await wait_for(warm(sa, on_b[0], "a"), 15)
            await wait_for(warm(sb, on_a[0], "b"), 15)
            for i in range(N):
                sa.publish(TOPIC, f"a{i}")
                sb.publish(TOPIC, f"b{i}".encode())
                if i % 50 == 0:
                    await asyncio.sleep(0)
            sa.publish(TOPIC, "end-a")
            sb.publish(TOPIC, "end-b")

            async def collect(c: Any) -> List[Any]:
                got: List[Any] = []
                ends = 0
                while ends < 2:
                    m = await c.recv()
                    if isinstance(m, str) and m.startswith("warm-"):
                        continue
                    got.append(m)
                    if m in ("end-a", "end-b"):
                        ends += 1
                return got

            results = await wait_for(asyncio.gather(*(collect(c) for c in everyone)), 20)
            for got in results:
                from_a = [m for m in got if isinstance(m, str)]
                from_b = [m for m in got if isinstance(m, bytes)]
                # Exactly once, in each publisher's order.
                assert [m for m in from_a if not m.startswith("end-")] == [f"a{i}" for i in range(N)]
                assert from_b == [f"b{i}".encode() for i in range(N)]
                assert got.count("end-a") == 1 and got.count("end-b") == 1
            for c in everyone:
                await _quiet(c)  # nothing after: no duplicates late
            assert sa.topic_count(TOPIC) == 3 and sb.topic_count(TOPIC) == 3
            await _close_all(everyone)

    with _redis() as url:
        run(main(url), timeout=60)


def test_broker_down_local_delivery_goes_on_and_is_logged(caplog: Any) -> None:
    from conftest import closed_port

    url = f"redis://127.0.0.1:{closed_port()}/0"

    async def main() -> None:
        h = _topic_handler()
        async with lwa.serve(h, "127.0.0.1", 0, broker=url) as server:
            h.server = server  # type: ignore[attr-defined]
            clients = await _subscribers(server.port, 3)
            server.publish(TOPIC, "local")
            for c in clients:
                assert await wait_for(c.recv()) == "local"
            deadline = time.monotonic() + 10
            while not any("broker unreachable" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "no broker outage logged"
                await asyncio.sleep(0.05)
            await _close_all(clients)

    with caplog.at_level("INFO", logger="libws.server"):
        run(main())


def test_broker_restarted_delivery_resumes(caplog: Any) -> None:
    """Redis stops and comes back on the same port: both servers reconnect
    and resubscribe by themselves, and publishes cross again."""

    async def main(url: str, restart: Any) -> None:
        ha, hb = _topic_handler(), _topic_handler()
        async with lwa.serve(ha, "127.0.0.1", 0, broker=url) as sa, lwa.serve(hb, "127.0.0.1", 0, broker=url) as sb:
            ha.server, hb.server = sa, sb  # type: ignore[attr-defined]
            (a,) = await _subscribers(sa.port, 1)
            (b,) = await _subscribers(sb.port, 1)

            async def crosses(tag: str) -> None:
                i = 0
                while True:
                    sa.publish(TOPIC, f"{tag}-{i}")
                    i += 1
                    try:
                        while True:
                            m = await asyncio.wait_for(b.recv(), 0.2)
                            if m.startswith(f"{tag}-"):
                                return
                    except asyncio.TimeoutError:
                        pass

            await wait_for(crosses("before"), 15)
            await asyncio.get_running_loop().run_in_executor(None, restart)
            await wait_for(crosses("after"), 20)
            await _close_all([a, b])

    with caplog.at_level("INFO", logger="libws.server"):
        with _redis(restartable=True) as (url, restart):
            run(main(url, restart), timeout=60)
    msgs = [r.getMessage() for r in caplog.records]
    assert any("broker unreachable" in m for m in msgs), msgs
    assert sum("broker connected" in m for m in msgs) >= 4, msgs  # 2 servers × (start + recovery)
