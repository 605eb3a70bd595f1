"""Read-only views of the connection scope, shaped like Starlette's so its habits carry over.

Plain types only: fastware imports no framework. Each behaves as its Starlette
namesake for reading (``starlette.datastructures.QueryParams``, ``URL``,
``Address``, ``State``); see docs/frameworks.md for the differences.
"""

from __future__ import annotations

import re
from collections.abc import ItemsView, Iterator, KeysView, Mapping, MutableMapping, ValuesView
from typing import Any, NamedTuple
from urllib.parse import SplitResult, parse_qsl, urlsplit

__all__ = ["URL", "Address", "QueryParams", "StateNamespace", "parse_cookies"]


class Address(NamedTuple):
    """The client's (host, port), as ``scope["client"]`` gives it."""

    host: str
    port: int


class QueryParams(Mapping[str, str]):
    """The query string as a read-only multi-dict: ``params["k"]`` is the last value, ``getlist`` all of them.

    Parsed as Starlette parses it: Latin-1 text, blank values kept, ``+`` and
    percent-escapes decoded.
    """

    __slots__ = ("_dict", "_list")

    def __init__(self, query_string: str | bytes = "") -> None:
        text = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
        self._list: list[tuple[str, str]] = parse_qsl(text, keep_blank_values=True)
        self._dict: dict[str, str] = dict(self._list)  # the last value wins, as in Starlette

    def getlist(self, key: str) -> list[str]:
        """Every value of ``key``, in order; [] when there is none."""
        return [value for name, value in self._list if name == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, in order, repeated names included."""
        return list(self._list)

    def keys(self) -> KeysView[str]:
        return self._dict.keys()

    def values(self) -> ValuesView[str]:
        return self._dict.values()

    def items(self) -> ItemsView[str, str]:
        return self._dict.items()

    def __getitem__(self, key: str) -> str:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, QueryParams):
            return sorted(self._list) == sorted(other._list)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        from urllib.parse import urlencode

        return urlencode(self._list)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class URL(str):
    """The connection's URL as a string (``ws://host/path?query``), with its parts as attributes."""

    __slots__ = ("_parts",)

    _parts: SplitResult

    def __new__(cls, url: str) -> URL:
        self = super().__new__(cls, url)
        self._parts = urlsplit(url)
        return self

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any]) -> URL:
        """Build it as Starlette does: scheme, the Host header (else ``server``), path, query string.

        The one difference: a scope without ``scheme`` (daphne's) gives "ws", where Starlette says "http".
        """
        scheme = scope.get("scheme") or "ws"
        path = scope.get("path", "").replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
        query = (scope.get("query_string") or b"").decode("latin-1")
        netloc: str | None = None
        for name, value in scope.get("headers") or ():
            if name == b"host":
                netloc = value.decode("latin-1")
                break
        server = scope.get("server")
        if not netloc and server is not None:
            host, port = server[0], server[1]
            if ":" in host and not host.startswith("["):
                host = f"[{host}]"  # an IPv6 address
            default_port = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
            netloc = host if port in (None, default_port) else f"{host}:{port}"
        url = f"{scheme}://{netloc}{path}" if netloc else path
        return cls(f"{url}?{query}" if query else url)

    @property
    def scheme(self) -> str:
        return self._parts.scheme

    @property
    def netloc(self) -> str:
        return self._parts.netloc

    @property
    def path(self) -> str:
        return self._parts.path

    @property
    def query(self) -> str:
        return self._parts.query

    @property
    def hostname(self) -> str | None:
        return self._parts.hostname

    @property
    def port(self) -> int | None:
        return self._parts.port

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"


class StateNamespace:
    """A per-connection attribute namespace over a dict: ``ws.state.user = "ann"`` stores ``{"user": "ann"}``.

    As Starlette's ``State``: reading a missing attribute raises AttributeError
    naming it; ``del`` works; the dict is the scope's ``state`` key, so the
    lifespan state a server copies into each connection is readable here, and
    a framework's ``websocket.state`` over the same scope sees the same values.
    """

    __slots__ = ("_state",)

    _state: MutableMapping[str, Any]

    def __init__(self, state: MutableMapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_state", {} if state is None else state)

    def __setattr__(self, name: str, value: Any) -> None:
        self._state[name] = value

    def __getattr__(self, name: str) -> Any:
        try:
            return self._state[name]
        except KeyError:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}") from None

    def __delattr__(self, name: str) -> None:
        try:
            del self._state[name]
        except KeyError:
            raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self._state)!r})"


# A backslash escape inside a quoted cookie value: three octal digits, or any one character.
_COOKIE_ESCAPE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))", re.DOTALL)


def _unquote(value: str) -> str:
    """A cookie value without its double quotes and escapes, as http.cookies._unquote (which Starlette uses)."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return _COOKIE_ESCAPE.sub(lambda m: chr(int(m[1], 8)) if m[1] else m[2], value[1:-1])


def parse_cookies(cookie_headers: list[str]) -> dict[str, str]:
    """``Cookie`` header values -> {name: value}, as Starlette (after Django) parses them, browsers' way."""
    cookies: dict[str, str] = {}
    for header in cookie_headers:
        for chunk in header.split(";"):
            key, sep, val = chunk.partition("=")
            if not sep:
                key, val = "", chunk  # a value without a name, as browsers accept it
            key, val = key.strip(), val.strip()
            if key or val:
                cookies[key] = _unquote(val)
    return cookies
