"""asyncio API over libws's event hub, shaped like the ``websockets`` package.

::

    import libws.asyncio

    async def echo(ws):
        async for message in ws:          # str for text, bytes for binary
            await ws.send(message)

    async def main():
        async with libws.asyncio.serve(echo, "127.0.0.1", 9001) as server:
            async with libws.asyncio.connect("ws://127.0.0.1:9001/") as ws:
                await ws.send("hello")
                print(await ws.recv())

How it runs
-----------
Connections live in a *hub* (``ws_hub_t``, an inline one: see ws.h). Its
epoll loop has no thread of its own: it runs on the event loop's thread,
inside ``ws_hub_poll_raw``, so that an echo costs no hand-over between
threads (client connections are served by goroutines of the hub). The hub's
one pollable file descriptor is watched with ``loop.add_reader``; when it is
readable, one ``ws_hub_poll_raw`` call serves the sockets that are ready
and copies every waiting event (opens,
messages, pings, pongs, closes, errors, backpressure) into one preallocated
buffer, decoded here with ``struct.unpack_from``. A task waiting for a
message gets it as its future's result, and is run by that same callback
right after the batch, not from the loop's next iteration (its wake-up is
taken off the future before the result is set, so it runs once): a batch of
echoes costs one loop iteration, not two. If the fd is readable again once
the batch's replies are out (and no task it woke still waits for its
turn), the next batch is taken in the same callback (up to 8 in a row,
then the loop's other callbacks get their turn). Messages sent during the batch,
or later during one loop iteration, are encoded as command records and
handed over with a single ``ws_hub_send_raw`` call: at the end of the batch,
or scheduled with ``loop.call_soon`` after the first send of the iteration.
So a burst of N messages costs two FFI crossings, not 2N; messages of
4 KiB and more join the batch by reference (``WS_CMD_SEND_REF``: the hub
writes them straight from the ``bytes`` object). No thread is
started by the binding and nothing calls back into Python from Go.

Hubs per event loop
-------------------
* Client connections (:func:`connect`) of one event loop share one hub,
  created on the first connection and freed shortly (0.25 s) after the last
  one has closed.
* Each server (:func:`serve`) has a hub of its own. Its listening sockets
  are Python's (``server.sockets``): it accepts on the event loop and hands
  each accepted socket to the hub (``ws_hub_adopt``), which answers the
  upgrade and serves the connection -- as it does for sockets an
  application's own HTTP server hands over (:meth:`Server.adopt_stream`).
  Only ``tls_cert_file`` servers use the hub's own TLS listener. Stopping a
  server closes its listening sockets, then its connections (1001), waits
  for their close handshakes (bounded by ``close_timeout``) and shuts its
  hub down.

When the peer closes first, or breaks the protocol after valid messages,
the hub sends its close frame at the next poll, so that what the handlers
send in reply to the messages before it still goes out first: every
command is handed to the hub before the next poll, and after a batch with
close or error events the binding polls again once the woken tasks have
run (``loop.call_soon``).

All of a hub's calls are made on its event loop's thread; connections must
be used from that loop only.

Backpressure
------------
``await ws.send(...)`` returns at once while the connection's unsent bytes
stay under the hub's high-water mark (``high_water``, 1 MiB by default).
Above it the hub reports WS_EVENT_BACKPRESSURE and ``send`` waits until
WS_EVENT_DRAIN (unsent bytes under half the mark). A connection whose peer
stops reading altogether is failed with 1008 at ``max_buffered`` (64 MiB).

While ``send`` waits for the drain, the hub reads nothing more from that
connection (``WS_CMD_PAUSE``): an echo to a client that never reads stops
taking its input, and TCP pushes back on the client.

Flow control
------------
Messages a handler has not taken yet are queued, up to ``max_queue`` (16,
as in ``websockets``): at that mark the hub stops reading the connection's
socket, and reads it again once the handler has taken all but
``max_queue // 4`` of them (a ``(high, low)`` pair sets both marks).
``max_queue=None`` queues without bound; it must be asked for.

Handshake control
-----------------
With ``process_request``, ``process_response``, ``select_subprotocol`` or
``subprotocols``, the server's hub delivers each upgrade request as an
event (WS_OPT_HUB_HANDSHAKE_CONTROL) and waits, up to ``open_timeout``, for
the binding's answer: the 101 (``ws_hub_accept``) or the response that
refuses it (``ws_hub_reject``). The hooks run in a task of their own, so
they may await.

Topics
------
``ws.subscribe(topic)`` / ``ws.unsubscribe(topic)`` on a server
connection and ``server.publish(topic, message, exclude=None)`` deliver a
message to every subscriber with one frame built by the hub (``str``
text, bytes binary); the records join the command batch (WS_CMD_SUBSCRIBE,
WS_CMD_PUBLISH), so neither costs a call into libws of its own, and the
publishes of one batch reach a subscriber in one write. A connection leaves
its topics when it closes. ``server.topic_count(topic)`` counts this
server's subscribers. ``serve(..., broker="redis://host:port/db")`` joins
every server given the same URL into one system: a publish on any reaches
the subscribers of all, exactly once (the hub talks to Redis; an outage is
logged and local delivery goes on). ``serve(..., reuse_port=True)`` lets
several processes serve one port. :func:`broadcast` (``websockets``'
signature) sends to a list of connections instead, one frame each.

Modules
-------
This module is the public face; the parts live next to it, one concern
each: :mod:`libws._records` (the records of docs/hub-contract.md: decoding,
error statuses), :mod:`libws._hub` (the hub driver: polling, dispatch,
command batches, the ordering rule), :mod:`libws._connection` (a
connection: receive, send, flow control, close), :mod:`libws._server`
(:func:`serve`) and :mod:`libws._client` (:func:`connect`).
"""

from __future__ import annotations

from ._client import _IDLE_GRACE, ClientConnection, _client_hub, _client_hubs, connect  # noqa: F401
from ._connection import CLOSED, CLOSING, CONNECTING, MAX_QUEUE, OPEN, Data, DataLike, State, WebSocket, broadcast  # noqa: F401
from ._hub import _BUF_SIZE, _Hub  # noqa: F401 -- for tests and tools, as the names of one module
from ._server import Handler, Server, ServerConnection, serve

__all__ = [
    "connect",
    "serve",
    "broadcast",
    "Server",
    "WebSocket",
    "ClientConnection",
    "ServerConnection",
    "State",
    "CONNECTING",
    "OPEN",
    "CLOSING",
    "CLOSED",
]

# The public classes are this module's, wherever their code lives (repr,
# documentation tools, pickling by reference).
for _cls in (connect, serve, Server, WebSocket, ClientConnection, ServerConnection):
    _cls.__module__ = __name__
del _cls
