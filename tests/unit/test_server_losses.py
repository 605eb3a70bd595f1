"""Policy rule 4: a value a server declares it carries but loses is warned about, where fastware can tell the server.

granian (2.8) declares ASGI 2.3 and ignores websocket.accept headers; the
real-server matrix shows it, these tests show how fastware recognises granian
(its send's owner, or behind a framework's wrapper its scope) and that it warns
nowhere else.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from support import FakeServer, make_scope

from fastware import UnsupportedByServerWarning, WebSocket
from fastware._servers import server_name

CONNECT = {"type": "websocket.connect"}
HEADERS = [(b"x-fastware", b"yes")]


class ASGIWebsocketProtocol:
    """Stands for granian's protocol object: only its module name matters."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server

    async def send(self, message: Any) -> None:
        await self.server.send(message)


ASGIWebsocketProtocol.__module__ = "granian._granian"

GRANIAN_SCOPE = {
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "server": ("127.0.0.1", "8000"),
    "client": ("127.0.0.1", "50000"),
    "extensions": {"http.response.pathsend": {}, "websocket.http.response": {}},
}


async def accept_with_headers(scope: dict[str, Any], owner_is_granian: bool) -> list[str]:
    server = FakeServer(CONNECT)
    send = ASGIWebsocketProtocol(server).send if owner_is_granian else server.send
    ws = WebSocket(scope, server.receive, send)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await ws.accept(headers=HEADERS)
    assert server.sent[-1]["headers"] == HEADERS  # sent all the same (rule 1: send what the app asked for)
    return [str(w.message) for w in caught if w.category is UnsupportedByServerWarning]


async def test_granian_by_its_send_is_warned() -> None:
    (message,) = await accept_with_headers(make_scope(asgi={"version": "3.0", "spec_version": "2.3"}), True)
    assert message.startswith("websocket.accept 'headers' is sent, but granian")
    assert "(it declares ASGI 2.3)" in message


async def test_granian_behind_a_wrapped_send_is_known_by_its_scope() -> None:
    (message,) = await accept_with_headers(make_scope(**GRANIAN_SCOPE), False)
    assert "granian" in message


async def test_other_servers_are_not_warned() -> None:
    assert await accept_with_headers(make_scope(), False) == []


async def test_accept_without_headers_on_granian_is_not_warned() -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(make_scope(**GRANIAN_SCOPE), server.receive, server.send)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await ws.accept()


async def test_the_warning_points_at_the_app_and_can_be_an_error() -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(make_scope(**GRANIAN_SCOPE), server.receive, server.send)
    with pytest.warns(UnsupportedByServerWarning) as caught:
        await ws.accept(headers=HEADERS)
    assert caught[0].filename == __file__


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (GRANIAN_SCOPE, "granian"),
        ({"server": ("127.0.0.1", 8000), "extensions": {"http.response.pathsend": {}}}, None),
        ({"server": ("127.0.0.1", "8000"), "extensions": {}}, None),
        ({"server": None}, None),
        ({}, None),
    ],
)
def test_server_name_from_the_scope(scope: dict[str, Any], expected: str | None) -> None:
    async def send(message: Any) -> None:
        pass

    assert server_name(scope, send) == expected
