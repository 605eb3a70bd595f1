"""The state machine, pair by pair: every (state, message type) either moves where the
table says or is refused with a named error and leaves the state as it was."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from support import EXAMPLES, LATER_STATES, FakeServer, make_scope

from fastware import ServerProtocolError, State, WebSocket, WebSocketDisconnect, WebSocketStateError, messages
from fastware._generated.metadata import MESSAGES
from fastware._state import (
    CONNECTION_LOST,
    FINAL,
    GONE_STATES,
    HANDSHAKE_REPLIES,
    INITIAL,
    LAST_PARTS,
    NO_OPS,
    OPEN,
    TRANSITIONS,
)

# What a test does to send or receive each message: the schema's example of it, so a new message needs no edit.
SENDS: dict[str, Callable[[WebSocket], Awaitable[None]]] = {
    msg_type: (lambda ws, msg_type=msg_type: ws.send_message(messages.parse(EXAMPLES[msg_type])))  # type: ignore[misc]
    for msg_type, facts in MESSAGES.items()
    if facts["direction"] == "send"
}
RECEIVES = {msg_type: EXAMPLES[msg_type] for msg_type, facts in MESSAGES.items() if facts["direction"] == "receive"}


# A step of path_to() that is no message: the server's send() fails (the client is gone).
LOST_STEP = "connection lost"


def path_to(state: State) -> list[str]:
    """The shortest list of message types that leads from the initial state to ``state``."""
    paths: dict[State, list[str]] = {INITIAL: []}
    frontier = [INITIAL]
    steps = [*TRANSITIONS.items(), ((OPEN, LOST_STEP), CONNECTION_LOST[OPEN])]
    while frontier:
        here = frontier.pop(0)
        for (source, msg_type), target in steps:
            last = LAST_PARTS.get(msg_type)
            if last is not None:
                target = last[1]  # the examples send the last part
            if source is here and target not in paths:
                paths[target] = [*paths[here], msg_type]
                frontier.append(target)
    return paths[state]


async def _lose_connection(ws: WebSocket, server: FakeServer) -> None:
    server.send_error = ConnectionResetError("gone")
    with pytest.raises(WebSocketDisconnect):
        await ws.send_text("x")
    server.send_error = None


async def in_state(state: State) -> tuple[WebSocket, FakeServer]:
    """A WebSocket driven through real calls into `state`."""
    server = FakeServer()
    ws = WebSocket(make_scope(subprotocols=["chat"]), server.receive, server.send)
    for msg_type in path_to(state):
        if msg_type == LOST_STEP:
            await _lose_connection(ws, server)
        elif msg_type in RECEIVES:
            server.push(RECEIVES[msg_type])
            await ws.receive_raw()
        else:
            await SENDS[msg_type](ws)
    assert ws.connection_state is state
    # Leave only what the test itself queues.
    while not server.incoming.empty():
        server.incoming.get_nowait()
    server.sent.clear()
    return ws, server


@pytest.mark.parametrize("msg_type", sorted(SENDS))
@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
async def test_send_pairs(state: State, msg_type: str) -> None:
    ws, server = await in_state(state)
    effective = state
    if state is INITIAL and msg_type in HANDSHAKE_REPLIES:
        # A handshake reply sent first reads websocket.connect itself.
        server.push(RECEIVES["websocket.connect"])
        effective = TRANSITIONS[(INITIAL, "websocket.connect")]
    expected = TRANSITIONS.get((effective, msg_type))
    last = LAST_PARTS.get(msg_type)
    if expected is not None and last is not None and not EXAMPLES[msg_type].get(last[0]):
        expected = last[1]
    if (state, msg_type) in NO_OPS:
        await SENDS[msg_type](ws)
        assert (ws.connection_state, server.sent) == (state, [])
    elif state in GONE_STATES:
        # The client is gone: every send raises what a sender gets when it leaves.
        with pytest.raises(WebSocketDisconnect):
            await SENDS[msg_type](ws)
        assert (ws.connection_state, server.sent) == (state, [])
    elif expected is None:
        with pytest.raises(WebSocketStateError, match=f"Cannot send '{msg_type}' in state {effective.name}"):
            await SENDS[msg_type](ws)
        assert (ws.connection_state, server.sent) == (effective, [])
    else:
        await SENDS[msg_type](ws)
        assert ws.connection_state is expected
        assert server.types() == [msg_type]


@pytest.mark.parametrize("msg_type", sorted(RECEIVES))
@pytest.mark.parametrize("state", [s for s in State if s is not FINAL], ids=lambda s: s.name)
async def test_receive_pairs(state: State, msg_type: str) -> None:
    ws, server = await in_state(state)
    server.push(RECEIVES[msg_type])
    expected = TRANSITIONS.get((state, msg_type))
    if expected is None:
        with pytest.raises(ServerProtocolError, match=f"Unexpected ASGI message '{msg_type}' from the server"):
            await ws.receive_raw()
        assert ws.connection_state is state
    else:
        assert await ws.receive_raw() == RECEIVES[msg_type]
        assert ws.connection_state is expected


async def test_nothing_is_received_after_disconnect() -> None:
    ws, server = await in_state(FINAL)
    server.push(next(iter(RECEIVES.values())))
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_raw()
    assert not server.incoming.empty()  # the queued message was never read


@pytest.mark.parametrize("msg_type", sorted(LAST_PARTS))
async def test_a_last_part_moves_on(msg_type: str) -> None:
    key, final_state = LAST_PARTS[msg_type]
    source = next(s for (s, t), to in TRANSITIONS.items() if t == msg_type and to is s)
    ws, server = await in_state(source)
    more = messages.parse({**EXAMPLES[msg_type], key: True})
    await ws.send_message(more)
    assert ws.connection_state is source
    await ws.send_message(messages.parse({**EXAMPLES[msg_type], key: False}))
    assert ws.connection_state is final_state
    assert [m.get(key) for m in server.sent] == [True, False]


def test_every_state_is_reachable_and_has_a_hint() -> None:
    from fastware._state import HINTS

    reachable = {INITIAL} | set(TRANSITIONS.values()) | set(CONNECTION_LOST.values())
    assert reachable == set(State)
    assert set(HINTS) == set(State)
    assert set(CONNECTION_LOST) == set(State)


def test_no_transition_goes_back() -> None:
    # The order of a connection's life: no transition, received or sent or a lost connection, goes back.
    assert all(s not in LATER_STATES[s] for s in State), "a state can be re-entered"
    assert State.LOST not in LATER_STATES[State.CLOSED] and State.CLOSED not in LATER_STATES[State.LOST]


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
