"""The same programs against ``websockets`` (the reference, if installed) and
libws.asyncio, asserting the same observable behaviour where it applies."""

from __future__ import annotations

import asyncio
import threading
import time
import logging
import socket

import pytest

from conftest import RawClient, run

import libws
import libws.asyncio

try:
    import websockets
    import websockets.asyncio.client
    import websockets.asyncio.server
    import websockets.exceptions
except ImportError:  # pragma: no cover
    websockets = None


class Impl:
    """One implementation's serve/connect/exception names."""

    def __init__(self, name, serve, connect, closed, closed_ok, closed_error, invalid_status, invalid_handshake, broadcast):
        self.name = name
        self.broadcast = broadcast
        self.serve = serve
        self.connect = connect
        self.ConnectionClosed = closed
        self.ConnectionClosedOK = closed_ok
        self.ConnectionClosedError = closed_error
        self.InvalidStatus = invalid_status
        self.InvalidHandshake = invalid_handshake

    def __repr__(self):
        return self.name


IMPLS = [
    Impl(
        "libws",
        libws.asyncio.serve,
        libws.asyncio.connect,
        libws.ConnectionClosed,
        libws.ConnectionClosedOK,
        libws.ConnectionClosedError,
        getattr(libws, "InvalidStatus", None),
        libws.InvalidHandshake,
        libws.asyncio.broadcast,
    )
]
if websockets is not None:
    IMPLS.append(
        Impl(
            "websockets",
            websockets.asyncio.server.serve,
            websockets.asyncio.client.connect,
            websockets.exceptions.ConnectionClosed,
            websockets.exceptions.ConnectionClosedOK,
            websockets.exceptions.ConnectionClosedError,
            websockets.exceptions.InvalidStatus,
            websockets.exceptions.InvalidHandshake,
            websockets.asyncio.server.broadcast,
        )
    )

impls = pytest.mark.parametrize("impl", IMPLS, ids=repr)


def port_of(server):
    # The usual idiom: server.sockets are socket objects.
    return server.sockets[0].getsockname()[1]


@impls
def test_send_after_the_peer_closed_raises_every_time(impl):
    # The client sent before; the server closes; every later send raises.
    async def handler(ws):
        await ws.recv()
        await ws.close(1000, "bye")

    async def main():
        outcomes = []
        async with impl.serve(handler, "127.0.0.1", 0) as server:
            for _ in range(20):
                ws = await impl.connect(f"ws://127.0.0.1:{port_of(server)}/")
                await ws.send("hi")
                with pytest.raises(impl.ConnectionClosedOK):
                    await ws.recv()
                try:
                    await ws.send("again")
                    outcomes.append("returned")
                except impl.ConnectionClosed as exc:
                    outcomes.append(type(exc).__name__)
        return outcomes

    assert run(main()) == ["ConnectionClosedOK"] * 20


def frames_of(exc):
    rcvd = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd is not None else None
    sent = (exc.sent.code, exc.sent.reason) if exc.sent is not None else None
    return type(exc).__name__, rcvd, sent, exc.rcvd_then_sent


@impls
@pytest.mark.filterwarnings("ignore:ConnectionClosed.code is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:ConnectionClosed.reason is deprecated:DeprecationWarning")
def test_close_frames_received_and_sent(impl):
    # The server closes with a private code: the client sees the frame it
    # received and the echo it sent; then the client closes normally and
    # the server's handler sees what it received and sent.
    seen = {}

    async def handler(ws):
        if ws.request.path == "/server-closes":
            await ws.close(4001, "done")
            seen["server-closer"] = frames_of(await _raises(ws.recv(), impl))
        else:
            seen["handler"] = frames_of(await _raises(ws.recv(), impl))

    async def main():
        async with impl.serve(handler, "127.0.0.1", 0) as server:
            base = f"ws://127.0.0.1:{port_of(server)}"
            async with impl.connect(base + "/server-closes") as ws:
                seen["client-of-closer"] = frames_of(await _raises(ws.recv(), impl))
                exc = await _raises(ws.send("late"), impl)
                seen["late-send"] = (exc.code, exc.reason)
            ws = await impl.connect(base + "/client-closes")
            await ws.close(1000, "bye")
            seen["client-closer"] = frames_of(await _raises(ws.recv(), impl))
            await asyncio.sleep(0.2)

    run(main())
    assert seen == {
        "client-of-closer": ("ConnectionClosedError", (4001, "done"), (4001, "done"), True),
        "server-closer": ("ConnectionClosedError", (4001, "done"), (4001, "done"), False),
        "late-send": (4001, "done"),
        "client-closer": ("ConnectionClosedOK", (1000, "bye"), (1000, "bye"), False),
        "handler": ("ConnectionClosedOK", (1000, "bye"), (1000, "bye"), True),
    }


