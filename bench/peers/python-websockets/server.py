#!/usr/bin/env python3
"""Echo peer of the libws benchmark suite, built on the asyncio `websockets`
package: listens on 127.0.0.1:PORT and echoes every message with the opcode
it came with (str back as text, bytes back as binary).

Works with Debian's python3-websockets 10.4 (legacy implementation, whose
handlers receive (ws, path)) and with current PyPI releases (new asyncio
implementation, handlers receive (ws) only). Compression is off: libws is
measured without it. With BENCH_TLS_CERT and BENCH_TLS_KEY naming PEM files
it serves wss:// (an ssl.SSLContext, TLS 1.3 only), for the TLS section.

Usage: python3 server.py PORT
       BENCH_TLS_CERT=cert.pem BENCH_TLS_KEY=key.pem python3 server.py PORT
"""

import asyncio
import os
import signal
import ssl
import sys

import websockets


async def echo(ws, path=None):
    # `path` is only passed by the legacy implementation; it is unused.
    async for message in ws:
        await ws.send(message)


def tls_context():
    cert, key = os.environ.get("BENCH_TLS_CERT"), os.environ.get("BENCH_TLS_KEY")
    if not cert or not key:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    return ctx


async def main(port):
    tls = tls_context()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with websockets.serve(
        echo,
        "127.0.0.1",
        port,
        compression=None,
        # Same as the other peers: effectively no message size limit.
        max_size=None,
        ssl=tls,
    ):
        print(
            f"python-websockets: listening on {'wss' if tls else 'ws'}://127.0.0.1:{port} "
            f"(websockets {websockets.__version__}, Python {sys.version.split()[0]})",
            file=sys.stderr,
            flush=True,
        )
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: server.py PORT")
    asyncio.run(main(int(sys.argv[1])))
