#!/usr/bin/env python3
"""websockets_fanout.py PORT: the asyncio `websockets` peer of the
benchmark's fan-out scenario (loadgen -fanout): each text message a client
sends goes to every connected client (the sender too) with
websockets.broadcast, as its documentation recommends. Works with Debian's
10.4 (legacy handlers take (ws, path)) and current releases. Compression
off, unless FANOUT_DEFLATE=1 ("deflate", websockets' defaults)."""

import asyncio
import os
import sys

import websockets

CLIENTS = set()


async def handler(ws, path=None):
    CLIENTS.add(ws)
    try:
        async for message in ws:
            if isinstance(message, str):
                websockets.broadcast(CLIENTS, message)
    finally:
        CLIENTS.discard(ws)


async def main(port):
    async with websockets.serve(handler, "127.0.0.1", port, compression="deflate" if os.environ.get("FANOUT_DEFLATE") else None, ping_interval=None):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
