#!/usr/bin/env python3
"""Echo server on libws's asyncio API: the Python twin of examples/c/echo_server.c.

Listens on 127.0.0.1:PORT and echoes every message on every path, text as
text and binary as binary, until killed (SIGINT / SIGTERM close it cleanly).

Usage: python3 examples/python/echo_server.py PORT
"""

import asyncio
import os
import signal
import sys

try:
    import libws.asyncio
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
    import libws.asyncio


async def echo(ws: "libws.asyncio.ServerConnection") -> None:
    async for message in ws:
        await ws.send(message)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with libws.asyncio.serve(echo, "127.0.0.1", port, max_size=None) as server:
        print(f"libws {libws.__version__} (Python): echo server on ws://127.0.0.1:{server.port}/",
              file=sys.stderr, flush=True)
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: echo_server.py PORT")
    asyncio.run(main(int(sys.argv[1])))
