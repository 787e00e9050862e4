"""ws_options_t: built from keyword arguments by the connection layers."""

from __future__ import annotations

import ctypes
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple, Union

from . import _ffi
from ._errors import WebSocketError, check
from ._ffi import lib

HeadersLike = Union[Mapping[str, str], Iterable[Tuple[str, str]]]

_MS = 1000.0
_INT64_MAX = (1 << 63) - 1


def _ms(seconds: Optional[float], *, zero_is_none: bool = True) -> int:
    """Seconds (None = no bound) as whole milliseconds for libws."""
    if seconds is None:
        return 0 if zero_is_none else 1
    if seconds < 0:
        raise ValueError(f"a timeout must be >= 0 seconds, not {seconds!r}")
    ms = int(round(seconds * _MS))
    return max(ms, 1) if seconds > 0 else 0


def headers_string(headers: Optional[HeadersLike]) -> Optional[str]:
    """Extra headers as the "Name: value\\r\\n" lines of WS_OPT_HEADERS."""
    if headers is None:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    return "".join(f"{k}: {v}\r\n" for k, v in items)


class Options:
    """An owned ``ws_options_t`` handle. Use as a context manager or call
    :meth:`free`; constructors copy what they need, so the handle may be
    freed right after use."""

    __slots__ = ("_h",)

    def __init__(self) -> None:
        h = ctypes.c_void_p()
        check(lib.ws_options_new(ctypes.byref(h)))
        self._h: Optional[int] = h.value

    @property
    def handle(self) -> Optional[int]:
        return self._h

    def _err(self, rc: int) -> WebSocketError:
        from ._errors import error

        msg = lib.ws_options_errmsg(self._h)
        return error(rc, msg.decode() if msg else None)

    def set_int(self, opt: int, value: int) -> "Options":
        rc = lib.ws_options_set_int(self._h, opt, int(value))
        if rc < 0:
            raise self._err(rc)
        return self

    def set_str(self, opt: int, value: Optional[str]) -> "Options":
        rc = lib.ws_options_set_str(self._h, opt, None if value is None else value.encode())
        if rc < 0:
            raise self._err(rc)
        return self

    def get_int(self, opt: int) -> int:
        v = ctypes.c_int64()
        rc = lib.ws_options_get_int(self._h, opt, ctypes.byref(v))
        if rc < 0:
            raise self._err(rc)
        return v.value

    def free(self) -> None:
        h, self._h = self._h, None
        if h:
            lib.ws_options_free(h)

    def __enter__(self) -> "Options":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.free()

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def build(
    *,
    max_size: Optional[int] = -1,
    max_frame_size: Optional[int] = None,
    auto_pong: Optional[bool] = None,
    auto_close: Optional[bool] = None,
    open_timeout: Optional[float] = -1.0,
    close_timeout: Optional[float] = None,
    read_timeout: Optional[float] = None,
    write_timeout: Optional[float] = None,
    subprotocols: Optional[Sequence[str]] = None,
    headers: Optional[HeadersLike] = None,
    origin: Optional[str] = None,
    origins: Optional[Sequence[str]] = None,
    tls_verify: Optional[bool] = None,
    tls_ca_file: Optional[str] = None,
    tls_cert_file: Optional[str] = None,
    tls_key_file: Optional[str] = None,
    tls_server_name: Optional[str] = None,
    high_water: Optional[int] = None,
    max_buffered: Optional[int] = None,
    max_total_buffered: Optional[int] = None,
    ping_interval: Optional[float] = None,
    ping_timeout: Optional[float] = None,
    idle_timeout: Optional[float] = None,
    compression: Optional[str] = None,
    handshake_control: bool = False,
    broker: Optional[str] = None,
    reuse_port: Optional[bool] = None,
) -> Options:
    """An Options handle from keyword arguments (None / defaults = libws's
    defaults). ``max_size=None`` lifts the message size limit (2**63-1).
    ``compression="deflate"`` enables permessage-deflate (RFC 7692): a
    server accepts it when the client offers it, a client offers it.
    ``broker`` is a Redis URL (WS_OPT_HUB_BROKER) joining every hub given
    the same one into one system of topics; ``reuse_port`` sets
    SO_REUSEPORT on the hub's own listeners (WS_OPT_HUB_REUSEPORT)."""
    o = Options()
    try:
        if max_size is None:
            o.set_int(_ffi.WS_OPT_MAX_MESSAGE_SIZE, _INT64_MAX)
        elif max_size != -1:
            if max_size <= 0:
                raise ValueError("max_size must be > 0 or None")
            o.set_int(_ffi.WS_OPT_MAX_MESSAGE_SIZE, max_size)
        if max_frame_size is not None:
            o.set_int(_ffi.WS_OPT_MAX_FRAME_SIZE, max_frame_size)
        if auto_pong is not None:
            o.set_int(_ffi.WS_OPT_AUTO_PONG, int(bool(auto_pong)))
        if auto_close is not None:
            o.set_int(_ffi.WS_OPT_AUTO_CLOSE, int(bool(auto_close)))
        if open_timeout != -1.0:
            o.set_int(_ffi.WS_OPT_TIMEOUT_MS, _ms(open_timeout))
        if close_timeout is not None:
            o.set_int(_ffi.WS_OPT_CLOSE_TIMEOUT_MS, max(1, _ms(close_timeout)))
        if read_timeout is not None:
            o.set_int(_ffi.WS_OPT_READ_TIMEOUT_MS, _ms(read_timeout))
        if write_timeout is not None:
            o.set_int(_ffi.WS_OPT_WRITE_TIMEOUT_MS, _ms(write_timeout))
        if subprotocols:
            o.set_str(_ffi.WS_OPT_SUBPROTOCOLS, ",".join(subprotocols))
        if headers is not None:
            o.set_str(_ffi.WS_OPT_HEADERS, headers_string(headers))
        if origin is not None:
            o.set_str(_ffi.WS_OPT_ORIGIN, origin)
        if origins is not None:
            o.set_str(_ffi.WS_OPT_ORIGIN, ",".join(origins))
        if tls_verify is not None:
            o.set_int(_ffi.WS_OPT_TLS_VERIFY, int(bool(tls_verify)))
        if tls_ca_file is not None:
            o.set_str(_ffi.WS_OPT_TLS_CA_FILE, tls_ca_file)
        if tls_cert_file is not None:
            o.set_str(_ffi.WS_OPT_TLS_CERT_FILE, tls_cert_file)
        if tls_key_file is not None:
            o.set_str(_ffi.WS_OPT_TLS_KEY_FILE, tls_key_file)
        if tls_server_name is not None:
            o.set_str(_ffi.WS_OPT_TLS_SERVER_NAME, tls_server_name)
        if high_water is not None:
            o.set_int(_ffi.WS_OPT_HUB_HIGH_WATER, high_water)
        if max_buffered is not None:
            o.set_int(_ffi.WS_OPT_HUB_MAX_BUFFERED, max_buffered)
        if max_total_buffered is not None:
            o.set_int(_ffi.WS_OPT_HUB_MAX_TOTAL_BUFFERED, max_total_buffered)
        if ping_interval is not None:
            o.set_int(_ffi.WS_OPT_HUB_PING_INTERVAL_MS, _ms(ping_interval))
        if ping_timeout is not None:
            o.set_int(_ffi.WS_OPT_HUB_PONG_TIMEOUT_MS, _ms(ping_timeout))
        if idle_timeout is not None:
            o.set_int(_ffi.WS_OPT_HUB_IDLE_TIMEOUT_MS, _ms(idle_timeout))
        if handshake_control:
            o.set_int(_ffi.WS_OPT_HUB_HANDSHAKE_CONTROL, 1)
        if compression is not None:
            if compression != "deflate":
                raise ValueError(f"compression must be None or 'deflate', not {compression!r}")
            o.set_int(_ffi.WS_OPT_COMPRESSION, 1)
        if broker:
            o.set_str(_ffi.WS_OPT_HUB_BROKER, broker)
        if reuse_port:
            o.set_int(_ffi.WS_OPT_HUB_REUSEPORT, 1)
    except BaseException:
        o.free()
        raise
    return o


def write_limit_high(write_limit: Any, high_water: Optional[int]) -> Optional[int]:
    """The high-water mark from websockets' ``write_limit`` (an int or a
    (high, low) pair; libws's low-water mark is half the high one), unless
    ``high_water`` is given."""
    if write_limit is None or high_water is not None:
        return high_water
    high = write_limit[0] if isinstance(write_limit, tuple) else write_limit
    if isinstance(high, bool) or not isinstance(high, int) or high < 1:
        raise ValueError(f"write_limit must be a positive int or a (high, low) pair, not {write_limit!r}")
    return high
