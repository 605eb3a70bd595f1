"""The C fast path and the generated async defs give the same answer to anything.

For any message the server might hand over (any type, either payload key or both, values of
any type, a dict or another mapping) and any argument an app might pass, in any state of the
connection, the hot method through fastware._speedups and the generated `async def` it wraps
return the same value or raise the same error, send the same messages, and leave the same
state behind. Skipped where the extension is not built: then there is only one path.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import types
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import FakeServer, examples, make_scope

from fastware import WebSocket, _accel

pytestmark = pytest.mark.skipif(not _accel.ENABLED, reason="fastware._speedups is not built: one path only")

SETTINGS = settings(max_examples=examples(400), deadline=None)
STATES = ("connecting", "connected", "closed", "disconnected")


class Text(str):
    """A str subclass: not the exact payload type the fast path takes."""


class Blob(bytes):
    """A bytes subclass."""


values = st.one_of(
    st.text(max_size=5),
    st.binary(max_size=5),
    st.none(),
    st.integers(),
    st.builds(Text, st.text(max_size=3)),
    st.builds(Blob, st.binary(max_size=3)),
)
message_types = st.sampled_from(
    ["websocket.receive", "websocket.disconnect", "websocket.connect", "websocket.receiv", "websocket.send"]
)


@st.composite
def messages(draw: st.DrawFn) -> Mapping[str, Any]:
    message: dict[str, Any] = {}
    if draw(st.integers(0, 9)):  # now and then no type at all: a server's bug too
        message["type"] = draw(message_types | st.just(Text("websocket.receive")))
    for key in ("text", "bytes"):
        if draw(st.booleans()):
            message[key] = draw(values)
    if draw(st.integers(0, 3)) == 0:
        message.update(draw(st.fixed_dictionaries({}, optional={"code": st.integers(1000, 4999), "reason": values})))
    wrap = draw(st.sampled_from([dict, types.MappingProxyType, collections.OrderedDict]))
    return wrap(message)


async def _in_state(state: str, server: FakeServer) -> WebSocket:
    ws = WebSocket(make_scope(), server.receive, server.send)
    if state != "connecting":
        server.push({"type": "websocket.connect"})
        await ws.accept()
    if state == "closed":
        await ws.close(4000)
    elif state == "disconnected":
        server.push({"type": "websocket.disconnect", "code": 4001, "reason": "gone"})
        try:
            await ws.receive_raw()
            await ws.receive_text()
        except Exception:
            pass
    return ws


def _outcome(coro_factory: Any) -> Any:
    async def go() -> Any:
        try:
            return "returned", await asyncio.wait_for(coro_factory(), 0.5)
        except TimeoutError:
            return "waited", None
        except Exception as exc:  # the error is part of the answer compared
            return type(exc).__name__, str(exc), getattr(exc, "code", None)

    return go()


async def _run(state: str, call: Any, pushed: Mapping[str, Any] | None) -> Any:
    server = FakeServer()
    ws = await _in_state(state, server)
    before = len(server.sent)
    if pushed is not None:
        server.push(pushed)
    result = await _outcome(lambda: call(ws))
    return result, server.sent[before:], ws.connection_state, ws.close_code, ws.close_reason


@SETTINGS
@given(st.sampled_from(STATES), messages(), st.sampled_from(["receive_text", "receive_bytes"]))
def test_receive_gives_what_the_python_method_gives(state: str, message: Mapping[str, Any], name: str) -> None:
    hot = getattr(WebSocket, name)
    fast = asyncio.run(_run(state, lambda ws: hot(ws), message))
    python = asyncio.run(_run(state, lambda ws: hot.__wrapped__(ws), message))
    assert fast == python


@SETTINGS
@given(st.sampled_from(STATES), values, st.sampled_from(["send_text", "send_bytes"]))
def test_send_does_what_the_python_method_does(state: str, data: Any, name: str) -> None:
    hot = getattr(WebSocket, name)
    fast = asyncio.run(_run(state, lambda ws: hot(ws, data), None))
    python = asyncio.run(_run(state, lambda ws: hot.__wrapped__(ws, data), None))
    assert fast == python


# Every combination of the parts the fast path looks at, in the state where it runs: random
# drawing rarely hits the few combinations (both keys set, a near-miss type) that matter most.
ABSENT = object()
GRID_TYPES = [ABSENT, "websocket.receive", Text("websocket.receive"), "websocket.receiv", "websocket.disconnect", 7]
GRID_VALUES = [ABSENT, None, "a", b"a", Text("a"), Blob(b"a"), 1]


def _grid() -> list[Mapping[str, Any]]:
    shapes = []
    for msg_type, text, data in itertools.product(GRID_TYPES, GRID_VALUES, GRID_VALUES):
        parts = {"type": msg_type, "text": text, "bytes": data}
        message = {k: v for k, v in parts.items() if v is not ABSENT}
        shapes += [message, types.MappingProxyType(message)]
    return shapes


@pytest.mark.parametrize("name", ["receive_text", "receive_bytes"])
def test_receive_matches_the_python_method_on_every_shape_of_message(name: str) -> None:
    hot = getattr(WebSocket, name)

    async def both() -> list[Any]:
        differ = []
        for message in _grid():
            fast = await _run("connected", lambda ws: hot(ws), message)
            python = await _run("connected", lambda ws: hot.__wrapped__(ws), message)
            if fast != python:
                differ.append((dict(message), fast, python))
        return differ

    assert asyncio.run(both()) == []


@pytest.mark.parametrize("name", ["send_text", "send_bytes"])
def test_send_matches_the_python_method_for_every_argument_and_state(name: str) -> None:
    hot = getattr(WebSocket, name)

    async def both() -> list[Any]:
        differ = []
        for state, data in itertools.product(STATES, GRID_VALUES[1:]):
            fast = await _run(state, lambda ws, data=data: hot(ws, data), None)
            python = await _run(state, lambda ws, data=data: hot.__wrapped__(ws, data), None)
            if fast != python:
                differ.append((state, data, fast, python))
        return differ

    assert asyncio.run(both()) == []