async def _raises(coro, impl):
    try:
        await coro
    except impl.ConnectionClosed as exc:
        return exc
    raise AssertionError("did not raise ConnectionClosed")


@impls
def test_refused_handshake_is_invalid_status(impl):
    # A websockets server refuses with 403 in process_request: both clients
    # raise InvalidStatus (an InvalidHandshake) carrying the response.
    if websockets is None:
        pytest.skip("websockets is not installed")

    def refuse(connection, request):
        return connection.respond(403, "no\n")

    async def handler(ws):  # pragma: no cover - never reached
        await ws.recv()

    async def main():
        async with websockets.asyncio.server.serve(handler, "127.0.0.1", 0, process_request=refuse) as server:
            try:
                await impl.connect(f"ws://127.0.0.1:{port_of(server)}/")
            except impl.InvalidHandshake as exc:
                return type(exc).__name__, exc.response.status_code, "403" in str(exc)

    assert run(main()) == ("InvalidStatus", 403, True)


@impls
def test_unreachable_servers_raise_oserror(impl):
    async def main():
        s = __import__("socket").socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        out = []
        for url in (f"ws://127.0.0.1:{port}/", "ws://no-such-host.invalid/"):
            try:
                await impl.connect(url, open_timeout=5)
                out.append("connected")
            except OSError as exc:
                out.append(isinstance(exc, (ConnectionError, __import__("socket").gaierror)))
        return out

    assert run(main()) == [True, True]


@impls
def test_server_sockets_and_addresses(impl):
    seen = {}

    async def handler(ws):
        seen["local"] = ws.local_address[:2]
        seen["remote"] = ws.remote_address[:2]
        await ws.send("hi")
        await ws.wait_closed()

    async def main():
        async with impl.serve(handler, "127.0.0.1", 0) as server:
            sock = server.sockets[0]
            assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
            port = sock.getsockname()[1]
            async with impl.connect(f"ws://127.0.0.1:{port}/") as ws:
                assert await ws.recv() == "hi"
                assert ws.remote_address[:2] == ("127.0.0.1", port)
            assert seen["local"] == ("127.0.0.1", port)
            assert seen["remote"][0] == "127.0.0.1" and seen["remote"][1] != port

    run(main())


@impls
def test_recv_decode_and_streaming(impl):
    async def handler(ws):
        for m in ("é", b"\xc3\xa9", "é", b"\xc3\xa9", "x" * 3000):
            await ws.send(m)
        await ws.wait_closed()

    async def main():
        async with impl.serve(handler, "127.0.0.1", 0) as server:
            async with impl.connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                out = [await ws.recv(decode=False), await ws.recv(decode=True), await ws.recv(), await ws.recv()]
                parts = [p async for p in ws.recv_streaming()]
                out.append("".join(parts))
        return out

    assert run(main()) == [b"\xc3\xa9", "é", "é", b"\xc3\xa9", "x" * 3000]


@impls
def test_ping_latency(impl):
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with impl.serve(handler, "127.0.0.1", 0) as server:
            async with impl.connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                assert ws.latency == 0
                rtt = await asyncio.wait_for(await ws.ping(), 5)
                assert 0 < rtt < 5 and ws.latency == rtt

    run(main())


@impls
def test_broadcast_reaches_every_open_connection(impl):
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with impl.serve(handler, "127.0.0.1", 0) as server:
            url = f"ws://127.0.0.1:{port_of(server)}/"
            clients = [await impl.connect(url) for _ in range(3)]
            for _ in range(100):
                if len(server.connections) == 3:
                    break
                await asyncio.sleep(0.02)
            closed = await impl.connect(url)
            await closed.close()
            impl.broadcast(list(server.connections), "to all")
            impl.broadcast(list(server.connections), b"bytes too")
            got = [(await c.recv(), await c.recv()) for c in clients]
            for c in clients:
                await c.close()
        return got

    assert run(main()) == [("to all", b"bytes too")] * 3


@impls
def test_reconnecting_iterator(impl):
    # The server ends every connection after one message; the client's
    # loop connects again after each close, until it breaks.
    count = {"n": 0}

    async def handler(ws):
        count["n"] += 1
        await ws.send(f"connection {count['n']}")

    async def main():
        got = []
        async with impl.serve(handler, "127.0.0.1", 0) as server:
            async for ws in impl.connect(f"ws://127.0.0.1:{port_of(server)}/"):
                try:
                    got.append(await ws.recv())
                    await ws.recv()
                except impl.ConnectionClosed:
                    if len(got) == 3:
                        break
                    continue
        return got

    assert run(main()) == ["connection 1", "connection 2", "connection 3"]


