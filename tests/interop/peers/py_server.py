#!/usr/bin/env python3
"""py_server.py PORT: reference echo server on Python `websockets`
(127.0.0.1 only). Every message is sent back as it came; pings and closes
are handled by websockets itself. Runs until killed."""
import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:  # noqa: BLE001 - a dropped peer ends its handler only
        pass


async def main(port):
    async with serve(echo, "127.0.0.1", port, max_size=None, compression=None, ping_interval=None):
        print(f"py_server: listening on ws://127.0.0.1:{port}/", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
