"""examples/python: echo_server.py and client.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
from conftest import PKG_ROOT, run, wait_for

EXAMPLES = os.path.join(PKG_ROOT, "..", "..", "examples", "python")
pytestmark = pytest.mark.skipif(not os.path.isdir(EXAMPLES), reason="examples/python not found")


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = PKG_ROOT + os.pathsep + e.get("PYTHONPATH", "")
    return e


@pytest.fixture
def echo_server():
    proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "echo_server.py"), "0"], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # "echo_server: listening on ws://127.0.0.1:PORT/"
        assert line.startswith("echo_server: listening on ws://127.0.0.1:"), line + proc.stderr.read()
        yield proc, line.split()[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_client_against_echo_server(echo_server):
    _, url = echo_server
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "client.py"), url, "héllo"], env=env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "héllo\n"
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "client.py"), url], env=env(),
                       capture_output=True, text=True, timeout=30)
    assert r.stdout == "Hello, libws!\n"


def test_client_errors():
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "client.py")], env=env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "client.py"), "http://nope/"], env=env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "URL" in r.stderr


def test_echo_server_on_a_taken_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, os.path.join(EXAMPLES, "echo_server.py"), str(port)], env=env(),
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("echo_server: ") and "address already in use" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_echo_server_with_websockets_and_signals(echo_server):
    websockets = pytest.importorskip("websockets")
    from websockets.asyncio.client import connect

    proc, url = echo_server

    async def main():
        # websockets offers permessage-deflate by default: the server accepts it
        async with connect(url, close_timeout=2) as c:
            assert c.protocol.extensions, "permessage-deflate was not negotiated"
            for msg in ["text é", b"\x00binary", "x" * 100000, ["frag", "ments"]]:
                await c.send(msg)
                want = "fragments" if isinstance(msg, list) else msg
                assert await wait_for(c.recv()) == want
            # SIGTERM: the connection is closed with 1001 and the server exits 0
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.exceptions.ConnectionClosedOK) as e:
                await wait_for(c.recv())
            assert e.value.rcvd.code == 1001

    run(main())
    assert proc.wait(10) == 0


def test_http_app_and_websockets_on_one_port():
    # examples/python/http_and_ws.py: plain HTTP routes of an asyncio
    # server and libws on /ws, one port; process_request's 403 before the
    # 101 for a websockets client and a libws one.
    import urllib.request

    import libws
    import libws.asyncio

    websockets = pytest.importorskip("websockets")
    from websockets.asyncio.client import connect

    proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "http_and_ws.py"), "0"], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("http_and_ws: listening on http://127.0.0.1:"), line + proc.stderr.read()
        base = line.split()[-1]
        with urllib.request.urlopen(base + "health", timeout=5) as r:
            assert r.status == 200 and r.read() == b"ok\n"
        ws_url = base.replace("http://", "ws://") + "ws"

        async def main():
            async with connect(ws_url + "?token=secret") as c:
                await c.send("via websockets")
                assert await wait_for(c.recv()) == "via websockets"
            async with libws.asyncio.connect(ws_url + "?token=secret") as c:
                await c.send(b"via libws")
                assert await wait_for(c.recv()) == b"via libws"
            with pytest.raises(websockets.exceptions.InvalidStatus) as e:
                await connect(ws_url)
            assert e.value.response.status_code == 403 and e.value.response.body == b"bad token\n"
            with pytest.raises(libws.InvalidStatus) as e2:
                await libws.asyncio.connect(ws_url)
            assert e2.value.response.status_code == 403

        run(main())
        with urllib.request.urlopen(base, timeout=5) as r:  # HTTP still served after the upgrades
            assert b"/ws" in r.read()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
