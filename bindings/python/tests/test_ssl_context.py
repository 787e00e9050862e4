"""ssl= takes an ssl.SSLContext on serve and connect, as in websockets: a
certificate chain (root -> intermediate -> leaf) made for the test, client
certificates, a custom CA; libws and websockets on either side."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl

import pytest

from conftest import run, wait_for

import libws
import libws.asyncio

# build.sh installs cryptography and websockets for these tests: a missing
# one fails the suite rather than skipping it.
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

import websockets  # noqa: E402
import websockets.asyncio.client  # noqa: E402
import websockets.asyncio.server  # noqa: E402


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, key, issuer, issuer_key, *, ca, sans=(), usage=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    if usage:
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    return b.sign(issuer_key, hashes.SHA256())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    root_key, inter_key, leaf_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    root = _cert("libws test root", root_key, "libws test root", root_key, ca=True)
    inter = _cert("libws test intermediate", inter_key, "libws test root", root_key, ca=True)
    leaf = _cert(
        "localhost", leaf_key, "libws test intermediate", inter_key, ca=False,
        sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client = _cert("client one", client_key, "libws test root", root_key, ca=False, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    files = {
        "ca": _pem(root),
        "chain": _pem(leaf) + _pem(inter),  # leaf then intermediate: the client trusts the root only
        "key": _key_pem(leaf_key),
        "client": _pem(client),
        "client_key": _key_pem(client_key),
    }
    paths = {}
    for k, v in files.items():
        paths[k] = str(d / f"{k}.pem")
        with open(paths[k], "wb") as f:
            f.write(v)
    return paths


def server_ctx(pki, require_client=True):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki["chain"], pki["key"])
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki["ca"])
    return ctx


def client_ctx(pki, with_cert=True):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=pki["ca"])
    if with_cert:
        ctx.load_cert_chain(pki["client"], pki["client_key"])
    return ctx


SERVERS = {"libws": libws.asyncio.serve, "websockets": websockets.asyncio.server.serve}
CLIENTS = {"libws": libws.asyncio.connect, "websockets": websockets.asyncio.client.connect}


async def echo(ws):
    async for m in ws:
        await ws.send(m)


@pytest.mark.parametrize(
    "server,client", [("libws", "libws"), ("libws", "websockets"), ("websockets", "libws")]
)
def test_wss_with_ssl_contexts(pki, server, client):
    async def main():
        async with SERVERS[server](echo, "127.0.0.1", 0, ssl=server_ctx(pki)) as srv:
            port = srv.sockets[0].getsockname()[1]
            async with CLIENTS[client](f"wss://localhost:{port}/tls?x=1", ssl=client_ctx(pki)) as ws:
                for m in ("secure", b"\x00" * 200000, "é" * 1000):
                    await ws.send(m)
                    assert await wait_for(ws.recv()) == m
                assert ws.remote_address[:2] == ("127.0.0.1", port)

    run(main())


def test_libws_server_sees_the_request_and_the_tls_client(pki):
    seen = {}

    async def handler(ws):
        seen["path"] = ws.request.path
        seen["host"] = ws.request.headers["Host"]
        seen["remote"] = ws.remote_address
        seen["local"] = ws.local_address
        await ws.send("ok")

    async def main():
        async with libws.asyncio.serve(handler, "127.0.0.1", 0, ssl=server_ctx(pki)) as srv:
            port = srv.sockets[0].getsockname()[1]
            async with libws.asyncio.connect(f"wss://localhost:{port}/p?q=1", ssl=client_ctx(pki)) as ws:
                assert await wait_for(ws.recv()) == "ok"
                return port, ws.local_address

    port, client_local = run(main())
    assert seen["path"] == "/p?q=1" and seen["host"] == f"localhost:{port}"
    assert seen["local"][:2] == ("127.0.0.1", port) and seen["remote"] == client_local[:2]


def test_client_certificate_required(pki):
    # Without a client certificate the server refuses the TLS session.
    async def main():
        async with libws.asyncio.serve(echo, "127.0.0.1", 0, ssl=server_ctx(pki)) as srv:
            port = srv.sockets[0].getsockname()[1]
            with pytest.raises((OSError, libws.WebSocketError, asyncio.TimeoutError)):
                ws = await libws.asyncio.connect(f"wss://localhost:{port}/", ssl=client_ctx(pki, with_cert=False), open_timeout=5)
                await ws.send("x")
                await wait_for(ws.recv())

    run(main())


def test_unknown_ca_is_refused(pki):
    # A client that does not trust the test's CA fails the TLS handshake
    # with ssl.SSLCertVerificationError (an OSError), as websockets does.
    async def main():
        async with libws.asyncio.serve(echo, "127.0.0.1", 0, ssl=server_ctx(pki, require_client=False)) as srv:
            port = srv.sockets[0].getsockname()[1]
            for connect in CLIENTS.values():
                with pytest.raises(ssl.SSLCertVerificationError):
                    await connect(f"wss://localhost:{port}/", ssl=ssl.create_default_context())

    run(main())


def test_ssl_argument_checks(pki):
    with pytest.raises(TypeError):
        libws.asyncio.serve(echo, "127.0.0.1", 0, ssl="not a context")
    with pytest.raises(ValueError):
        libws.asyncio.serve(echo, "127.0.0.1", 0, ssl=server_ctx(pki), tls_cert_file=pki["chain"])

    async def main():
        with pytest.raises(ValueError):
            await libws.asyncio.connect("ws://127.0.0.1:1/", ssl=client_ctx(pki))

    run(main())


def test_the_client_bridge_serves_only_this_process(pki):
    # A connection from another process to the loopback bridge is turned
    # away; this process's own sockets are recognised.
    import socket
    import subprocess
    import sys

    from libws import _tls

    with socket.create_server(("127.0.0.1", 0)) as lsock:
        port = lsock.getsockname()[1]
        mine = socket.create_connection(("127.0.0.1", port))
        conn, peer = lsock.accept()
        assert _tls._socket_of_this_process(peer[1])
        mine.close()
        conn.close()
        code = (
            "import socket, sys, time\n"
            f"s = socket.create_connection(('127.0.0.1', {port}))\n"
            "print(s.getsockname()[1], flush=True)\n"
            "time.sleep(3)\n"
        )
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            other_port = int(child.stdout.readline())
            conn, peer = lsock.accept()
            assert peer[1] == other_port
            assert not _tls._socket_of_this_process(peer[1])
            conn.close()
        finally:
            child.kill()
            child.wait(10)
            child.stdout.close()
