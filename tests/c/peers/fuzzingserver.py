#!/usr/bin/env python3
"""End to end: the C example autobahn_client against a small stand-in for the
Autobahn|TestSuite fuzzing server (same URLs: getCaseCount, runCase,
updateReports), written with Python `websockets`.

usage: fuzzingserver.py PATH/TO/autobahn_client
"""
import asyncio
import os
import sys
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks  # noqa: E402

from websockets.asyncio.server import serve  # noqa: E402

C = Checks("fuzzingserver")
AGENT = "libws-c-test"


async def case1(ws):
    await ws.send("hello \u00e9")
    return await ws.recv() == "hello \u00e9"


async def case2(ws):
    data = bytes(range(256)) * 256
    await ws.send(data)
    return await ws.recv() == data


async def case3(ws):
    await ws.send(["frag", "mented"])
    waiter = await ws.ping(b"p")
    ok = await ws.recv() == "fragmented"
    await asyncio.wait_for(waiter, 5)
    return ok


async def case4(ws):
    # Autobahn's 12.* and 13.* run only if the client offers
    # permessage-deflate; the server here (websockets) accepts it.
    ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    C.check(ext.startswith("permessage-deflate"), f"permessage-deflate not negotiated: {ext!r}")
    data = "compress me " * 20000
    for _ in range(3):  # context takeover across messages both ways
        await ws.send(data)
        if await ws.recv() != data:
            return False
    return ext.startswith("permessage-deflate")


CASES = [case1, case2, case3, case4]
results, reports = {}, []


async def handler(ws):
    u = urlsplit(ws.request.path)
    q = {k: v[0] for k, v in parse_qs(u.query).items()}
    if u.path == "/getCaseCount":
        await ws.send(str(len(CASES)))
    elif u.path == "/runCase":
        n = int(q["case"])
        C.check(q.get("agent") == AGENT, f"runCase agent {q.get('agent')}")
        try:
            results[n] = await asyncio.wait_for(CASES[n - 1](ws), 10)
        except Exception as e:
            results[n] = repr(e)
    elif u.path == "/updateReports":
        reports.append(q.get("agent"))
    await ws.close(1000)


async def main(client):
    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        proc = await asyncio.create_subprocess_exec(client, f"ws://127.0.0.1:{port}", AGENT)
        rc = await asyncio.wait_for(proc.wait(), 60)
        C.check(rc == 0, f"autobahn_client exit code {rc}")
    for n in range(1, len(CASES) + 1):
        C.check(results.get(n) is True, f"case {n}: {results.get(n)}")
    C.check(reports == [AGENT], f"updateReports: {reports}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1]))
    sys.exit(C.report())
