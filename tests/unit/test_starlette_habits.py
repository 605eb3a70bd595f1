"""What a Starlette user reaches for works the same on fastware.WebSocket: state, close(code, reason),
query_params, url, client, cookies. Each is compared with Starlette's own WebSocket over the same scope."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from starlette.websockets import WebSocket as StarletteWebSocket
from support import FakeServer, make_scope

import fastware
from fastware import ConnectionState, State, WebSocket

CONNECT = {"type": "websocket.connect"}


def both(**scope_keys: Any) -> tuple[WebSocket, StarletteWebSocket]:
    server = FakeServer()
    return (
        WebSocket(make_scope(**scope_keys), server.receive, server.send),
        StarletteWebSocket(make_scope(**scope_keys), server.receive, server.send),  # type: ignore[arg-type]
    )


# state ----------------------------------------------------------------------


def test_state_is_a_per_connection_namespace() -> None:
    first, _ = both()
    second, _ = both()
    first.state.user = "ann"
    assert first.state.user == "ann"
    with pytest.raises(AttributeError, match="'user'"):
        _ = second.state.user  # the leak: the next connection read "ann"
    del first.state.user
    with pytest.raises(AttributeError, match="'user'"):
        del first.state.user


def test_state_is_backed_by_the_scope_state_as_in_starlette() -> None:
    # A server copies the lifespan state into each connection's scope["state"]; both read it, both write it.
    scope = make_scope(state={"db": "pool"})
    server = FakeServer()
    ws = WebSocket(scope, server.receive, server.send)
    theirs = StarletteWebSocket(scope, server.receive, server.send)  # type: ignore[arg-type]
    assert ws.state.db == theirs.state.db == "pool"
    theirs.state.user = "ann"  # e.g. set by a framework's auth dependency
    assert ws.state.user == "ann"
    ws.state.room = "lobby"
    assert scope["state"] == {"db": "pool", "user": "ann", "room": "lobby"}


def test_state_without_a_scope_state_creates_one() -> None:
    scope = make_scope()
    scope.pop("state", None)
    server = FakeServer()
    ws = WebSocket(scope, server.receive, server.send)
    ws.state.x = 1
    assert scope["state"] == {"x": 1}


def test_state_over_a_read_only_scope_is_private() -> None:
    from types import MappingProxyType

    server = FakeServer()
    ws = WebSocket(MappingProxyType(make_scope()), server.receive, server.send)
    ws.state.x = 1
    assert ws.state.x == 1


def test_lifecycle_enum_is_connection_state_and_members_refuse_attributes() -> None:
    ws, _ = both()
    assert ws.connection_state is State.CONNECTING
    assert fastware.ConnectionState is State is ConnectionState
    with pytest.raises(AttributeError, match="shared by every connection"):
        ws.connection_state.user = "ann"  # type: ignore[attr-defined]
    assert not hasattr(State.CONNECTING, "user")


# close(code, reason) --------------------------------------------------------


async def test_close_takes_the_reason_positionally_as_starlette() -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(make_scope(), server.receive, server.send)
    await ws.accept()
    await ws.close(4000, "bye")
    assert server.sent[-1] == {"type": "websocket.close", "code": 4000, "reason": "bye"}
    params = list(inspect.signature(WebSocket.close).parameters.values())
    assert [(p.name, p.kind) for p in params[1:3]] == [
        ("code", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("reason", inspect.Parameter.POSITIONAL_OR_KEYWORD),
    ]
    theirs = list(inspect.signature(StarletteWebSocket.close).parameters)
    assert theirs[1:3] == ["code", "reason"]


# query_params, url, client, cookies ------------------------------------------

QUERIES = [b"", b"a=1", b"a=1&a=2&b=", b"q=%C3%A9+x&flag", b"name=%E9", b"x=1;y=2"]


@pytest.mark.parametrize("query", QUERIES)
def test_query_params_as_starlette(query: bytes) -> None:
    ours, theirs = both(query_string=query)
    assert dict(ours.query_params) == dict(theirs.query_params)
    assert ours.query_params.multi_items() == theirs.query_params.multi_items()
    for key in theirs.query_params:
        assert ours.query_params.getlist(key) == theirs.query_params.getlist(key)
    assert str(ours.query_params) == str(theirs.query_params)
    with pytest.raises(TypeError):
        ours.query_params["new"] = "x"  # type: ignore[index]


URL_SCOPES: list[dict[str, Any]] = [
    {},
    {"path": "/ws/room 1", "query_string": b"a=1"},
    {"scheme": "wss", "headers": [(b"host", b"example.com:8443")]},
    {"headers": [], "server": ("127.0.0.1", 80)},
    {"headers": [], "server": ("127.0.0.1", 8000), "query_string": b"x=%20"},
    {"headers": [], "server": ("::1", 8000)},
    {"path": "/a?b#c"},
]


@pytest.mark.parametrize("keys", URL_SCOPES)
def test_url_as_starlette(keys: dict[str, Any]) -> None:
    ours, theirs = both(**keys)
    assert str(ours.url) == str(theirs.url)
    for part in ("scheme", "netloc", "path", "query", "hostname", "port", "is_secure"):
        assert getattr(ours.url, part) == getattr(theirs.url, part), part


def test_url_without_a_scheme_is_ws() -> None:
    # daphne sends no scheme; Starlette would say http.
    scope = make_scope()
    del scope["scheme"]
    server = FakeServer()
    assert WebSocket(scope, server.receive, server.send).url == "ws://127.0.0.1/ws"


@pytest.mark.parametrize("client", [("10.0.0.1", 5000), ["::1", 1], None])
def test_client_as_starlette(client: Any) -> None:
    ours, theirs = both(client=client)
    assert ours.client == theirs.client
    if client is not None:
        assert (ours.client.host, ours.client.port) == tuple(client)  # type: ignore[union-attr]


def test_client_port_given_as_str_is_an_int() -> None:
    # granian puts the port in the scope as a str; the property's type says int.
    ours, _ = both(client=("127.0.0.1", "5000"))
    assert ours.client == ("127.0.0.1", 5000)
    assert isinstance(ours.client.port, int)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "cookies",
    [
        [],
        [b"session=abc"],
        [b'a=1; b="quoted\\054value"; c', b"d=4"],
        [b"a=1", b"a=2"],
        [b"  spaced = yes ;=x"],
        [b'q="a\\"b"; o="\\101\\102\\x"; e=""; h="half'],
    ],
)
def test_cookies_as_starlette(cookies: list[bytes]) -> None:
    headers = [(b"host", b"127.0.0.1"), *[(b"cookie", value) for value in cookies]]
    ours, theirs = both(headers=headers)
    assert ours.cookies == theirs.cookies


def test_headers_stay_the_seed_dict() -> None:
    # The seed API: case-preserving names, the first value wins; Starlette's Headers differ on purpose.
    ours, _ = both(headers=[(b"X-Token", b"first"), (b"x-token", b"second"), (b"X-Token", b"third")])
    assert ours.headers == {"X-Token": "first", "x-token": "second"}
    assert type(ours.headers) is dict
