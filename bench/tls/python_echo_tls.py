#!/usr/bin/env python3
"""examples/python/echo_server.py (the libws Python binding's echo server)
serving wss:// for the bench suite's TLS section: its echo handler, under
libws.asyncio.serve with tls_cert_file / tls_key_file from BENCH_TLS_CERT and
BENCH_TLS_KEY (PEM files). The example takes no TLS options.

Usage: BENCH_TLS_CERT=cert.pem BENCH_TLS_KEY=key.pem python3 python_echo_tls.py PORT
"""

import asyncio
import importlib.util
import os
import signal
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
_spec = importlib.util.spec_from_file_location("echo_server", os.path.join(ROOT, "examples", "python", "echo_server.py"))
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)  # imports libws from bindings/python
libws = example.libws


async def main(port: int, cert: str, key: str) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with libws.asyncio.serve(
        example.echo, "127.0.0.1", port, compression="deflate", tls_cert_file=cert, tls_key_file=key
    ) as server:
        print(f"python_echo_tls: listening on wss://127.0.0.1:{server.port}/", flush=True)
        await stop


if __name__ == "__main__":
    cert, key = os.environ.get("BENCH_TLS_CERT"), os.environ.get("BENCH_TLS_KEY")
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or not cert or not key:
        sys.exit("usage: BENCH_TLS_CERT=cert.pem BENCH_TLS_KEY=key.pem python_echo_tls.py PORT")
    try:
        asyncio.run(main(int(sys.argv[1]), cert, key))
    except libws.WebSocketError as err:
        sys.exit(f"python_echo_tls: {err}")
