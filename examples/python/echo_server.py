#!/usr/bin/env python3
"""Echo server on libws's asyncio API: the Python twin of examples/c/echo_server.c.

Listens on 127.0.0.1:PORT (0 picks a free port; the first line printed says
which) and echoes every message, text as text and binary as binary (fragments
joined), until killed; SIGINT / SIGTERM close the connections cleanly (1001).
Pings are answered and closes completed by libws. permessage-deflate is
accepted when a client offers it, as browsers do.

The limits stay on, as anything that faces a network should have them:
messages up to 64 MiB (counted after inflating, 1009 past it), at most 16
messages queued per connection before its socket is no longer read, and no
more reading while an echo waits for a client that does not read its
replies (TCP then holds the client back).

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
    async with libws.asyncio.serve(
        echo, "127.0.0.1", port, compression="deflate", max_size=64 * 2**20, max_queue=16
    ) as server:
        print(f"echo_server: listening on ws://127.0.0.1:{server.port}/", flush=True)
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) > 65535:
        sys.exit("usage: echo_server.py PORT")
    try:
        asyncio.run(main(int(sys.argv[1])))
    except OSError as err:  # e.g. the port is taken: say so, as the C server does
        sys.exit(f"echo_server: {err.strerror.lower() if err.strerror else err}")
    except libws.WebSocketError as err:
        sys.exit(f"echo_server: {err}")