@impls
def test_logger_and_write_limit_are_taken(impl):
    mine = logging.getLogger("parity-test")
    seen = {}

    async def handler(ws):
        seen["server"] = getattr(ws.logger, "logger", ws.logger)
        await ws.send(await ws.recv())

    async def main():
        async with impl.serve(handler, "127.0.0.1", 0, logger=mine, write_limit=4096) as server:
            async with impl.connect(f"ws://127.0.0.1:{port_of(server)}/", logger=mine, write_limit=4096) as ws:
                await ws.send("x" * 100000)  # over the limit: waits for the drain, then completes
                assert await ws.recv() == "x" * 100000
                seen["client"] = getattr(ws.logger, "logger", ws.logger)

    run(main())
    assert seen == {"server": mine, "client": mine}


# -- the blocking API --------------------------------------------------------


class SyncImpl:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name

    def serve(self, handler):
        """Start a server in a thread; returns (port, stop)."""
        if self.name == "libws":
            server = libws.serve(handler, "127.0.0.1", 0)
            port = server.port
        else:
            server = websockets.sync.server.serve(handler, "127.0.0.1", 0)
            port = server.socket.getsockname()[1]
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()

        def stop():
            server.shutdown()
            t.join(5)

        return port, stop

    def connect(self, url, **kw):
        if self.name == "libws":
            return libws.connect(url, **kw)
        return websockets.sync.client.connect(url, **kw)


SYNC_IMPLS = [SyncImpl("libws")]
if websockets is not None:
    import websockets.sync.client
    import websockets.sync.server

    SYNC_IMPLS.append(SyncImpl("websockets"))

sync_impls = pytest.mark.parametrize("impl", SYNC_IMPLS, ids=repr)


@sync_impls
def test_blocking_handler_request_timeout_and_ping(impl):
    def handler(ws):
        ws.send(repr((ws.request.path, ws.request.headers["X-Test"], ws.remote_address[0])))
        time.sleep(2.0)  # quiet long enough for the client's recv(timeout) to expire
        ws.send("late")
        ws.send(ws.recv())

    port, stop = impl.serve(handler)
    try:
        with impl.connect(f"ws://127.0.0.1:{port}/p?q=1", additional_headers={"X-Test": "yes"}) as ws:
            assert ws.recv() == repr(("/p?q=1", "yes", "127.0.0.1"))
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0.1)
            assert time.monotonic() - t0 < 1.9  # before "late" was sent
            assert ws.recv(timeout=5) == "late"  # still usable after the timeout
            pong = ws.ping()
            assert pong.wait(5)
            ws.send("echo me")
            assert ws.recv(timeout=5) == "echo me"
    finally:
        stop()


def test_blocking_ping_wait_keeps_the_messages_it_reads():
    # libws only: waiting for a pong on the thread that reads takes the
    # messages that come first and leaves them, in order, for recv.
    def handler(ws):
        for i in range(3):
            ws.send(f"m{i}")
        ws.recv()

    port, stop = SyncImpl("libws").serve(handler)
    try:
        with libws.connect(f"ws://127.0.0.1:{port}/") as ws:
            time.sleep(0.2)  # the three messages arrive before the pong
            assert ws.ping(b"k1").wait(5)
            assert ws.latency > 0
            assert [ws.recv(timeout=5) for _ in range(3)] == ["m0", "m1", "m2"]
            ws.send("done")
    finally:
        stop()


# -- keepalive -------------------------------------------------------------------


@impls
def test_keepalive_closes_a_peer_that_never_pongs(impl):
    # A raw client that completes the handshake and then never answers a
    # ping: the server closes it within ping_interval + ping_timeout, with
    # 1011, and its handler sees ConnectionClosedError.
    seen = {}

    async def handler(ws):
        try:
            await ws.recv()
        except impl.ConnectionClosed as exc:
            seen["exc"] = (type(exc).__name__, exc.sent.code if exc.sent else None, exc.rcvd)
            seen["reason"] = exc.sent.reason

    async def main():
        loop = asyncio.get_running_loop()
        async with impl.serve(handler, "127.0.0.1", 0, ping_interval=0.3, ping_timeout=0.3) as server:
            c = await loop.run_in_executor(None, RawClient, port_of(server))
            t0 = loop.time()
            evs = await loop.run_in_executor(None, lambda: c.events(lambda e: isinstance(e, libws.Close), timeout=5))
            elapsed = loop.time() - t0
            c.close()
            for _ in range(100):
                if "exc" in seen:
                    break
                await asyncio.sleep(0.02)
        return evs, elapsed

    evs, elapsed = run(main())
    assert any(isinstance(e, libws.Ping) for e in evs), evs
    assert isinstance(evs[-1], libws.Close) and evs[-1].code == 1011, evs
    assert elapsed < 3.0  # 0.3 + 0.3 with slack for a loaded machine
    assert seen["exc"] == ("ConnectionClosedError", 1011, None)
    assert evs[-1].reason == seen["reason"] == "keepalive ping timeout"


