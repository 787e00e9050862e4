"""Frame primitives: parse_header, encode_header, encode_frame, mask,
accept_key, utf8_valid."""

from __future__ import annotations

import array
import os

import pytest

import libws


def xor(data: bytes, key: bytes, offset: int = 0) -> bytes:
    return bytes(b ^ key[(i + offset) & 3] for i, b in enumerate(data))


@pytest.mark.parametrize("length,size", [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (1 << 40, 10)])
def test_encode_parse_lengths(length, size):
    h = libws.encode_header(libws.OP_BINARY, length)
    assert len(h) == size
    p = libws.parse_header(h)
    assert p == libws.Header(True, 0, libws.OP_BINARY, False, b"\0\0\0\0", length, size)


def test_parse_header_fields_and_mask():
    key = b"\x01\x02\x03\x04"
    h = libws.encode_header(libws.OP_TEXT, 5, fin=False, rsv=4, mask=key)
    p = libws.parse_header(h + b"payload bytes are not read")
    assert (p.fin, p.rsv, p.opcode, p.masked, p.mask, p.length, p.size) == (False, 4, 1, True, key, 5, 6)
    # Works on any buffer type.
    assert libws.parse_header(bytearray(h)) == libws.parse_header(memoryview(h)) == p


def test_parse_header_needs_more():
    h = libws.encode_header(libws.OP_BINARY, 70000, mask=True)
    for i in range(len(h)):
        assert libws.parse_header(h[:i]) is None
    assert libws.parse_header(b"") is None
    assert libws.parse_header(h).size == 14


@pytest.mark.parametrize(
    "raw",
    [
        b"\x83\x00",  # reserved opcode 3
        b"\x89\x7e\x00\x7e",  # ping with 126 bytes
        b"\x09\x00",  # fragmented ping
        b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00",  # 64-bit length, top bit set
    ],
)
def test_parse_header_protocol_errors(raw):
    with pytest.raises(libws.ProtocolError) as e:
        libws.parse_header(raw)
    assert e.value.code == libws.EPROTO


def test_encode_header_errors():
    with pytest.raises(libws.WebSocketError) as e:
        libws.encode_header(16, 0)
    assert e.value.code == libws.EINVAL
    with pytest.raises(libws.WebSocketError):
        libws.encode_header(1, 0, rsv=8)
    with pytest.raises(libws.WebSocketError):
        libws.encode_header(1, 1 << 63)
    with pytest.raises(libws.WebSocketError):
        libws.encode_header(1, -1)
    with pytest.raises(ValueError):
        libws.encode_header(1, 0, mask=b"abc")


def test_encode_header_builds_invalid_frames_for_tests():
    # No protocol rule is enforced: a 200-byte ping header can be built.
    h = libws.encode_header(libws.OP_PING, 200)
    with pytest.raises(libws.ProtocolError):
        libws.parse_header(h)


def test_encode_frame():
    f = libws.encode_frame(libws.OP_TEXT, "héllo")
    assert f == b"\x81\x06" + "héllo".encode()
    key = b"abcd"
    f = libws.encode_frame(libws.OP_BINARY, b"\x00" * 10, mask=key)
    h = libws.parse_header(f)
    assert h.masked and h.mask == key and h.length == 10
    assert f[h.size:] == xor(b"\x00" * 10, key)
    # mask=True: a random key, payload masked with it
    payload = os.urandom(1000)
    f = libws.encode_frame(libws.OP_BINARY, payload, mask=True, fin=False)
    h = libws.parse_header(f)
    assert not h.fin and h.masked
    body = bytearray(f[h.size:])
    libws.mask(body, h.mask)
    assert bytes(body) == payload
    assert libws.encode_frame(libws.OP_PING) == b"\x89\x00"
    assert libws.encode_frame(libws.OP_CLOSE, b"\x03\xe8", mask=b"\0\0\0\0")[-2:] == b"\x03\xe8"


def test_mask_in_place_and_offsets():
    key = b"\x11\x22\x33\x44"
    data = os.urandom(1000)
    buf = bytearray(data)
    assert libws.mask(buf, key) == 1000 & 3
    assert bytes(buf) == xor(data, key)
    libws.mask(buf, key)
    assert bytes(buf) == data
    # in pieces, at any offset
    whole = bytearray(data)
    libws.mask(whole, key, 0)
    pieces = bytearray(data)
    mv = memoryview(pieces)
    off = libws.mask(mv[:3], key, 0)
    assert off == 3
    off = libws.mask(mv[3:10], key, off)
    libws.mask(mv[10:], key, off)
    assert pieces == whole
    # a start offset
    buf = bytearray(data[:9])
    assert libws.mask(buf, key, 6) == (6 + 9) & 3
    assert bytes(buf) == xor(data[:9], key, 2)


def test_mask_buffer_types():
    key = b"abcd"
    a = array.array("I", [0, 0, 0])
    libws.mask(a, key)
    assert a.tobytes() == key * 3
    assert libws.mask(bytearray(), key, 5) == 1
    with pytest.raises(TypeError):
        libws.mask(b"immutable", key)
    with pytest.raises(ValueError):
        libws.mask(bytearray(4), b"abc")
    with pytest.raises(ValueError):
        libws.mask(bytearray(4), key, -1)


def test_mask_large():
    data = os.urandom(3 << 20)
    buf = bytearray(data)
    libws.mask(buf, b"wxyz")
    assert buf[12345] == data[12345] ^ b"wxyz"[12345 & 3]
    libws.mask(buf, b"wxyz")
    assert buf == data


def test_accept_key():
    # RFC 6455 section 1.3
    assert libws.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert libws.accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    with pytest.raises(ValueError):
        libws.accept_key("a\0b")


@pytest.mark.parametrize(
    "data,ok",
    [
        (b"", True),
        (b"hello", True),
        ("κόσμε €𝄞".encode(), True),
        (b"\xff", False),
        (b"\xc0\xaf", False),  # overlong
        (b"\xed\xa0\x80", False),  # surrogate
        (b"\xf4\x90\x80\x80", False),  # above U+10FFFF
        (b"\xe2\x82", False),  # truncated
    ],
)
def test_utf8_valid(data, ok):
    assert libws.utf8_valid(data) is ok
    assert libws.utf8_valid(bytearray(data)) is ok
    assert libws.utf8_valid(memoryview(data)) is ok
