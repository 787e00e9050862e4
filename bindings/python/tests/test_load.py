"""1,000 concurrent asyncio clients against the binding's asyncio server,
every byte of every echo checked."""

from __future__ import annotations

import asyncio
import hashlib
import resource

import pytest
from conftest import run

import libws.asyncio as lwa

N_CLIENTS = 1000
ROUNDS = 6


def payload(i: int, j: int):
    """Message j of client i: varying sizes (0 B .. 64 KiB), text or binary."""
    size = (i * 131 + j * 977) % 3000
    if (i + j) % 97 == 0:
        size = 65536 + i  # a few large ones, past the record-batch path
    seed = hashlib.sha256(f"{i}/{j}".encode()).digest()
    data = (seed * (size // 32 + 1))[:size]
    if j % 3 == 1:
        return data.hex()[:size]  # text
    return data


@pytest.fixture(autouse=True)
def enough_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * N_CLIENTS + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.fail(f"RLIMIT_NOFILE hard limit {hard} < {want}: raise it (ulimit -n)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_1000_concurrent_clients():
    opened = 0
    peak = 0
    all_open = None
    received_bytes = 0

    async def echo(ws):
        nonlocal opened, peak, received_bytes
        opened += 1
        peak = max(peak, len(server.connections))
        async for message in ws:
            received_bytes += len(message)
            await ws.send(message)

    async def client(i: int) -> int:
        async with lwa.connect(url, open_timeout=30) as ws:
            connected.append(i)
            if len(connected) == N_CLIENTS:
                all_open.set()
            await all_open.wait()  # every client is connected before traffic starts
            checked = 0
            for j in range(ROUNDS):
                msg = payload(i, j)
                await ws.send(msg)
                got = await ws.recv()
                assert type(got) is type(msg), (i, j)
                assert got == msg, (i, j)
                checked += len(got)
            return checked

    async def main():
        nonlocal server, url, all_open
        all_open = asyncio.Event()
        server = await lwa.serve(echo, "127.0.0.1", 0)
        url = f"ws://127.0.0.1:{server.port}/load"
        try:
            results = await asyncio.gather(*(client(i) for i in range(N_CLIENTS)))
        finally:
            server.close()
            await server.wait_closed()
        return results

    server = url = None
    connected = []
    results = run(main(), 60)
    expected = [sum(len(payload(i, j)) for j in range(ROUNDS)) for i in range(N_CLIENTS)]
    assert results == expected
    assert opened == N_CLIENTS
    assert peak == N_CLIENTS  # all of them were open at once
    assert received_bytes == sum(expected)
