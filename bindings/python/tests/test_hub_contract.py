"""The hub's host contract as the asyncio binding reads it (docs/hub-contract.md):
constants equal to ws.h's, record decoding, buffer sizing, error status."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import socket
import struct

import pytest
from conftest import PKG_ROOT, RawClient, run, wait_for

import libws
import libws.asyncio as lwa
from libws import _ffi, _records

WS_H = os.path.join(PKG_ROOT, "..", "..", "include", "ws.h")

# Defines of ws.h that are no constants: the include guard, a switch the
# including program sets, and a macro computed from three others (checked
# through ws_version_number() in test_package).
NOT_CONSTANTS = {"WS_H", "WS_NO_PROTOTYPES", "WS_VERSION_NUMBER"}


def _c_value(text: str):
    """The value of a constant C expression of ws.h: integer literals (with
    u/U/l/L suffixes), parentheses, unary minus, + - * << |; or a string."""
    text = text.strip()
    if text.startswith('"'):
        return ast.literal_eval(text)
    py = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b", r"\1", text)
    if not re.fullmatch(r"[0-9a-fA-FxX()+\-*|<> \t]+", py):
        raise ValueError(f"not a constant expression: {text!r}")
    return eval(py, {"__builtins__": {}}, {})  # noqa: S307 -- digits and operators only


def header_defines(path: str = WS_H):
    out = {}
    lines = open(path).read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        m = re.match(r"\s*#\s*define\s+(WS_\w+)(.*)$", line)
        if not m:
            continue
        name, rest = m.group(1), m.group(2)
        while rest.endswith("\\"):
            rest = rest[:-1] + " " + lines[i]
            i += 1
        if name in NOT_CONSTANTS:
            continue
        rest = re.sub(r"/\*.*?(\*/|$)", "", rest).split("//")[0]  # a comment may go on below
        out[name] = _c_value(rest)
    return out


@pytest.mark.skipif(not os.path.exists(WS_H), reason="include/ws.h not found (installed package)")
def test_constants_equal_ws_h():
    header = header_defines()
    ours = {k: v for k, v in vars(_ffi).items() if k.startswith("WS_") and isinstance(v, (int, str))}
    assert len(header) > 80
    missing = sorted(set(header) - set(ours))
    extra = sorted(set(ours) - set(header))
    differ = sorted(k for k in set(header) & set(ours) if header[k] != ours[k])
    assert (missing, extra, differ) == ([], [], []), (
        f"_ffi.py and ws.h differ: missing {missing}, not in ws.h {extra}, "
        f"different {[(k, ours[k], header[k]) for k in differ]}"
    )


def test_parser_of_defines_sees_a_difference(tmp_path):
    # The check above must be able to fail: a value changed in a copy of
    # ws.h shows up as a difference.
    text = open(WS_H).read() if os.path.exists(WS_H) else "#define WS_EPROTO (-4)\n"
    changed = re.sub(r"#define WS_EPROTO\s+\(-4\)", "#define WS_EPROTO (-40)", text)
    assert changed != text
    p = tmp_path / "ws.h"
    p.write_text(changed)
    assert header_defines(str(p))["WS_EPROTO"] == -40 != _ffi.WS_EPROTO


# -- records ----------------------------------------------------------------


def field(b: bytes) -> bytes:
    return struct.pack("<I", len(b)) + b + b"\0"


def test_open_fields_are_length_prefixed():
    # A NUL inside a field is part of it: nothing shifts into the next one.
    payload = field(b"1.2.3.4:5") + field(b"/x\0admin-proto\0X-Evil:injected") + field(b"chat") + field(
        b"Host: a\r\nX-A: 1\r\n"
    )
    peer, path, proto, headers = _records.open_fields(payload)
    assert peer == "1.2.3.4:5"
    assert path == "/x\0admin-proto\0X-Evil:injected"
    assert proto == "chat"
    assert headers == b"Host: a\r\nX-A: 1\r\n"


def test_open_fields_ignore_fields_appended_later():
    payload = field(b"p:1") + field(b"/") + field(b"") + field(b"") + field(b"future field")
    assert _records.open_fields(payload) == ("p:1", "/", "", b"")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        field(b"p:1") + field(b"/") + field(b""),  # a field missing
        field(b"p:1") + struct.pack("<I", 1000) + b"short\0",  # a length past the end
        field(b"p:1")[:-1] + b"x" + field(b"/") + field(b"") + field(b""),  # no NUL after a field
    ],
)
def test_open_fields_malformed(payload):
    with pytest.raises(ValueError):
        _records.open_fields(payload)


def test_header_lines_split_on_crlf_only():
    h = libws.Headers.parse(b"X-Inj: a\nAuthorization: Bearer injected\r\nHost: h\r\n")
    assert "authorization" not in h
    assert h["x-inj"] == "a\nAuthorization: Bearer injected"
    assert h["host"] == "h"


def test_record_size_from_header():
    head = struct.pack("<BBHIQIi", _ffi.WS_EVENT_MESSAGE, 2, 0, 5 * 2**20 + 3, 7, 0, 0)
    assert _records.record_size(head) == 24 + 5 * 2**20 + 8
    head = struct.pack("<BBHIQIi", _ffi.WS_EVENT_MESSAGE, 2, 0, 16, 7, 0, 0)
    assert _records.record_size(head) == 40
    bad = struct.pack("<BBHIQIi", _ffi.WS_EVENT_MESSAGE, 2, 0, _ffi.WS_RECORD_MAX_LEN + 1, 7, 0, 0)
    with pytest.raises(ValueError):
        _records.record_size(bad)


@pytest.mark.parametrize(
    "status,close_code,cls",
    [
        (_ffi.WS_EPROTO, 1002, libws.ProtocolError),
        (_ffi.WS_EUTF8, 1007, libws.ProtocolError),
        (_ffi.WS_ETOOBIG, 1009, libws.ProtocolError),
        (_ffi.WS_ETIMEDOUT, 0, libws.WebSocketTimeout),
        (_ffi.WS_EHANDSHAKE, 0, libws.InvalidHandshake),
        (_ffi.WS_EIO, 0, libws.WebSocketError),
        (_ffi.WS_ETLS, 0, libws.WebSocketError),
        (_ffi.WS_EPOLICY, 1008, libws.WebSocketError),
    ],
)
def test_errors_come_from_the_status_not_the_text(status, close_code, cls):
    # The message says something else on purpose: only the status counts.
    e = _records.event_error(status, close_code, "tls: x509 handshake failed: i/o timeout (url)")
    assert type(e) is cls and e.code == status
    if cls is libws.ProtocolError:
        assert e.close_code == close_code


def test_error_without_status_is_classified_by_its_close_code():
    assert _records.event_error(0, 1007, "").code == _ffi.WS_EUTF8
    assert _records.event_error(0, 1008, "").code == _ffi.WS_EPOLICY
    assert _records.event_error(0, 0, "whatever timeout").code == _ffi.WS_EIO


def test_closed_connection_reports_the_status():
    exc = _records.closed_error(None, libws.CloseFrame(1008), None, _ffi.WS_EPOLICY)
    assert isinstance(exc, libws.ConnectionClosedError) and exc.status == _ffi.WS_EPOLICY and exc.close_code == 1008
    assert exc.code == 1006 and exc.rcvd is None and exc.sent.code == 1008
    bye = libws.CloseFrame(1000, "bye")
    assert isinstance(_records.closed_error(bye, bye, True, 0), libws.ConnectionClosedOK)
    # As websockets: OK needs both frames with a normal code.
    assert isinstance(_records.closed_error(bye, None, None, 0), libws.ConnectionClosedError)
    assert isinstance(_records.closed_error(bye, libws.CloseFrame(4000), False, 0), libws.ConnectionClosedError)


# -- against the hub ---------------------------------------------------------


def test_enospace_grows_the_buffer_to_the_reported_size(monkeypatch):
    sizes = []
    alloc = lwa._Hub._alloc

    def recording(self, cap):
        sizes.append(cap)
        alloc(self, cap)

    monkeypatch.setattr(lwa._Hub, "_alloc", recording)
    big = b"\x5a" * (5 * 2**20 + 3)

    async def handler(ws):
        await ws.send(big)
        await ws.recv()

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0) as server:
            async with lwa.connect(f"ws://127.0.0.1:{server.port}/", max_size=None) as ws:
                assert await wait_for(ws.recv()) == big

    run(main())
    need = 24 + ((len(big) + 7) & ~7)
    grown = [s for s in sizes if s > lwa._BUF_SIZE]
    assert grown == [need], sizes


def test_request_target_with_nul_shifts_nothing():
    # GET /x\0admin-proto\0X-Evil:injected once shifted the open event's
    # fields (subprotocol "admin-proto", a header X-Evil). Either the hub
    # refuses it (400, no handler), or the handler sees it whole.
    seen = []

    async def handler(ws):
        seen.append((ws.path, ws.subprotocol, "x-evil" in ws.request.headers))

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0, subprotocols=["chat", "admin-proto"]) as server:
            loop = asyncio.get_running_loop()

            def attack():
                s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                s.sendall(
                    b"GET /x\0admin-proto\0X-Evil:injected HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
                )
                data = s.recv(4096)
                s.close()
                return data

            head = await loop.run_in_executor(None, attack)
            await asyncio.sleep(0.2)
            return head

    head = run(main())
    if head.startswith(b"HTTP/1.1 400"):  # the hub refuses control characters
        assert seen == []
    else:  # decoded by length: nothing shifted
        assert seen == [("/x\0admin-proto\0X-Evil:injected", "chat", False)], seen


def test_send_buffer_limit_raises_with_the_policy_status():
    # The hub fails a connection whose unsent bytes pass max_buffered with
    # 1008 and status WS_EPOLICY: the handler's send raises with that code.
    seen = {}

    async def handler(ws):
        try:
            for _ in range(200):
                await ws.send(b"x" * 65536)
            await ws.recv()
        except libws.ConnectionClosed as e:
            seen["e"] = e

    async def main():
        async with lwa.serve(handler, "127.0.0.1", 0, high_water=4 << 20, max_buffered=1 << 20) as server:
            loop = asyncio.get_running_loop()
            c = await loop.run_in_executor(None, RawClient, server.port)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            try:
                for _ in range(200):
                    if "e" in seen:
                        break
                    await asyncio.sleep(0.05)
            finally:
                c.close()

    run(main())
    e = seen["e"]
    assert isinstance(e, libws.ConnectionClosedError)
    assert (e.status, e.close_code) == (libws.EPOLICY, 1008)


def test_hub_wide_send_buffer_cap():
    # Three clients that never read, each under its own limit, together over
    # the server's max_total_buffered: the hub fails the largest buffers
    # with 1008 / WS_EPOLICY until the total is under the cap.
    ends = []

    async def handler(ws):
        try:
            for _ in range(192):  # 12 MiB: under max_buffered, kernel buffers or not
                await ws.send(b"x" * 65536)
            await ws.recv()
        except libws.ConnectionClosed as e:
            ends.append(e)

    async def main():
        async with lwa.serve(
            handler, "127.0.0.1", 0, high_water=32 << 20, max_buffered=16 << 20, max_total_buffered=8 << 20
        ) as server:
            loop = asyncio.get_running_loop()
            clients = []
            try:
                for _ in range(3):
                    c = await loop.run_in_executor(None, RawClient, server.port)
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    clients.append(c)
                for _ in range(200):
                    if ends:
                        break
                    await asyncio.sleep(0.05)
            finally:
                for c in clients:
                    c.close()

    run(main())
    assert ends
    assert all(isinstance(e, libws.ConnectionClosedError) for e in ends)
    assert (ends[0].status, ends[0].close_code) == (libws.EPOLICY, 1008)


def _field(b):
    return struct.pack("<I", len(b)) + b + b"\0"


def test_request_event_fields():
    payload = b"".join(_field(f) for f in (b"1.2.3.4:5", b"/r?x=1", b"chat, v2", b"Host: h\r\n", b"GET", b"permessage-deflate", b"later"))
    assert _records.request_fields(payload) == ("1.2.3.4:5", "/r?x=1", "chat, v2", b"Host: h\r\n", "GET", "permessage-deflate")
    for bad in (payload[:10], payload[: len(payload) - len(_field(b"later")) - 3]):
        with pytest.raises(ValueError):
            _records.request_fields(bad)
