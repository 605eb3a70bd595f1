"""The speed-ups of the hot path keep every check: send_json's encoder, built once, answers
exactly as the reference json.JSONEncoder does, errors included, and a failed call leaves
nothing behind that changes the next one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import FakeServer, examples, make_scope

from fastware import WebSocket, WebSocketTypeError, WebSocketValueError
from fastware import websocket as websocket_module

pytestmark = pytest.mark.anyio

REFERENCE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=5) | st.integers() | st.booleans() | st.none(), children, max_size=4)
    ),
    max_leaves=12,
)


def _outcome(encode: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", encode(value)
    except Exception as exc:  # the outcome, error or not, is what is compared
        return type(exc).__name__, str(exc)


def _circular() -> list[Any]:
    loop: list[Any] = [1]
    loop.append({"again": loop})
    return loop


@settings(max_examples=examples(200), deadline=None)
@given(json_values)
def test_the_encoder_gives_the_reference_text(value: Any) -> None:
    assert websocket_module._json_dumps(value) == REFERENCE.encode(value)


@pytest.mark.parametrize(
    "bad",
    [_circular(), float("nan"), [float("-inf")], {1j: 1}, {"a": [1, object()]}, {"s": {1, 2}}],
    ids=["circular", "nan", "inf", "complex key", "object", "set"],
)
def test_the_encoder_raises_the_reference_error_and_leaves_no_markers(bad: Any) -> None:
    assert _outcome(websocket_module._json_dumps, bad) == _outcome(REFERENCE.encode, bad)
    assert websocket_module._json_markers == {}


def test_a_failed_call_does_not_make_the_next_one_see_a_circular_reference() -> None:
    inner: dict[str, Any] = {"x": [1, 2]}
    outer = [inner, {"bad": object()}]
    with pytest.raises(TypeError):
        websocket_module._json_dumps(outer)  # fails after entering outer and inner
    outer[1] = {"good": 1}
    assert websocket_module._json_dumps(outer) == '[{"x":[1,2]},{"good":1}]'


async def _connected(server: FakeServer) -> WebSocket:
    ws = WebSocket(make_scope(), server.receive, server.send)
    server.push({"type": "websocket.connect"})
    await ws.accept()
    return ws


async def test_send_json_refuses_what_the_reference_refuses_and_sends_nothing() -> None:
    server = FakeServer()
    ws = await _connected(server)
    with pytest.raises(WebSocketValueError, match="Circular reference detected"):
        await ws.send_json(_circular())
    with pytest.raises(WebSocketValueError, match="Out of range float"):
        await ws.send_json({"x": float("nan")})
    with pytest.raises(WebSocketTypeError, match="not JSON serializable"):
        await ws.send_json({"x": object()})
    assert server.types() == ["websocket.accept"]
    await ws.send_json({"é": [1, 2.5, None]})
    assert server.sent[-1] == {"type": "websocket.send", "text": '{"é":[1,2.5,null]}'}
