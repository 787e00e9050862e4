"""The same programs against ``websockets`` (the reference, if installed) and
libws.asyncio, asserting the same observable behaviour where it applies."""

from __future__ import annotations

import asyncio

import pytest

from conftest import run

import libws
import libws.asyncio

try:
    import websockets
    import websockets.asyncio.client
    import websockets.asyncio.server
    import websockets.exceptions
except ImportError:  # pragma: no cover
    websockets = None


class Impl:
    """One implementation's serve/connect/exception names."""

    def __init__(self, name, serve, connect, closed, closed_ok, closed_error, invalid_status, invalid_handshake):
        self.name = name
        self.serve = serve
        self.connect = connect
        self.ConnectionClosed = closed
        self.ConnectionClosedOK = closed_ok
        self.ConnectionClosedError = closed_error
        self.InvalidStatus = invalid_status
        self.InvalidHandshake = invalid_handshake

    def __repr__(self):
        return self.name


IMPLS = [
    Impl(
        "libws",
        libws.asyncio.serve,
        libws.asyncio.connect,
        libws.ConnectionClosed,
        libws.ConnectionClosedOK,
        libws.ConnectionClosedError,
        getattr(libws, "InvalidStatus", None),
        libws.InvalidHandshake,
    )
]
if websockets is not None:
    IMPLS.append(
        Impl(
            "websockets",
            websockets.asyncio.server.serve,
            websockets.asyncio.client.connect,
            websockets.exceptions.ConnectionClosed,
            websockets.exceptions.ConnectionClosedOK,
            websockets.exceptions.ConnectionClosedError,
            websockets.exceptions.InvalidStatus,
            websockets.exceptions.InvalidHandshake,
        )
    )

impls = pytest.mark.parametrize("impl", IMPLS, ids=repr)


def port_of(server):
    if isinstance(server, libws.asyncio.Server):
        return server.port
    return server.sockets[0].getsockname()[1]


@impls
def test_send_after_the_peer_closed_raises_every_time(impl):
    # The client sent before; the server closes; every later send raises.
    async def handler(ws):
        await ws.recv()
        await ws.close(1000, "bye")

    async def main():
        outcomes = []
        async with impl.serve(handler, "127.0.0.1", 0) as server:
            for _ in range(20):
                ws = await impl.connect(f"ws://127.0.0.1:{port_of(server)}/")
                await ws.send("hi")
                with pytest.raises(impl.ConnectionClosedOK):
                    await ws.recv()
                try:
                    await ws.send("again")
                    outcomes.append("returned")
                except impl.ConnectionClosed as exc:
                    outcomes.append(type(exc).__name__)
        return outcomes

    assert run(main()) == ["ConnectionClosedOK"] * 20
