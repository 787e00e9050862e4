"""Blocking API: connect, serve / Server, WebSocket."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from conftest import PKG_ROOT, RawClient, closed_port, join

import libws

TLS_DIR = os.path.join(PKG_ROOT, "..", "..", "tests", "c", "data")


def echo(ws):
    for message in ws:
        ws.send(message)


class Running:
    """A Server running serve_forever in a thread."""

    def __init__(self, handler=echo, **kw):
        self.server = libws.serve(handler, "127.0.0.1", 0, **kw)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"ws://127.0.0.1:{self.server.port}/"

    def stop(self):
        self.server.shutdown()
        join(self.thread)


@pytest.fixture
def echo_server():
    r = Running()
    yield r
    r.stop()


def test_echo_text_binary(echo_server):
    with libws.connect(echo_server.url) as ws:
        assert isinstance(ws, libws.ClientConnection)
        ws.send("héllo €")
        assert ws.recv() == "héllo €"
        ws.send(b"\x00\xff")
        assert ws.recv() == b"\x00\xff"
        ws.send(bytearray(b"ba"))
        assert ws.recv() == b"ba"
        ws.send(memoryview(b"xmvx")[1:3])
        assert ws.recv() == b"mv"
        ws.send("")
        assert ws.recv() == ""
        ws.send(b"")
        assert ws.recv() == b""
        assert ws.subprotocol is None
        assert "open" in repr(ws)


def test_fragmented_and_raw_frames(echo_server):
    with libws.connect(echo_server.url) as ws:
        ws.send(["frag", "mé", "nted"])
        assert ws.recv() == "fragménted"
        ws.send(iter([b"a", bytearray(b"b"), memoryview(b"c")]))
        assert ws.recv() == b"abc"
        ws.send_frame(libws.OP_BINARY, b"1", fin=False)
        ws.send_frame(libws.OP_PING, b"between")
        ws.send_frame(libws.OP_CONTINUATION, b"2", fin=True)
        assert ws.recv() == b"12"
        with pytest.raises(ValueError):
            ws.send([])
        with pytest.raises(TypeError):
            ws.send(["a", b"b"])
        with pytest.raises(TypeError):
            ws.send(12)


def test_large_messages(echo_server):
    big = os.urandom(5 << 20)
    with libws.connect(echo_server.url) as ws:
        ws.send(big)
        assert ws.recv() == big
        text = "ü" * (3 << 20)
        ws.send(text)
        assert ws.recv() == text


def test_ping_pong(echo_server):
    with libws.connect(echo_server.url) as ws:
        ws.ping()
        ws.ping(b"x" * 125)
        ws.ping("text payload")
        ws.pong(b"unsolicited")
        ws.send("after")
        assert ws.recv() == "after"
        with pytest.raises(libws.WebSocketError) as e:
            ws.ping(b"x" * 126)
        assert e.value.code == libws.EINVAL


def test_recv_into(echo_server):
    with libws.connect(echo_server.url) as ws:
        ws.send(b"0123456789")
        small = bytearray(4)
        with pytest.raises(libws.WebSocketError) as e:
            ws.recv_into(small)
        assert e.value.code == libws.ENOSPACE and e.value.needed == 10
        buf = bytearray(64)
        assert ws.recv_into(buf) == (10, False)  # the message was kept
        assert buf[:10] == b"0123456789"
        ws.send("txt")
        assert ws.recv_into(memoryview(buf)[5:]) == (3, True)
        assert buf[5:8] == b"txt"


def test_iteration_ends_on_normal_close():
    def handler(ws):
        for i in range(3):
            ws.send(f"m{i}")
        ws.close(1000, "done")

    r = Running(handler)
    try:
        with libws.connect(r.url) as ws:
            assert list(ws) == ["m0", "m1", "m2"]
            assert (ws.close_code, ws.close_reason) == (1000, "done")
            with pytest.raises(libws.ConnectionClosedOK) as e:
                ws.recv()
            assert e.value.close_code == 1000 and e.value.status == libws.ECLOSED
            with pytest.raises(libws.ConnectionClosed):
                ws.send("late")
    finally:
        r.stop()


def test_iteration_raises_on_error_close():
    def handler(ws):
        ws.send("only")
        ws.close(4000, "app error")

    r = Running(handler)
    try:
        with libws.connect(r.url) as ws:
            got = []
            with pytest.raises(libws.ConnectionClosedError) as e:
                for m in ws:
                    got.append(m)
            assert got == ["only"]
            assert (e.value.close_code, e.value.close_reason) == (4000, "app error")
    finally:
        r.stop()


def test_handler_return_and_exception_close_codes():
    def returns(ws):
        ws.recv()

    def raises(ws):
        ws.recv()
        raise RuntimeError("handler bug (expected by the test)")

    for handler, code in ((returns, 1000), (raises, 1011)):
        r = Running(handler)
        try:
            ws = libws.connect(r.url)
            ws.send("go")
            with pytest.raises(libws.ConnectionClosed):
                ws.recv()
            assert ws.close_code == code
            ws.free()
        finally:
            r.stop()


def test_client_close_code_reaches_server():
    seen = {}
    done = threading.Event()

    def handler(ws):
        try:
            ws.recv()
        except libws.ConnectionClosed as e:
            seen["exc"] = e
            seen["code"] = (ws.close_code, ws.close_reason)
            done.set()

    r = Running(handler)
    try:
        ws = libws.connect(r.url)
        ws.close(4001, "client says bye")
        assert ws.close_code == 4001  # the echo of the close handshake
        ws.close()  # no-op once closed
        ws.free()
        assert done.wait(5)
        assert seen["code"] == (4001, "client says bye")
        assert isinstance(seen["exc"], libws.ConnectionClosedError)
    finally:
        r.stop()


def test_close_invalid_code(echo_server):
    with libws.connect(echo_server.url) as ws:
        with pytest.raises(libws.WebSocketError) as e:
            ws.close(1005)
        assert e.value.code == libws.EINVAL
        ws.send("still open")
        assert ws.recv() == "still open"


def test_free_and_bad_handle(echo_server):
    ws = libws.connect(echo_server.url)
    ws.free()
    ws.free()
    assert "freed" in repr(ws)
    for call in (ws.recv, lambda: ws.send("x"), ws.ping, lambda: ws.send_frame(1, b"")):
        with pytest.raises(libws.ConnectionClosed) as e:
            call()
        assert e.value.status == libws.ECLOSED
    ws.close()  # no-op


def test_free_unblocks_reader(echo_server):
    ws = libws.connect(echo_server.url)
    errors = []

    def reader():
        try:
            ws.recv()
        except libws.WebSocketError as e:
            errors.append(e)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.1)
    ws.free()
    join(t, 5)
    assert errors and isinstance(errors[0], libws.ConnectionClosed)


def test_read_and_write_from_two_threads(echo_server):
    n = 300
    with libws.connect(echo_server.url) as ws:
        got = []

        def reader():
            for _ in range(n):
                got.append(ws.recv())

        t = threading.Thread(target=reader)
        t.start()
        for i in range(n):
            ws.send(str(i))
        join(t)
        assert got == [str(i) for i in range(n)]


def test_close_while_another_thread_reads(echo_server):
    ws = libws.connect(echo_server.url)
    result = []

    def reader():
        try:
            ws.recv()
        except libws.ConnectionClosed as e:
            result.append(e)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.1)
    ws.close(1000, "from main")
    join(t)
    assert isinstance(result[0], libws.ConnectionClosedOK)
    assert ws.close_code == 1000
    ws.free()


def test_invalid_url():
    for url in ("http://example.com/", "ws://", "not a url", "ws:///path"):
        with pytest.raises(libws.WebSocketError) as e:
            libws.connect(url)
        assert e.value.code == libws.EINVAL, url
        assert "URL" in e.value.message


def test_connection_refused():
    with pytest.raises(libws.WebSocketError) as e:
        libws.connect(f"ws://127.0.0.1:{closed_port()}/")
    assert e.value.code == libws.EIO
    assert "refused" in e.value.message


def test_open_timeout():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)  # accepts TCP, never answers the handshake
    try:
        t0 = time.monotonic()
        with pytest.raises(libws.WebSocketTimeout) as e:
            libws.connect(f"ws://127.0.0.1:{s.getsockname()[1]}/", open_timeout=0.3)
        assert e.value.code == libws.ETIMEDOUT
        assert time.monotonic() - t0 < 5
    finally:
        s.close()


def test_handshake_refused_by_origin():
    r = Running(origins=["https://good.example"])
    try:
        with pytest.raises(libws.InvalidHandshake) as e:
            libws.connect(r.url, origin="https://evil.example")
        assert e.value.code == libws.EHANDSHAKE and "403" in e.value.message
        with libws.connect(r.url, origin="https://good.example") as ws:
            ws.send("ok")
            assert ws.recv() == "ok"
        with libws.connect(r.url) as ws:  # no Origin header: not a browser
            ws.send("ok")
            assert ws.recv() == "ok"
    finally:
        r.stop()


def test_subprotocols():
    r = Running(subprotocols=["chat.v2", "chat.v1"])
    try:
        with libws.connect(r.url, subprotocols=["chat.v1", "chat.v2"]) as ws:
            assert ws.subprotocol == "chat.v2"
        with libws.connect(r.url, subprotocols=["chat.v1"]) as ws:
            assert ws.subprotocol == "chat.v1"
        with libws.connect(r.url) as ws:
            assert ws.subprotocol is None
    finally:
        r.stop()


def test_oversize_message_closes_1009():
    seen = {}

    def handler(ws):
        try:
            ws.recv()
        except libws.ConnectionClosed as e:
            seen["exc"] = e

    r = Running(handler, max_size=1000)
    try:
        ws = libws.connect(r.url)
        ws.send(b"x" * 1001)
        with pytest.raises(libws.ConnectionClosedError):
            ws.recv()
        assert ws.close_code == 1009
        ws.free()
        r.stop()
        e = seen["exc"]
        assert isinstance(e, libws.ConnectionClosedError)
        assert e.status == libws.ETOOBIG and e.close_code == 1009
    finally:
        r.stop()


def test_client_max_size():
    def handler(ws):
        ws.send(b"y" * 2000)
        ws.recv()

    r = Running(handler)
    try:
        ws = libws.connect(r.url, max_size=1000)
        with pytest.raises(libws.ConnectionClosedError) as e:
            ws.recv()
        assert e.value.status == libws.ETOOBIG and e.value.close_code == 1009
        assert ws.close_code == 1009
        ws.free()
    finally:
        r.stop()


def test_invalid_utf8_from_peer_closes_1007():
    seen = {}

    def handler(ws):
        try:
            ws.recv()
        except libws.ConnectionClosed as e:
            seen["exc"] = e
            seen["code"] = ws.close_code

    r = Running(handler)
    try:
        ws = libws.connect(r.url)
        ws.send_frame(libws.OP_TEXT, b"\xff\xfe\xfd")  # libws does not check what it sends
        with pytest.raises(libws.ConnectionClosedError):
            ws.recv()
        assert ws.close_code == 1007
        ws.free()
        r.stop()
        assert seen["exc"].status == libws.EUTF8 and seen["code"] == 1007
    finally:
        r.stop()


def test_protocol_error_from_raw_peer_closes_1002():
    seen = {}
    done = threading.Event()

    def handler(ws):
        try:
            ws.recv()
        except libws.ConnectionClosed as e:
            seen["exc"] = e
            done.set()

    r = Running(handler)
    try:
        raw = RawClient(r.server.port)
        raw.send_raw(libws.encode_frame(libws.OP_TEXT, b"unmasked"))  # clients must mask
        evs = raw.events(lambda e: isinstance(e, libws.Close))
        assert evs[-1] == libws.Close(1002, evs[-1].reason)
        raw.close()
        assert done.wait(5)
        assert seen["exc"].status == libws.EPROTO and seen["exc"].close_code == 1002
    finally:
        r.stop()


def test_peer_drops_connection_1006():
    seen = {}
    done = threading.Event()

    def handler(ws):
        try:
            ws.recv()
        except libws.ConnectionClosed as e:
            seen["exc"] = e
            done.set()

    r = Running(handler)
    try:
        raw = RawClient(r.server.port)
        raw.close()
        assert done.wait(5)
        assert isinstance(seen["exc"], libws.ConnectionClosedError)
        assert seen["exc"].close_code == 1006
    finally:
        r.stop()


def test_read_timeout(echo_server):
    with libws.connect(echo_server.url, read_timeout=0.2) as ws:
        t0 = time.monotonic()
        with pytest.raises(libws.WebSocketTimeout) as e:
            ws.recv()
        assert e.value.code == libws.ETIMEDOUT
        assert time.monotonic() - t0 < 3


def test_accept_timeouts_and_shutdown():
    server = libws.serve(None, "127.0.0.1", 0)
    try:
        with pytest.raises(libws.WebSocketError) as e:
            server.accept(timeout=0)
        assert e.value.code == libws.EAGAIN
        with pytest.raises(libws.WebSocketTimeout):
            server.accept(timeout=0.05)
        with pytest.raises(ValueError):
            server.serve_forever()
        # manual accept
        result = []
        t = threading.Thread(target=lambda: result.append(libws.connect(f"ws://127.0.0.1:{server.port}/")))
        t.start()
        ws = server.accept(timeout=5)
        join(t)
        assert isinstance(ws, libws.ServerConnection)
        result[0].send("hi")
        assert ws.recv() == "hi"
        result[0].free()
        ws.free()
        # a blocked accept returns when the server shuts down
        errors = []

        def acceptor():
            try:
                server.accept()
            except libws.ConnectionClosed as e:
                errors.append(e)

        t = threading.Thread(target=acceptor)
        t.start()
        time.sleep(0.1)
    finally:
        server.shutdown()
    join(t)
    assert errors and errors[0].status == libws.ECLOSED
    with pytest.raises(libws.ConnectionClosed):
        server.accept()
    server.shutdown()  # idempotent


def test_shutdown_closes_connections_1001():
    r = Running()
    ws = libws.connect(r.url)
    ws.send("x")
    assert ws.recv() == "x"
    # The blocking client answers the close frame when it reads: read while
    # the server shuts down.
    stopper = threading.Thread(target=r.stop)
    stopper.start()
    with pytest.raises(libws.ConnectionClosedOK) as e:
        ws.recv()
    assert e.value.close_code == 1001
    join(stopper, 5)
    ws.free()


def test_listen_errors():
    with pytest.raises(libws.WebSocketError) as e:
        libws.serve(None, "127.0.0.1", 70000)
    assert e.value.code == libws.EINVAL
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        with pytest.raises(libws.WebSocketError) as e:
            libws.serve(None, "127.0.0.1", s.getsockname()[1])
        assert e.value.code == libws.EIO
    finally:
        s.close()
    with pytest.raises(libws.WebSocketError) as e:
        libws.serve(None, "127.0.0.1", 0, tls_cert_file="/nonexistent.pem")
    assert e.value.code == libws.EINVAL  # cert without key
    with pytest.raises(libws.WebSocketError) as e:
        libws.serve(None, "127.0.0.1", 0, tls_cert_file="/nonexistent.pem", tls_key_file="/nonexistent.key")
    assert e.value.code == libws.ETLS


def test_server_context_manager_and_all_interfaces():
    with libws.serve(echo, None, 0) as server:
        t = threading.Thread(target=server.serve_forever, daemon=True)
        t.start()
        with libws.connect(f"ws://127.0.0.1:{server.port}/any/path?q=1") as ws:
            ws.send("x")
            assert ws.recv() == "x"
    join(t)


@pytest.mark.skipif(not os.path.exists(os.path.join(TLS_DIR, "server.pem")), reason="no test certificates")
def test_tls():
    r = Running(tls_cert_file=os.path.join(TLS_DIR, "server.pem"), tls_key_file=os.path.join(TLS_DIR, "server.key"))
    url = f"wss://127.0.0.1:{r.server.port}/"
    try:
        with libws.connect(url, tls_ca_file=os.path.join(TLS_DIR, "ca.pem")) as ws:
            ws.send("secure")
            assert ws.recv() == "secure"
        with libws.connect(url, tls_verify=False) as ws:
            ws.send(b"insecure ok")
            assert ws.recv() == b"insecure ok"
        with pytest.raises(libws.WebSocketError) as e:
            libws.connect(url)  # system roots do not know the test CA
        assert e.value.code == libws.ETLS
    finally:
        r.stop()