def test_keepalive_client_side_and_default():
    # A libws client against a raw server that never pongs; and the
    # defaults are websockets' (20 s, 20 s).
    import inspect

    for fn in (libws.asyncio.serve, libws.asyncio.connect):
        params = inspect.signature(fn).parameters
        assert (params["ping_interval"].default, params["ping_timeout"].default) == (20.0, 20.0)

    async def main():
        loop = asyncio.get_running_loop()
        lsock = socket.create_server(("127.0.0.1", 0))
        lsock.setblocking(False)
        port = lsock.getsockname()[1]

        async def raw_server():
            conn, _ = await loop.sock_accept(lsock)
            req = b""
            while b"\r\n\r\n" not in req:
                req += await loop.sock_recv(conn, 4096)
            key = [ln.split(b":", 1)[1].strip() for ln in req.split(b"\r\n") if ln.lower().startswith(b"sec-websocket-key")][0]
            await loop.sock_sendall(
                conn,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + libws.accept_key(key.decode()).encode() + b"\r\n\r\n",
            )
            return conn  # reads nothing more, answers nothing

        server_task = asyncio.ensure_future(raw_server())
        ws = await libws.asyncio.connect(f"ws://127.0.0.1:{port}/", ping_interval=0.3, ping_timeout=0.3)
        t0 = loop.time()
        with pytest.raises(libws.ConnectionClosedError) as e:
            await ws.recv()
        elapsed = loop.time() - t0
        (await server_task).close()
        lsock.close()
        return e.value, elapsed

    exc, elapsed = run(main())
    assert exc.sent is not None and exc.sent.code == 1011 and exc.rcvd is None
    assert elapsed < 3.0


def test_keepalive_off():
    # ping_interval=None: no ping at all.
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        loop = asyncio.get_running_loop()
        async with libws.asyncio.serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
            c = await loop.run_in_executor(None, RawClient, port_of(server))
            try:
                c.sock.settimeout(1.0)
                with pytest.raises(socket.timeout):
                    c.sock.recv(100)
            finally:
                c.close()

    run(main())


