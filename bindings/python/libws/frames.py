"""Frame primitives: stateless wrappers of ws_parse_header, ws_encode_header,
ws_mask, ws_accept_key and ws_utf8_valid. Safe from any thread."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Optional, Union

from . import _ffi
from ._errors import Close, check
from ._ffi import lib

__all__ = [
    "Close",
    "Header",
    "parse_header",
    "encode_header",
    "encode_frame",
    "mask",
    "accept_key",
    "utf8_valid",
]

BytesLike = Union[bytes, bytearray, memoryview]
MaskArg = Union[None, bool, bytes, bytearray]


@dataclass(frozen=True)
class Header:
    """A decoded frame header (``ws_header_t``) and its encoded size."""

    fin: bool
    rsv: int
    opcode: int
    masked: bool
    mask: bytes
    length: int
    #: bytes the header takes on the wire (2..14); the payload follows.
    size: int


def parse_header(buf: BytesLike) -> Optional[Header]:
    """Decode the frame header at the start of ``buf``.

    Returns a :class:`Header`, or ``None`` when ``buf`` does not hold the
    whole header yet. Raises :class:`libws.ProtocolError` for headers no
    connection may accept (reserved opcodes, fragmented or oversized control
    frames, 64-bit lengths with the top bit set). Only header bytes are read.
    """
    mv = memoryview(buf)
    if mv.nbytes > _ffi.WS_MAX_HEADER_SIZE:
        mv = mv.cast("B")[: _ffi.WS_MAX_HEADER_SIZE]
    data, n = _ffi.in_buffer(mv)
    h = _ffi.ws_header_t()
    rc = lib.ws_parse_header(data, n, ctypes.byref(h))
    if rc == 0:
        return None
    check(rc)
    return Header(bool(h.fin), h.rsv, h.opcode, bool(h.masked), bytes(h.mask), h.length, rc)


def _mask_key(key: MaskArg) -> Optional[bytes]:
    if key is None or key is False:
        return None
    if key is True:
        return os.urandom(4)
    k = bytes(key)
    if len(k) != 4:
        raise ValueError("a masking key has 4 bytes")
    return k


def encode_header(
    opcode: int,
    length: int,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: MaskArg = None,
) -> bytes:
    """Encode a frame header (2..14 bytes) in the smallest length encoding.

    ``mask`` is None (unmasked), ``True`` (a random key) or the 4-byte key;
    the key is written into the header but the payload is not touched (see
    :func:`mask`). No protocol rule is enforced, so tests can build invalid
    frames; raises :class:`libws.WebSocketError` (EINVAL) for opcode > 15,
    rsv > 7 or length >= 2**63.
    """
    key = _mask_key(mask)
    return _encode_header(opcode, length, fin, rsv, key)


def _encode_header(opcode: int, length: int, fin: bool, rsv: int, key: Optional[bytes]) -> bytes:
    if not 0 <= opcode <= 255 or not 0 <= rsv <= 255 or length < 0 or length >= 1 << 64:
        check(_ffi.WS_EINVAL, "opcode, rsv or length out of range")
    h = _ffi.ws_header_t()
    h.fin = 1 if fin else 0
    h.rsv = rsv
    h.opcode = opcode
    h.length = length
    if key is not None:
        h.masked = 1
        h.mask[:] = list(key)
    out = ctypes.create_string_buffer(_ffi.WS_MAX_HEADER_SIZE)
    n = check(lib.ws_encode_header(ctypes.byref(h), out, _ffi.WS_MAX_HEADER_SIZE))
    return out.raw[:n]


def encode_frame(
    opcode: int,
    payload: Union[str, BytesLike] = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: MaskArg = None,
) -> bytes:
    """Encode a whole frame: header, then the payload (UTF-8 if ``str``),
    masked with the key when ``mask`` is given (``True`` = random key, as a
    client must). No protocol rule is enforced (see :func:`encode_header`)."""
    data = payload.encode() if isinstance(payload, str) else bytes(payload)
    key = _mask_key(mask)
    head = _encode_header(opcode, len(data), fin, rsv, key)
    if key is None:
        return head + data
    out = bytearray(head)
    out += data
    if data:
        buf = (ctypes.c_char * len(out)).from_buffer(out)
        lib.ws_mask(ctypes.addressof(buf) + len(head), len(data), key, 0)
        del buf
    return bytes(out)


def mask(buf: Union[bytearray, memoryview], key: BytesLike, offset: int = 0) -> int:
    """XOR ``buf`` in place with the 4-byte masking ``key``, starting at key
    byte ``offset & 3``; returns the key offset for the byte after ``buf``,
    so a payload can be (un)masked in pieces. Masking twice restores the
    data. ``buf`` must be writable (bytearray, writable memoryview, array,
    mmap ...): ``bytes`` raises TypeError."""
    k = bytes(key)
    if len(k) != 4:
        raise ValueError("a masking key has 4 bytes")
    if offset < 0:
        raise ValueError("offset must be >= 0")
    arr, n = _ffi.out_buffer(buf)
    if n == 0:
        return offset & 3
    return lib.ws_mask(arr, n, k, offset)


def accept_key(key: Union[str, bytes]) -> str:
    """The ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key``."""
    k = key.encode("latin-1") if isinstance(key, str) else bytes(key)
    if b"\0" in k:
        raise ValueError("the key contains a NUL byte")
    out = ctypes.create_string_buffer(29)
    check(lib.ws_accept_key(k, out))
    return out.value.decode("ascii")


def utf8_valid(data: BytesLike) -> bool:
    """True if ``data`` is valid UTF-8 as RFC 6455 requires of text (RFC 3629:
    no overlongs, no surrogates, nothing above U+10FFFF)."""
    p, n = _ffi.in_buffer(data)
    return check(lib.ws_utf8_valid(p, n)) == 1
