#!/usr/bin/env python3
"""An existing asyncio HTTP server whose /ws route is served by libws, on one port.

The application keeps its own server (here a small ``asyncio.start_server``
one answering GET / and GET /health); a request for /ws is handed over to
libws with its socket and the bytes read so far (``Server.adopt_stream``,
``ws_hub_adopt`` underneath). libws answers the upgrade, runs the handshake
hooks (here ``process_request`` checks a token) and serves the connection on
its event hub; the handler below echoes. No ASGI, no framework.

Usage: python3 examples/python/http_and_ws.py PORT   (0 picks a free port;
the first line printed says which)
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


def check_token(connection, request):
    # Refused before the 101: the client sees HTTP 403.
    if "token=secret" not in request.path:
        return connection.respond(403, "bad token\n")
    return None


def http_response(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


async def main(port: int) -> None:
    ws_server = await libws.asyncio.serve(echo, listen=False, process_request=check_token)

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        target = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b""
        if target.split(b"?")[0] == b"/ws":
            ws_server.adopt_stream(reader, writer, head)  # libws answers it from here on
            return
        if target == b"/health":
            writer.write(http_response("200 OK", b"ok\n"))
        elif target == b"/":
            writer.write(http_response("200 OK", b"plain HTTP here; WebSockets on /ws?token=secret\n"))
        else:
            writer.write(http_response("404 Not Found", b"not found\n"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http, "127.0.0.1", port)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    print(f"http_and_ws: listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}/", flush=True)
    async with server, ws_server:
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) > 65535:
        sys.exit("usage: http_and_ws.py PORT")
    try:
        asyncio.run(main(int(sys.argv[1])))
    except OSError as err:
        sys.exit(f"http_and_ws: {err.strerror.lower() if err.strerror else err}")