@impls
def test_serve_on_an_existing_listening_socket(impl):
    async def handler(ws):
        await ws.send(await ws.recv())

    async def main():
        sock = socket.create_server(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with impl.serve(handler, sock=sock) as server:
            assert port_of(server) == port
            async with impl.connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("via sock")
                return await ws.recv()

    assert run(main()) == "via sock"


def test_serve_sock_with_host_is_refused():
    with socket.create_server(("127.0.0.1", 0)) as sock:
        with pytest.raises(ValueError):
            libws.asyncio.serve(None, "127.0.0.1", 0, sock=sock)


# -- handshake control ------------------------------------------------------------


def _clients():
    out = [("libws", libws.asyncio.connect)]
    if websockets is not None:
        out.append(("websockets", websockets.asyncio.client.connect))
    return out


@impls
def test_process_request_refuses_before_the_101(impl):
    # Auth in process_request (sync and async forms): a client without the
    # token gets HTTP 401 (body included, as a websockets client sees it),
    # never an open connection; a client with it is served.
    async def check_sync(connection, request):
        if request.headers.get("Authorization") != "Bearer ok":
            return connection.respond(401, "no token\n")
        return None

    async def check_async(connection, request):
        await asyncio.sleep(0.01)  # e.g. a database
        return check_sync_plain(connection, request)

    def check_sync_plain(connection, request):
        if request.headers.get("Authorization") != "Bearer ok":
            return connection.respond(401, "no token\n")
        return None

    async def handler(ws):
        await ws.send(ws.request.path)

    async def main():
        out = []
        for check in (check_sync_plain, check_async):
            async with impl.serve(handler, "127.0.0.1", 0, process_request=check) as server:
                url = f"ws://127.0.0.1:{port_of(server)}/secret"
                for name, connect in _clients():
                    try:
                        await connect(url)
                        out.append("opened")
                    except Exception as exc:
                        if name == "websockets":  # the libws client does not keep the body
                            assert exc.response.body == b"no token\n"
                        out.append((type(exc).__name__, exc.response.status_code))
                    async with connect(url, additional_headers={"Authorization": "Bearer ok"}) as ws:
                        out.append(await ws.recv())
        return out

    n = len(_clients())
    assert run(main()) == [("InvalidStatus", 401), "/secret"] * n * 2


@impls
def test_process_response_and_select_subprotocol(impl):
    def add_header(connection, request, response):
        response.headers["X-Served-By"] = "parity"

    def select(connection, offered):
        return "chat" if "chat" in offered else None

    async def handler(ws):
        await ws.send(ws.subprotocol or "none")

    async def main():
        out = []
        async with impl.serve(
            handler, "127.0.0.1", 0, process_response=add_header, select_subprotocol=select
        ) as server:
            url = f"ws://127.0.0.1:{port_of(server)}/"
            for name, connect in _clients():
                for offered in (["x", "chat"], ["x"]):
                    async with connect(url, subprotocols=offered) as ws:
                        out.append((ws.subprotocol, await ws.recv(), ws.response.headers["X-Served-By"]))
        return out

    assert run(main()) == [("chat", "chat", "parity"), (None, "none", "parity")] * len(_clients())


@impls
def test_process_request_that_raises_gives_500(impl, caplog):
    def broken(connection, request):
        raise RuntimeError("bug in the app")

    async def handler(ws):  # pragma: no cover
        await ws.recv()

    async def main():
        async with impl.serve(handler, "127.0.0.1", 0, process_request=broken) as server:
            with pytest.raises(impl.InvalidStatus) as e:
                await impl.connect(f"ws://127.0.0.1:{port_of(server)}/")
            return e.value.response.status_code

    assert run(main()) == 500


@sync_impls
def test_blocking_connect_errors(impl):
    # Refused handshake: InvalidStatus with the status; unreachable: OSError.
    if websockets is None:
        pytest.skip("websockets is not installed")

    def refuse(connection, request):
        return connection.respond(403, "no\n")

    server = websockets.sync.server.serve(lambda ws: None, "127.0.0.1", 0, process_request=refuse)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        with pytest.raises(impl_exc(impl, "InvalidStatus")) as e:
            impl.connect(f"ws://127.0.0.1:{server.socket.getsockname()[1]}/")
        assert e.value.response.status_code == 403
    finally:
        server.shutdown()
        t.join(5)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    for url in (f"ws://127.0.0.1:{port}/", "ws://no-such-host.invalid/"):
        with pytest.raises(OSError):
            impl.connect(url)


def impl_exc(impl, name):
    return getattr(libws if impl.name == "libws" else websockets.exceptions, name)


@impls
def test_send_text_argument(impl):
    async def handler(ws):
        for _ in range(2):
            m = await ws.recv()
            await ws.send(type(m).__name__)

    async def main():
        async with impl.serve(handler, "127.0.0.1", 0) as server:
            async with impl.connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                await ws.send("é".encode(), text=True)
                await ws.send("é", text=False)
                return [await ws.recv(), await ws.recv()]

    assert run(main()) == ["str", "bytes"]


def test_process_request_response_the_hub_cannot_send_gives_500():
    # A status outside 200..599 is refused by ws_hub_reject: the client
    # gets 500 instead, and the server goes on serving.
    def odd(connection, request):
        if request.path == "/odd":
            return libws.Response(99, "", None, b"")
        return None

    async def handler(ws):
        await ws.send("fine")

    async def main():
        async with libws.asyncio.serve(handler, "127.0.0.1", 0, process_request=odd) as server:
            url = f"ws://127.0.0.1:{port_of(server)}"
            with pytest.raises(libws.InvalidStatus) as e:
                await libws.asyncio.connect(url + "/odd")
            async with libws.asyncio.connect(url + "/") as ws:
                return e.value.response.status_code, await ws.recv()

    assert run(main()) == (500, "fine")


@impls
def test_send_while_closing_raises_once_closed(impl):
    # A send after close() started waits for the end of the close
    # handshake and raises the ConnectionClosed that tells how it ended.
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with impl.serve(handler, "127.0.0.1", 0) as server:
            ws = await impl.connect(f"ws://127.0.0.1:{port_of(server)}/")
            closing = asyncio.ensure_future(ws.close(1000, "bye"))
            await asyncio.sleep(0)
            try:
                await ws.send("too late")
                return "returned"
            except impl.ConnectionClosed as exc:
                await closing
                return frames_of(exc)

    assert run(main()) == ("ConnectionClosedOK", (1000, "bye"), (1000, "bye"), False)
