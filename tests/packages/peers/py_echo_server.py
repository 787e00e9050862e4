#!/usr/bin/env python3
"""py_echo_server.py: an echo server on Python `websockets` (127.0.0.1, a
free port). Prints "port N" once listening, then echoes every message as it
came until killed."""
import asyncio

try:
    from websockets.asyncio.server import serve
except ImportError:  # websockets < 13 (Debian's python3-websockets): the legacy API
    from websockets import serve


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:  # noqa: BLE001 - a dropped peer ends its handler only
        pass


async def main():
    async with serve(echo, "127.0.0.1", 0, compression=None) as server:
        print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
