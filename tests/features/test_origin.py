"""fastware.origin.OriginGuard: only listed origins get past the handshake; the others get HTTP 403."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from support import TIMEOUT, free_port, run_server, uvicorn_argv
from websockets.exceptions import InvalidStatus

from fastware import WebSocket, WebSocketValueError
from fastware.origin import OriginGuard, parse_origin
from fastware.testing import HandshakeRejected, connect

pytestmark = pytest.mark.anyio

ALLOWED = ["https://example.com", "https://*.example.org", "http://127.0.0.1:8000"]


def guarded(allowed: list[str] = ALLOWED, **options: Any) -> tuple[OriginGuard, list[str]]:
    """A guarded echo app, and the list of paths that reached it."""
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await ws.send_text("welcome")

    return OriginGuard(app, allowed, **options), reached


async def handshake(app: Any, *headers: tuple[str, str]) -> int:
    """101 when the guard lets the handshake through, else the rejection's status."""
    try:
        async with connect(app, headers=list(headers)) as client:
            assert await client.receive_text() == "welcome"
            return 101
    except HandshakeRejected as exc:
        return exc.status


@pytest.mark.parametrize(
    "origin",
    [
        "https://example.com",
        "https://example.com:443",  # the default port, written out
        "HTTPS://EXAMPLE.COM",  # scheme and host are case-insensitive
        "https://chat.example.org",
        "https://a.b.example.org",  # a wildcard takes subdomains at any depth
        "http://127.0.0.1:8000",
    ],
)
async def test_allowed_origins_reach_the_app(origin: str) -> None:
    app, reached = guarded()
    assert await handshake(app, ("origin", origin)) == 101
    assert reached == ["/"]


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.com",
        "http://example.com",  # scheme differs
        "https://example.com:8443",  # port differs
        "https://www.example.com",  # an exact entry does not cover subdomains
        "https://example.org",  # a wildcard does not cover the domain itself
        "https://evilexample.org",  # nor a name that merely ends the same
        "https://example.org.evil.com",
        "http://127.0.0.1",  # port 80, not 8000
        "http://127.0.0.1:8001",
    ],
)
async def test_disallowed_origins_get_403_and_never_reach_the_app(origin: str) -> None:
    app, reached = guarded()
    assert await handshake(app, ("origin", origin)) == 403
    assert reached == []


@pytest.mark.parametrize(
    "origin",
    [
        "",
        "null",  # sandboxed frames and file: pages
        "example.com",
        "https://",
        "https://example.com/",
        "https://example.com/path",
        "https://example.com?q",
        "https://user@example.com",
        "https://example.com:99999",
        "https://example.com:port",
        " https://example.com",
        "https://exa mple.com",
        "https://example.com\\@evil.com",
    ],
)
async def test_malformed_origins_are_rejected(origin: str) -> None:
    assert parse_origin(origin) is None
    app, reached = guarded(["*"])  # even when any origin is allowed
    assert await handshake(app, ("origin", origin)) == 403
    assert reached == []


async def test_a_missing_origin_is_rejected_unless_allowed() -> None:
    app, reached = guarded()
    assert await handshake(app) == 403
    app, reached = guarded(allow_missing=True)
    assert await handshake(app) == 101
    assert await handshake(app, ("origin", "https://evil.com")) == 403
    assert reached == ["/"]


async def test_two_origin_headers_are_rejected_even_if_both_are_allowed() -> None:
    app, reached = guarded()
    assert await handshake(app, ("origin", "https://example.com"), ("Origin", "https://example.com")) == 403
    assert reached == []


async def test_the_header_name_is_matched_in_any_case() -> None:
    app, _ = guarded()
    # The test client lowercases names, as servers do; build the scope by hand to keep the case.
    scope = {"type": "websocket", "headers": [(b"Origin", b"https://example.com")]}
    assert app.allows_scope(scope)
    assert not app.allows_scope({"type": "websocket", "headers": [(b"ORIGIN", b"https://evil.com")]})


async def test_star_allows_every_well_formed_origin() -> None:
    app, _ = guarded(["*"])
    assert await handshake(app, ("origin", "https://anything.test:1234")) == 101
    assert await handshake(app) == 403  # star is about origins; a missing one still needs allow_missing


@pytest.mark.parametrize(
    "pattern",
    ["example.com", "*.example.com", "https://*", "https://*example.com", "https://ex*.com", "https://a.com/"],
)
def test_patterns_that_are_not_origins_are_refused_at_construction(pattern: str) -> None:
    with pytest.raises(WebSocketValueError, match=re.escape(f"allowed origin {pattern!r} is not an origin")):
        OriginGuard(lambda *a: None, [pattern])  # type: ignore[arg-type, return-value]


def test_a_single_string_is_refused() -> None:
    with pytest.raises(WebSocketValueError, match="list of origins, not one string"):
        OriginGuard(lambda *a: None, "https://example.com")  # type: ignore[arg-type, return-value]


async def test_http_and_lifespan_scopes_pass_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    guard = OriginGuard(app, ["https://example.com"])
    for scope_type in ("http", "lifespan"):
        await guard({"type": scope_type, "headers": [(b"origin", b"https://evil.com")]}, None, None)
    assert seen == ["http", "lifespan"]


def test_parse_origin_normalizes() -> None:
    assert parse_origin("HTTPS://Example.COM") == ("https", "example.com", 443)
    assert parse_origin("ws://[::1]:9000") == ("ws", "::1", 9000)
    assert parse_origin("chrome-extension://abcdef") == ("chrome-extension", "abcdef", None)


APP = "tests.features.feature_apps:guarded"


@pytest.fixture(scope="module")
def guarded_server() -> Iterator[str]:
    port = free_port()
    with run_server(uvicorn_argv(APP, port), port) as url:
        yield url


async def test_a_real_server_answers_403_to_a_disallowed_origin(guarded_server: str) -> None:
    async with websockets.connect(guarded_server, origin="https://example.com", open_timeout=TIMEOUT) as client:  # type: ignore[arg-type]
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "welcome"
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(guarded_server, origin="https://evil.com", open_timeout=TIMEOUT):  # type: ignore[arg-type]
            pass
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(guarded_server, open_timeout=TIMEOUT):
            pass
    assert info.value.response.status_code == 403
