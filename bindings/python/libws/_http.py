"""Small read-only views of what the opening handshake carried."""

from __future__ import annotations

from typing import Iterator, List, Mapping, MutableMapping, Optional, Tuple, Union

__all__ = ["Headers", "Request", "Response", "parse_peer"]


class Headers(MutableMapping[str, str]):
    """HTTP headers: case-insensitive lookup; a repeated header maps to its
    values joined with ", " (all of them: :meth:`get_all`). As websockets'
    Headers, setting a header adds a value (a response's headers are
    built so); ``del`` removes every value."""

    __slots__ = ("_items", "_index")

    def __init__(self, items: Optional[List[Tuple[str, str]]] = None) -> None:
        self._items: List[Tuple[str, str]] = list(items or [])
        self._index: dict = {}
        for k, v in self._items:
            self._index.setdefault(k.lower(), []).append(v)

    @classmethod
    def parse(cls, raw: bytes) -> "Headers":
        """From "Name: value\\r\\n" lines (the format of libws's open events)."""
        items = []
        for line in raw.decode("latin-1").split("\r\n"):
            if not line:
                continue
            name, _, value = line.partition(":")
            items.append((name.strip(), value.strip()))
        return cls(items)

    def __getitem__(self, key: str) -> str:
        return ", ".join(self._index[key.lower()])

    def __setitem__(self, key: str, value: str) -> None:
        if any(c in str(key) + str(value) for c in "\r\n\0"):
            raise ValueError("a header name or value holds CR, LF or NUL")
        self._items.append((key, value))
        self._index.setdefault(key.lower(), []).append(value)

    def __delitem__(self, key: str) -> None:
        k = key.lower()
        del self._index[k]
        self._items = [(n, v) for n, v in self._items if n.lower() != k]

    def lines(self) -> str:
        """As "Name: value\r\n" lines."""
        return "".join(f"{k}: {v}\r\n" for k, v in self._items)

    def get_all(self, key: str) -> List[str]:
        return list(self._index.get(key.lower(), ()))

    def raw_items(self) -> List[Tuple[str, str]]:
        return list(self._items)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for k, _ in self._items:
            if k.lower() not in seen:
                seen.add(k.lower())
                yield k

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class Request:
    """The opening request a server connection was made with."""

    __slots__ = ("path", "_headers", "_raw")

    def __init__(self, path: str, headers: Union[Headers, bytes]) -> None:
        #: the request target, e.g. "/chat?room=1"
        self.path = path
        # Raw "Name: value\r\n" lines are parsed on first use: a server
        # holds one Request per connection, and parsed headers cost several
        # times the bytes they came from.
        self._headers: Optional[Headers] = headers if isinstance(headers, Headers) else None
        self._raw = b"" if isinstance(headers, Headers) else headers

    @property
    def headers(self) -> Headers:
        """The request's headers."""
        if self._headers is None:
            self._headers = Headers.parse(self._raw)
            self._raw = b""
        return self._headers

    def __repr__(self) -> str:
        return f"Request(path={self.path!r})"


class Response:
    """An HTTP response of the opening handshake: the server's 101 a client
    connection was made with, or the refusal an :class:`InvalidStatus`
    carries, or what a server's ``process_request`` returns to refuse
    (``status_code``, ``reason_phrase``, ``headers``, ``body``, as
    ``websockets.http11.Response``)."""

    __slots__ = ("status_code", "reason_phrase", "headers", "body")

    def __init__(
        self,
        status_code_or_headers: "Union[int, Headers]" = 101,
        reason_phrase: str = "",
        headers: "Optional[Union[Headers, Mapping[str, str], List[Tuple[str, str]]]]" = None,
        body: bytes = b"",
    ) -> None:
        if isinstance(status_code_or_headers, Headers):  # Response(headers): a 101
            status_code, headers = 101, status_code_or_headers
        else:
            status_code = status_code_or_headers
        self.status_code = int(status_code)
        self.reason_phrase = reason_phrase
        if headers is None:
            headers = Headers()
        elif not isinstance(headers, Headers):
            items = headers.items() if isinstance(headers, Mapping) else headers
            headers = Headers([(str(k), str(v)) for k, v in items])
        self.headers = headers
        self.body = bytes(body)

    def __repr__(self) -> str:
        return f"Response(status_code={self.status_code}, headers={self.headers!r})"


def parse_peer(peer: str) -> Optional[Tuple[str, int]]:
    """"ip:port" / "[ip6]:port" as (host, port)."""
    host, sep, port = peer.rpartition(":")
    if not sep or not port.isdigit():
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)
