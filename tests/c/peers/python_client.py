#!/usr/bin/env python3
"""End to end: the C example echo_server against Python `websockets` clients.

usage: python_client.py PATH/TO/echo_server
"""
import asyncio
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks, stop  # noqa: E402

try:
    from websockets.asyncio.client import connect
except ImportError:  # websockets < 13
    from websockets import connect

C = Checks("python_client")


async def echo_checks(url):
    async with connect(url, max_size=None) as ws:
        for msg in ["hello", "h\u00e9llo w\u00f6rld \u20ac \U0001f600", ""]:
            await ws.send(msg)
            got = await ws.recv()
            C.check(got == msg and isinstance(got, str), f"text echo of {msg!r}: {got!r}")
        for msg in [b"\x00\x01\x02", bytes(range(256)) * 4096]:  # 3 B and 1 MiB
            await ws.send(msg)
            got = await ws.recv()
            C.check(got == msg and isinstance(got, bytes), f"binary echo of {len(msg)} bytes")
        # Fragmented message: sent in pieces, echoed whole.
        await ws.send(["frag", "men", "ted \u00e9"])
        got = await ws.recv()
        C.check(got == "fragmented \u00e9", f"fragmented echo: {got!r}")
        await ws.send([b"ab", b"cd"])
        got = await ws.recv()
        C.check(got == b"abcd", f"fragmented binary echo: {got!r}")
        # Ping answered by libws.
        waiter = await ws.ping(b"are you there")
        latency = await asyncio.wait_for(waiter, 5)
        C.check(latency is not None, "pong")
        await ws.close(1000, "bye")
        C.check(ws.close_code == 1000, f"close code from the server: {ws.close_code}")


async def path_check(url):
    async with connect(url + "chat?room=1") as ws:
        await ws.send("path")
        C.check(await ws.recv() == "path", "echo on another path")


async def one_client(url, i):
    async with connect(url) as ws:
        for j in range(50):
            msg = f"client {i} message {j}"
            await ws.send(msg)
            if await ws.recv() != msg:
                return False
    return True


async def main(url):
    await echo_checks(url)
    await path_check(url)
    results = await asyncio.wait_for(asyncio.gather(*(one_client(url, i) for i in range(20))), 60)
    C.check(all(results), f"20 concurrent clients: {results.count(True)} ok")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    proc = subprocess.Popen([sys.argv[1], "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        C.check("listening on ws://" in line, f"server banner: {line!r}")
        if "ws://" in line:
            asyncio.run(asyncio.wait_for(main(line.split()[-1]), 120))
        C.check(proc.poll() is None, "server still running")
    except Exception as e:  # report, don't hide
        C.check(False, f"exception: {e!r}")
    finally:
        stop(proc)
    sys.exit(C.report())
