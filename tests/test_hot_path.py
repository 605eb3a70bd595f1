"""The speed-ups of the hot path keep every check: send_json refuses what the reference
json.JSONEncoder refuses, sending nothing. (The default codec against the reference, value by
value: tests/features/test_json_properties.py.)
"""

from __future__ import annotations

from typing import Any

import pytest
from support import FakeServer, make_scope

from fastware import WebSocket, WebSocketTypeError, WebSocketValueError

pytestmark = pytest.mark.anyio


def _circular() -> list[Any]:
    loop: list[Any] = [1]
    loop.append({"again": loop})
    return loop


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
