"""An origin guard: ASGI middleware that refuses WebSocket handshakes from origins not listed.

Browsers send cookies with a cross-site WebSocket handshake and the same-origin
policy does not apply to WebSockets, so any page a logged-in user visits can
open an authenticated socket to your app (cross-site WebSocket hijacking).
The ``Origin`` header, which a page's script cannot forge, tells who asked::

    app = OriginGuard(app, ["https://example.com", "https://*.example.com"])

Modelled on Channels' OriginValidator: a handshake whose origin is not allowed
is rejected before the app runs, with websocket.close, which the server
answers with HTTP 403. HTTP and lifespan scopes pass through untouched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from fastware.errors import WebSocketValueError
from fastware.websocket import WebSocket

__all__ = ["OriginGuard", "parse_origin"]

logger: logging.Logger = logging.getLogger("fastware.origin")

ASGIApp = Callable[[Any, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
# An origin is scheme://host[:port]: no user, path, query or fragment (RFC 6454, section 6.2).
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#@\s\\]+", re.IGNORECASE)


class Origin(NamedTuple):
    """A parsed origin: scheme and host lowercased, the port filled in from the scheme when missing."""

    scheme: str
    host: str
    port: int | None


def parse_origin(value: str) -> Origin | None:
    """Parse a serialized origin such as ``https://example.com:8443``; None when it is not one.

    Scheme and host are lowercased and a default port is filled in, so
    ``HTTPS://Example.com`` and ``https://example.com:443`` are the same origin.
    The opaque origin ``null`` (sandboxed frames, file: pages) is not one.
    """
    if not _ORIGIN.fullmatch(value):
        return None
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    return Origin(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS.get(scheme))


class _Pattern(NamedTuple):
    origin: Origin
    wildcard: bool  # origin.host is a suffix: "*.example.com" matches its subdomains only

    def matches(self, origin: Origin) -> bool:
        scheme, host, port = self.origin
        if origin.scheme != scheme or origin.port != port:
            return False
        return origin.host.endswith("." + host) if self.wildcard else origin.host == host


def _compile(pattern: str) -> _Pattern:
    wildcard = "://*." in pattern
    origin = parse_origin(pattern.replace("://*.", "://", 1) if wildcard else pattern)
    if origin is None or "*" in origin.host:
        raise WebSocketValueError(
            f"allowed origin {pattern!r} is not an origin: write scheme://host[:port], "
            "scheme://*.domain[:port] for its subdomains, or '*' for any origin"
        )
    return _Pattern(origin, wildcard)


class OriginGuard:
    """ASGI middleware accepting WebSocket handshakes only from the listed origins.

    Args:
        app: The ASGI application to protect.
        allowed_origins: Origins as ``scheme://host[:port]`` (``https://example.com``),
            ``scheme://*.domain[:port]`` for every subdomain of a domain but not the
            domain itself (``https://*.example.com``), or ``"*"`` for any well-formed
            origin. Default ports may be left out.
        allow_missing: Accept handshakes without an Origin header. Browsers always
            send one, so a missing header means a non-browser client, which cannot be
            hijacked; leave it False when every client is a browser.

    A rejected handshake never reaches the app: the guard sends websocket.close
    before accept, and the server answers HTTP 403. So are a malformed Origin,
    the opaque origin ``null``, and a request with more than one Origin header.
    """

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str], *, allow_missing: bool = False) -> None:
        if isinstance(allowed_origins, str):
            raise WebSocketValueError("allowed_origins must be a list of origins, not one string")
        patterns = list(allowed_origins)
        self.app: ASGIApp = app
        self.allow_any: bool = "*" in patterns
        self.allow_missing: bool = allow_missing
        self._patterns = [_compile(p) for p in patterns if p != "*"]

    async def __call__(self, scope: Mapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket" or self.allows_scope(scope):
            await self.app(scope, receive, send)
            return
        logger.info("Rejected a WebSocket handshake to %r from origin %r", scope.get("path"), _origins(scope))
        # Before accept, websocket.close makes the server refuse the handshake with HTTP 403.
        await WebSocket(scope, receive, send).close()

    def allows_scope(self, scope: Mapping[str, Any]) -> bool:
        """Whether the Origin header of a websocket scope is allowed."""
        origins = _origins(scope)
        if len(origins) > 1:
            return False  # ambiguous: a browser sends exactly one
        return self.allows(origins[0] if origins else None)

    def allows(self, origin: str | None) -> bool:
        """Whether an Origin header value (None when absent) is allowed."""
        if origin is None:
            return self.allow_missing
        parsed = parse_origin(origin)
        if parsed is None:
            return False
        return self.allow_any or any(pattern.matches(parsed) for pattern in self._patterns)


def _origins(scope: Mapping[str, Any]) -> list[str]:
    # Servers keep header-name case only on a best-effort basis: compare lowercased.
    return [value.decode("latin-1") for name, value in scope.get("headers") or () if name.lower() == b"origin"]
