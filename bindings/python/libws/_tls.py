"""TLS from an ``ssl.SSLContext`` (``ssl=`` of serve and connect).

libws's engine does TLS itself only from certificate files, and a context
built by the standard library cannot be exported to files. So a connection
with ``ssl=`` has its TLS done by asyncio, and its plaintext carried to and
from the hub over a socket pair (server side: the hub adopts one end) or a
loopback connection (client side: the hub dials it, and the request's Host
header is set back to the server's). Every byte is copied once more in
Python each way, so this path is slower than the hub's own TLS
(``tls_cert_file`` / ``tls_key_file``, and wss:// without ``ssl=``).
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Optional, Tuple

_CHUNK = 1 << 16


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy reader to writer until EOF (honouring the writer's
    backpressure), then pass the EOF on: a half-close where the transport
    has one, a close (TLS close_notify) otherwise."""
    try:
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
        except (ConnectionError, OSError, RuntimeError):
            writer.close()


async def splice(a: Tuple[asyncio.StreamReader, asyncio.StreamWriter], b: Tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
    """Carry bytes both ways between two streams until both directions
    ended, then close both."""
    try:
        await asyncio.gather(pump(a[0], b[1]), pump(b[0], a[1]))
    finally:
        for w in (a[1], b[1]):
            w.close()


def rewrite_host(head: bytes, host: str) -> bytes:
    """The request head with its Host header's value replaced."""
    lines = head.split(b"\r\n")
    for i, line in enumerate(lines):
        if line[:5].lower() == b"host:":
            lines[i] = b"Host: " + host.encode("idna" if not host.isascii() else "ascii")
            break
    return b"\r\n".join(lines)


async def client_bridge(
    lsock: socket.socket, tls: Tuple[asyncio.StreamReader, asyncio.StreamWriter], host_header: str, timeout: Optional[float]
) -> None:
    """Accept the hub's loopback connection on lsock, pass its request
    to the TLS stream with the server's Host, then splice the two."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            conn, peer = await asyncio.wait_for(loop.sock_accept(lsock), timeout)
            # Only the hub of this process may use the bridge: another
            # local process connecting first would get the TLS session
            # (and its client certificate).
            if _socket_of_this_process(peer[1]):
                break
            conn.close()
    finally:
        lsock.close()
    reader, writer = await asyncio.open_connection(sock=conn)
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
        writer.close()
        tls[1].close()
        return
    tls[1].write(rewrite_host(head, host_header))
    await splice((reader, writer), tls)


def _socket_of_this_process(port: int) -> bool:
    """Whether the loopback TCP socket bound to ``port`` is one of this
    process's (Linux: /proc/net/tcp gives its inode, /proc/self/fd ours).
    True where /proc cannot tell."""
    inodes = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    next(f)
                    for line in f:
                        cols = line.split()
                        if int(cols[1].rsplit(":", 1)[1], 16) == port:
                            inodes.add(cols[9])
            except FileNotFoundError:
                continue
        if not inodes:
            return True
        for fd in os.listdir("/proc/self/fd"):
            try:
                link = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
        return False
    except OSError:  # pragma: no cover - no /proc
        return True
