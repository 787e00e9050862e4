"""libws_fanout.py PORT: the libws Python side of the benchmark's fan-out
scenario (loadgen -fanout). Every connection subscribes to topic "t"; each
text message a connection sends is published to "t", excluding nobody.
LIBWS_FANOUT_DEFLATE=1 accepts permessage-deflate."""

import asyncio
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))

import libws.asyncio as lwa  # noqa: E402


async def main(port: int) -> None:
    server: lwa.Server

    async def handler(ws: lwa.ServerConnection) -> None:
        ws.subscribe("t")
        publish = server.publish
        async for msg in ws:
            if isinstance(msg, str):
                publish("t", msg)

    compression = "deflate" if os.environ.get("LIBWS_FANOUT_DEFLATE") else None
    # No per-connection pings: 10,000 idle subscribers would cost the
    # server pings the peers do not send either.
    async with lwa.serve(handler, "127.0.0.1", port, compression=compression, ping_interval=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
