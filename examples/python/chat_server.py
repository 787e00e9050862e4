#!/usr/bin/env python3
"""chat_server PORT [REDIS_URL]: the Python twin of examples/node/chat_server.js.

A chat on 127.0.0.1:PORT (0 picks a free port; the first line printed says
which): a small asyncio HTTP server serves the same page as the Node one at
every path but /chat, and hands /chat upgrades to libws
(``Server.adopt_stream``). Every message a client sends goes to every client
of its room (?room=NAME, default "lobby") through the topic "room:NAME":
framed once, written by libws. Same page, same path, same topic names as
chat_server.js, so given the same Redis URL, Python and Node chat servers
are one chat: a message typed on one reaches the other's clients.

The server keeps libws's default limits (message size, buffers, queue,
keepalive): a chat has no reason to lift them.
"""

import asyncio
import os
import signal
import sys
from urllib.parse import parse_qs, urlsplit

try:
    import libws.asyncio
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
    import libws.asyncio

# Byte for byte the page of chat_server.js: whichever server a browser lands
# on, it runs the same client.
PAGE = """<!doctype html><meta charset="utf-8"><title>libws chat</title>
<ul id="log"></ul><form id="f"><input id="m" autocomplete="off"><button>send</button></form>
<script>
// Relative to the page: served at /x/ behind a proxy, the socket is /x/chat.
const u = new URL('chat' + location.search, location.href); u.protocol = u.protocol.replace('http', 'ws');
const ws = new WebSocket(u);
ws.onmessage = (e) => { const li = document.createElement('li'); li.textContent = e.data; log.append(li); };
f.onsubmit = (e) => { e.preventDefault(); ws.send(m.value); m.value = ''; };
</script>""".encode()

# An HTTP request head larger than this is refused (the page takes no input).
MAX_HEAD = 16 * 1024


def room_topic(target: str) -> str:
    room = parse_qs(urlsplit(target).query).get("room", [""])[0] or "lobby"
    return f"room:{room}"


async def main(port: int, broker: "str | None") -> None:
    ws_server: "libws.asyncio.Server"

    async def chat(ws: "libws.asyncio.ServerConnection") -> None:
        topic = room_topic(ws.path)
        ws.subscribe(topic)
        async for message in ws:
            # As chat_server.js: always published as text (a binary message
            # decoded as UTF-8, bad bytes replaced), to the sender too, so
            # every tab shows the room in one order.
            if not isinstance(message, str):
                message = bytes(message).decode("utf-8", "replace")
            ws_server.publish(topic, message)

    ws_server = await libws.asyncio.serve(chat, listen=False, broker=broker)

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        if len(head) > MAX_HEAD:
            writer.close()
            return
        parts = head.split(b" ", 2)
        target = parts[1] if len(parts) == 3 else b""
        if target.split(b"?")[0] == b"/chat" and b"upgrade:" in head.lower():
            ws_server.adopt_stream(reader, writer, head)  # libws answers it from here on
            return
        writer.write(
            (
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(PAGE)}\r\nConnection: close\r\n\r\n"
            ).encode()
            + PAGE
        )
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(http, "127.0.0.1", port, limit=MAX_HEAD)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    print(f"listening on ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/chat", flush=True)
    async with server, ws_server:
        await stop


if __name__ == "__main__":
    args = sys.argv[1:]
    if not 1 <= len(args) <= 2 or not args[0].isdigit() or int(args[0]) > 65535:
        sys.exit("usage: chat_server.py PORT [REDIS_URL]")
    try:
        asyncio.run(main(int(args[0]), args[1] if len(args) == 2 and args[1] else None))
    except OSError as err:
        sys.exit(f"chat_server: {err.strerror.lower() if err.strerror else err}")
