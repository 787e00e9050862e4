"""Loading ``libws.so`` and the ctypes prototypes of ``include/ws.h``.

Internal module: everything public is re-exported by the package.

The library is searched for, in this order:

1. ``libws.so`` inside this package (``pip install`` puts the copy made by
   ``./build.sh`` there, or the wheel for this platform its library):
   ``libws.dylib`` on macOS, ``libws.dll`` on Windows (:func:`lib_name`);
2. the path in the environment variable ``LIBWS_LIBRARY``;
3. the system's library path (``ctypes.util.find_library("ws")``, then a
   plain ``dlopen("libws.so")``).

Only the first library that loads is used: loading two Go c-shared
libraries (two copies of libws.so) into one process is unsupported by Go.

Functions that may block (the Go exports that wait for the network) are
called through a :class:`ctypes.CDLL`, which releases the GIL. The event
hub's calls that never wait (``ws_hub_poll_raw`` with a zero timeout, which
on an inline hub serves the sockets that are ready; ``ws_hub_send_raw``,
which writes what the sockets take) are called through a
:class:`ctypes.PyDLL` view of the same library, which keeps the GIL and is
cheaper per call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from ctypes import (
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint64,
    c_void_p,
)
from typing import List, Optional, Tuple

__all__ = ["lib", "fastlib", "library_path"]

# ----------------------------------------------------------------------------
# Constants (ws.h). Every integer and string #define WS_* of include/ws.h is
# here with the same value, and nothing else: tests/test_hub_contract.py
# fails on any difference.

WS_VERSION_MAJOR = 0
WS_VERSION_MINOR = 1
WS_VERSION_PATCH = 0
WS_VERSION_STRING = "0.1.0"

WS_OK = 0
WS_EINVAL = -1
WS_EBADHANDLE = -2
WS_ENOMEM = -3
WS_EPROTO = -4
WS_EUTF8 = -5
WS_ETOOBIG = -6
WS_ECLOSED = -7
WS_ETIMEDOUT = -8
WS_EIO = -9
WS_EHANDSHAKE = -10
WS_ETLS = -11
WS_ENOSPACE = -12
WS_EAGAIN = -13
WS_EINTERNAL = -14
WS_EPOLICY = -15
WS_EINTR = -16

WS_OP_CONTINUATION = 0x0
WS_OP_TEXT = 0x1
WS_OP_BINARY = 0x2
WS_OP_CLOSE = 0x8
WS_OP_PING = 0x9
WS_OP_PONG = 0xA

# Flags of ws_read_message_timeout().
WS_READ_CONTROL = 0x1

WS_RSV1 = 0x4
WS_RSV2 = 0x2
WS_RSV3 = 0x1

WS_CLOSE_NORMAL = 1000
WS_CLOSE_GOING_AWAY = 1001
WS_CLOSE_PROTOCOL_ERROR = 1002
WS_CLOSE_UNSUPPORTED_DATA = 1003
WS_CLOSE_NO_STATUS = 1005
WS_CLOSE_ABNORMAL = 1006
WS_CLOSE_INVALID_PAYLOAD = 1007
WS_CLOSE_POLICY_VIOLATION = 1008
WS_CLOSE_MESSAGE_TOO_BIG = 1009
WS_CLOSE_MANDATORY_EXT = 1010
WS_CLOSE_INTERNAL_ERROR = 1011

WS_ROLE_SERVER = 0
WS_ROLE_CLIENT = 1
WS_MESSAGES = 0x1

WS_MAX_HEADER_SIZE = 14
WS_MAX_CONTROL_PAYLOAD = 125
WS_MAX_CLOSE_REASON = 123

WS_OPT_MAX_FRAME_SIZE = 1
WS_OPT_MAX_MESSAGE_SIZE = 2
WS_OPT_AUTO_PONG = 3
WS_OPT_AUTO_CLOSE = 4
WS_OPT_TIMEOUT_MS = 5
WS_OPT_CLOSE_TIMEOUT_MS = 6
WS_OPT_TLS_VERIFY = 7
WS_OPT_READ_TIMEOUT_MS = 8
WS_OPT_WRITE_TIMEOUT_MS = 9
WS_OPT_READ_BUFFER_SIZE = 10
WS_OPT_WRITE_BUFFER_SIZE = 11
WS_OPT_SUBPROTOCOLS = 50
WS_OPT_HEADERS = 51
WS_OPT_TLS_CERT_FILE = 52
WS_OPT_TLS_KEY_FILE = 53
WS_OPT_TLS_CA_FILE = 54
WS_OPT_ORIGIN = 55
WS_OPT_TLS_SERVER_NAME = 56
WS_OPT_HUB_HIGH_WATER = 100
WS_OPT_HUB_MAX_BUFFERED = 101
WS_OPT_HUB_PING_INTERVAL_MS = 102
WS_OPT_HUB_IDLE_TIMEOUT_MS = 103
WS_OPT_HUB_STATIC_DIR = 104
WS_OPT_HUB_THREADED = 105
WS_OPT_HUB_MAX_TOTAL_BUFFERED = 106
WS_OPT_HUB_PONG_TIMEOUT_MS = 107
WS_OPT_HUB_HANDSHAKE_CONTROL = 108
WS_OPT_HUB_REUSEPORT = 120
WS_OPT_HUB_BROKER = 121
WS_OPT_COMPRESSION = 200
WS_OPT_COMPRESSION_LEVEL = 201
WS_OPT_COMPRESSION_THRESHOLD = 202
WS_OPT_COMPRESSION_TAKEOVER = 203
WS_OPT_COMPRESSION_MAX_WINDOW_BITS = 204

WS_EVENT_OPEN = 1
WS_EVENT_MESSAGE = 2
WS_EVENT_PING = 3
WS_EVENT_PONG = 4
WS_EVENT_CLOSE = 5
WS_EVENT_ERROR = 6
WS_EVENT_BACKPRESSURE = 7
WS_EVENT_DRAIN = 8
WS_EVENT_REQUEST = 9
WS_EVENT_BROKER = 16
WS_BROKER_DOWN = 1
WS_BROKER_UP = 2

WS_RECORD_HEADER = 24
WS_RECORD_MAX_LEN = (1 << 31) - 64
WS_CMD_SEND = 1
WS_CMD_CLOSE = 2
WS_CMD_TERMINATE = 3
WS_CMD_SEND_REF = 5
WS_CMD_PAUSE = 6
WS_CMD_RESUME = 7
WS_CMD_ACCEPT = 8
WS_CMD_REJECT = 9
WS_TOPIC_MAX_LEN = 1024
WS_CMD_SUBSCRIBE = 16
WS_CMD_UNSUBSCRIBE = 17
WS_CMD_PUBLISH = 18

# ----------------------------------------------------------------------------
# Structures


class ws_header_t(Structure):
    _fields_ = [
        ("fin", c_uint8),
        ("rsv", c_uint8),
        ("opcode", c_uint8),
        ("masked", c_uint8),
        ("mask", c_uint8 * 4),
        ("length", c_uint64),
    ]


class ws_frame_t(Structure):
    _fields_ = [
        ("opcode", c_int),
        ("fin", c_int),
        ("rsv", c_int),
        ("data", c_void_p),
        ("len", c_size_t),
    ]


# ----------------------------------------------------------------------------
# Loading

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
ENV_VAR = "LIBWS_LIBRARY"


def lib_name(platform: Optional[str] = None) -> str:
    """The library's file name on platform (default ``sys.platform``): what
    the wheel for it ships (bindings/python/_backend/libws_build.py
    ``LIB_NAMES``; README: "Platforms")."""
    platform = sys.platform if platform is None else platform
    return {"darwin": "libws.dylib", "win32": "libws.dll"}.get(platform, "libws.so")


LIB_NAME = lib_name()


def _candidates() -> List[Tuple[str, Optional[str]]]:
    """(description, path) pairs in search order; path None = not available.
    Reads sys.platform at each call."""
    name = lib_name()
    out: List[Tuple[str, Optional[str]]] = []
    pkg = os.path.join(_PKG_DIR, name)
    out.append((f"inside the package ({pkg})", pkg if os.path.exists(pkg) else None))
    env = os.environ.get(ENV_VAR)
    out.append((f"${ENV_VAR} ({env!r})" if env else f"${ENV_VAR} (not set)", env or None))
    found = ctypes.util.find_library("ws")
    out.append(("the system library path", found or name))
    return out


def _load() -> Tuple[ctypes.CDLL, ctypes.PyDLL, str]:
    errors: List[str] = []
    for what, path in _candidates():
        if path is None:
            errors.append(f"  - {what}: not found")
            continue
        try:
            lib = ctypes.CDLL(path)
            lib.ws_version  # noqa: B018 -- is it libws at all?
        except (OSError, AttributeError) as exc:
            errors.append(f"  - {what}: {exc}")
            continue
        # Same dlopen handle, calls that keep the GIL (plain C, non-blocking).
        fast = ctypes.PyDLL(path)
        return lib, fast, path
    raise ImportError(
        f"libws: cannot load {LIB_NAME}. Tried, in order:\n"
        + "\n".join(errors)
        + "\nBuild it with ./build.sh (which copies it into bindings/python/libws/), "
        f"set {ENV_VAR} to the path of {LIB_NAME}, or install it on the system library path."
    )


lib, fastlib, library_path = _load()


def _proto(l: ctypes.CDLL, name: str, restype, *argtypes) -> None:  # type: ignore[no-untyped-def]
    f = getattr(l, name)
    f.restype = restype
    f.argtypes = list(argtypes)


_P = c_void_p  # every opaque handle
_PP = POINTER(c_void_p)

for _l in (lib,):
    _proto(_l, "ws_version", c_char_p)
    _proto(_l, "ws_version_number", c_int)
    _proto(_l, "ws_strerror", c_char_p, c_int)
    _proto(_l, "ws_errmsg", c_char_p)
    # frames
    _proto(_l, "ws_parse_header", c_int, c_void_p, c_size_t, POINTER(ws_header_t))
    _proto(_l, "ws_encode_header", c_int, POINTER(ws_header_t), c_void_p, c_size_t)
    _proto(_l, "ws_mask", c_size_t, c_void_p, c_size_t, c_char_p, c_size_t)
    _proto(_l, "ws_accept_key", c_int, c_char_p, c_void_p)
    _proto(_l, "ws_utf8_valid", c_int, c_void_p, c_size_t)
    # options
    _proto(_l, "ws_options_new", c_int, _PP)
    _proto(_l, "ws_options_free", None, _P)
    _proto(_l, "ws_options_set_int", c_int, _P, c_int, c_int64)
    _proto(_l, "ws_options_set_str", c_int, _P, c_int, c_char_p)
    _proto(_l, "ws_options_get_int", c_int, _P, c_int, POINTER(c_int64))
    _proto(_l, "ws_options_errmsg", c_char_p, _P)
    # parser
    _proto(_l, "ws_parser_new", c_int, _PP, c_int, _P)
    _proto(_l, "ws_parser_free", None, _P)
    _proto(_l, "ws_parser_feed", c_int, _P, c_void_p, c_size_t)
    _proto(_l, "ws_parser_next", c_int, _P, POINTER(ws_frame_t), c_int, c_int)
    _proto(_l, "ws_parser_write", c_int, _P, c_int, c_int, c_void_p, c_size_t)
    _proto(_l, "ws_parser_close", c_int, _P, c_int, c_char_p)
    _proto(_l, "ws_parser_output", c_int, _P, POINTER(c_void_p), POINTER(c_size_t))
    _proto(_l, "ws_parser_consume", c_int, _P, c_size_t)
    _proto(_l, "ws_parser_close_status", c_int, _P, POINTER(c_int), c_void_p, c_size_t)
    _proto(_l, "ws_parser_errmsg", c_char_p, _P)
    # listeners and connections
    _proto(_l, "ws_listen", c_int, _PP, c_char_p, c_int, _P)
    _proto(_l, "ws_listener_port", c_int, _P)
    _proto(_l, "ws_accept", c_int, _P, _PP, c_int)
    _proto(_l, "ws_listener_free", None, _P)
    _proto(_l, "ws_listener_errmsg", c_char_p, _P)
    _proto(_l, "ws_adopt_fd", c_int, _PP, c_int, _P)
    _proto(_l, "ws_connect", c_int, _PP, c_char_p, _P)
    _proto(_l, "ws_read_frame", c_int, _P, POINTER(ws_frame_t))
    _proto(_l, "ws_read_message", c_int, _P, POINTER(ws_frame_t))
    _proto(_l, "ws_read_message_into", c_int, _P, POINTER(c_int), c_void_p, c_size_t, POINTER(c_size_t))
    _proto(_l, "ws_write_frame", c_int, _P, c_int, c_int, c_void_p, c_size_t)
    _proto(_l, "ws_write_message", c_int, _P, c_int, c_void_p, c_size_t)
    _proto(_l, "ws_ping", c_int, _P, c_void_p, c_size_t)
    _proto(_l, "ws_pong", c_int, _P, c_void_p, c_size_t)
    _proto(_l, "ws_close", c_int, _P, c_int, c_char_p)
    _proto(_l, "ws_close_status", c_int, _P, POINTER(c_int), c_void_p, c_size_t)
    _proto(_l, "ws_conn_subprotocol", c_char_p, _P)
    _proto(_l, "ws_read_message_timeout", c_int, _P, POINTER(ws_frame_t), c_int, c_int)
    _proto(_l, "ws_conn_path", c_char_p, _P)
    _proto(_l, "ws_conn_headers", c_char_p, _P)
    _proto(_l, "ws_conn_peer", c_char_p, _P)
    _proto(_l, "ws_conn_errmsg", c_char_p, _P)
    _proto(_l, "ws_conn_free", None, _P)
    # hub (Go exports and the plain C functions, GIL released)
    _proto(_l, "ws_hub_new", c_int, _PP, _P)
    _proto(_l, "ws_hub_listen", c_int, _P, c_char_p, c_int, _P, POINTER(c_int))
    _proto(_l, "ws_hub_connect", c_int, _P, c_char_p, _P, POINTER(c_uint64))
    _proto(_l, "ws_hub_fd", c_int, _P)
    _proto(_l, "ws_hub_adopt", c_int, _P, c_int, c_char_p, c_size_t, _P, POINTER(c_uint64))
    _proto(_l, "ws_hub_accept", c_int, _P, c_uint64, c_char_p, c_char_p)
    _proto(_l, "ws_hub_reject", c_int, _P, c_uint64, c_int, c_char_p, c_char_p, c_size_t)
    _proto(_l, "ws_hub_latency", c_int64, _P, c_uint64)
    _proto(_l, "ws_hub_poll_raw", c_int, _P, c_void_p, c_size_t, c_int)
    _proto(_l, "ws_hub_send", c_int, _P, c_uint64, c_int, c_void_p, c_size_t)
    _proto(_l, "ws_hub_send_raw", c_int, _P, c_void_p, c_size_t)
    _proto(_l, "ws_hub_close", c_int, _P, c_uint64, c_int, c_char_p)
    _proto(_l, "ws_hub_terminate", c_int, _P, c_uint64)
    _proto(_l, "ws_hub_buffered_amount", c_int64, _P, c_uint64)
    _proto(_l, "ws_hub_topic_count", c_int64, _P, c_char_p)
    _proto(_l, "ws_hub_shutdown", c_int, _P, c_int)
    _proto(_l, "ws_hub_errmsg", c_char_p, _P)
    _proto(_l, "ws_hub_free", None, _P)

# Plain C hub functions that never block when called with timeout 0: keep
# the GIL (no release/reacquire per call on the hot path).
_proto(fastlib, "ws_hub_poll_raw", c_int, _P, c_void_p, c_size_t, c_int)
_proto(fastlib, "ws_hub_send_raw", c_int, _P, c_char_p, c_size_t)
_proto(fastlib, "ws_hub_close", c_int, _P, c_uint64, c_int, c_char_p)
_proto(fastlib, "ws_hub_terminate", c_int, _P, c_uint64)
_proto(fastlib, "ws_hub_fd", c_int, _P)


def strerror(code: int) -> str:
    """``ws_strerror(code)``: the static English name of a result code."""
    return lib.ws_strerror(code).decode()


def errmsg() -> str:
    """``ws_errmsg()``: the calling thread's last detailed error message."""
    return lib.ws_errmsg().decode("utf-8", "replace")


# ----------------------------------------------------------------------------
# Buffers


def in_buffer(data) -> Tuple[object, int]:  # type: ignore[no-untyped-def]
    """A read-only bytes-like object as (something ctypes passes as a
    ``const void *``, length in bytes), without copying when possible."""
    if type(data) is bytes:
        return data, len(data)
    mv = memoryview(data)
    if mv.readonly or not mv.c_contiguous:
        b = mv.tobytes()
        return b, len(b)
    n = mv.nbytes
    if n == 0:
        return None, 0
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return (c_char * n).from_buffer(mv), n


def out_buffer(data) -> Tuple[object, int]:  # type: ignore[no-untyped-def]
    """A writable, C-contiguous buffer as (ctypes array, length in bytes)."""
    mv = memoryview(data)
    if mv.readonly:
        raise TypeError(f"a writable bytes-like object is required, not {type(data).__name__}")
    if not mv.c_contiguous:
        raise ValueError("the buffer must be C-contiguous")
    n = mv.nbytes
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return (c_char * n).from_buffer(mv), n
