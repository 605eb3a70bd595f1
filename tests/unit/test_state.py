"""The state machine, pair by pair: every (state, message type) either moves where the
table says or is refused with a named error and leaves the state as it was."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from support import FakeServer, make_scope

from fastware import ServerProtocolError, State, WebSocket, WebSocketDisconnect, WebSocketStateError
from fastware._state import TRANSITIONS

CONNECT = {"type": "websocket.connect"}


async def in_state(state: State) -> tuple[WebSocket, FakeServer]:
    """A WebSocket driven through real calls into `state`."""
    server = FakeServer()
    ws = WebSocket(make_scope(), server.receive, server.send)
    steps: dict[State, list[Callable[[], Awaitable[Any]]]] = {
        State.CONNECTING: [],
        State.HANDSHAKE: [ws.receive_raw],
        State.CONNECTED: [ws.receive_raw, ws.accept],
        State.RESPONSE: [ws.receive_raw, lambda: ws._send_http_response_start(403)],
        State.CLOSED: [ws.receive_raw, ws.accept, ws.close],
        State.DISCONNECTED: [ws.receive_raw, ws.accept, ws.receive_raw],
    }
    server.push(CONNECT)
    server.push({"type": "websocket.disconnect", "code": 1000})
    for step in steps[state]:
        await step()
    assert ws.state is state
    # Leave only what the test itself queues.
    while not server.incoming.empty():
        server.incoming.get_nowait()
    server.sent.clear()
    return ws, server


SENDS: dict[str, Callable[[WebSocket], Awaitable[None]]] = {
    "websocket.accept": lambda ws: ws.accept(),
    "websocket.send": lambda ws: ws.send_text("x"),
    "websocket.close": lambda ws: ws.close(),
    "websocket.http.response.start": lambda ws: ws._send_http_response_start(403),
    "websocket.http.response.body": lambda ws: ws._send_http_response_body(b"x", more_body=True),
}
RECEIVES = {
    "websocket.connect": CONNECT,
    "websocket.receive": {"type": "websocket.receive", "text": "x"},
    "websocket.disconnect": {"type": "websocket.disconnect", "code": 1000},
}
# States in which a handshake reply first reads websocket.connect itself.
_READS_CONNECT = {"websocket.accept", "websocket.close", "websocket.http.response.start"}
# close() is idempotent once the connection is closing or gone.
_NO_OP = {(State.CLOSED, "websocket.close"), (State.DISCONNECTED, "websocket.close")}


@pytest.mark.parametrize("msg_type", sorted(SENDS))
@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
async def test_send_pairs(state: State, msg_type: str) -> None:
    ws, server = await in_state(state)
    effective = state
    if state is State.CONNECTING and msg_type in _READS_CONNECT:
        server.push(CONNECT)
        effective = State.HANDSHAKE
    expected = TRANSITIONS.get((effective, msg_type))
    if (state, msg_type) in _NO_OP:
        await SENDS[msg_type](ws)
        assert (ws.state, server.sent) == (state, [])
    elif expected is None:
        with pytest.raises(WebSocketStateError, match=f"Cannot send '{msg_type}' in state {effective.name}"):
            await SENDS[msg_type](ws)
        assert (ws.state, server.sent) == (effective, [])
    else:
        await SENDS[msg_type](ws)
        assert ws.state is expected
        assert server.types() == [msg_type]


@pytest.mark.parametrize("msg_type", sorted(RECEIVES))
@pytest.mark.parametrize("state", [s for s in State if s is not State.DISCONNECTED], ids=lambda s: s.name)
async def test_receive_pairs(state: State, msg_type: str) -> None:
    ws, server = await in_state(state)
    server.push(RECEIVES[msg_type])
    expected = TRANSITIONS.get((state, msg_type))
    if expected is None:
        with pytest.raises(ServerProtocolError, match=f"Unexpected ASGI message '{msg_type}' from the server"):
            await ws.receive_raw()
        assert ws.state is state
    else:
        assert await ws.receive_raw() == RECEIVES[msg_type]
        assert ws.state is expected


async def test_nothing_is_received_after_disconnect() -> None:
    ws, server = await in_state(State.DISCONNECTED)
    server.push(RECEIVES["websocket.receive"])
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_raw()
    assert not server.incoming.empty()  # the queued message was never read


async def test_final_denial_body_closes() -> None:
    ws, server = await in_state(State.RESPONSE)
    await ws._send_http_response_body(b"a", more_body=True)
    assert ws.state is State.RESPONSE
    await ws._send_http_response_body(b"b")
    assert ws.state is State.CLOSED
    assert [m.get("more_body") for m in server.sent] == [True, False]


def test_every_state_is_reachable_and_has_a_hint() -> None:
    from fastware._state import HINTS

    reachable = {State.CONNECTING} | set(TRANSITIONS.values())
    assert reachable == set(State)
    assert set(HINTS) == set(State)


def test_state_members_refuse_attributes() -> None:
    # The members are shared by every connection: a per-connection value set on one would leak to all.
    with pytest.raises(AttributeError, match="shared by every connection"):
        State.CONNECTED.user = "ann"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del State.CONNECTED.name
    assert not hasattr(State.CONNECTED, "user")
    assert State("CONNECTED") is State.CONNECTED


def test_the_machine_is_the_schemas() -> None:
    # fastware._state holds no table of its own: every one is the generated module's object.
    from fastware import _state
    from fastware._generated import states

    for name in _state.__all__:
        assert getattr(_state, name) is getattr(states, name)
    source = Path(_state.__file__).read_text(encoding="utf-8")
    assert "websocket." not in source.split('"""', 2)[2]  # no message type written by hand
