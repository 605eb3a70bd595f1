"""iter_text / iter_bytes / iter_json: end quietly on a disconnect, which stays readable afterwards."""

from __future__ import annotations

from typing import Any

import pytest

from fastware import FrameTypeError, InvalidJSONError, State, WebSocket, WebSocketDisconnect
from fastware.testing import connect

pytestmark = pytest.mark.anyio

WS_1000_NORMAL_CLOSURE = 1000
WS_1001_GOING_AWAY = 1001
WS_1005_NO_STATUS = 1005
WS_4001_APP = 4001


def collecting_app(kind: str, **options: Any) -> tuple[Any, dict[str, Any]]:
    """An app that iterates with iter_<kind>, then records what it got and how the connection ended."""
    result: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        items = []
        try:
            async for item in getattr(ws, f"iter_{kind}")(**options):
                items.append(item)
        except Exception as exc:
            result["error"] = exc
        result.update(items=items, code=ws.close_code, reason=ws.close_reason, state=ws.connection_state)

    return app, result


async def test_iter_text_yields_every_message_then_ends_with_the_code_and_reason() -> None:
    app, result = collecting_app("text")
    async with connect(app) as client:
        for text in ("a", "", "ü" * 1000):
            await client.send_text(text)
        await client.close(WS_1001_GOING_AWAY, "tab closed")
    assert result == {
        "items": ["a", "", "ü" * 1000],
        "code": WS_1001_GOING_AWAY,
        "reason": "tab closed",
        "state": State.DISCONNECTED,
    }


async def test_iter_bytes_ends_quietly_on_a_disconnect_without_code() -> None:
    app, result = collecting_app("bytes")
    async with connect(app) as client:
        await client.send_bytes(b"\x00")
        await client.send_bytes(b"")
        await client.close(WS_1005_NO_STATUS)
    assert result["items"] == [b"\x00", b""]
    assert (result["code"], result["reason"]) == (WS_1005_NO_STATUS, "")
    assert "error" not in result


@pytest.mark.parametrize("mode", ["text", "binary"])
async def test_iter_json_decodes_each_frame_in_its_mode(mode: str) -> None:
    app, result = collecting_app("json", mode=mode)
    async with connect(app) as client:
        await client.send_json({"n": 1}, mode=mode)  # type: ignore[arg-type]
        await client.send_json([None, True], mode=mode)  # type: ignore[arg-type]
        await client.close(WS_4001_APP, "done")
    assert result["items"] == [{"n": 1}, [None, True]]
    assert (result["code"], result["reason"]) == (WS_4001_APP, "done")


async def test_a_disconnect_raises_again_after_the_iterator_ended() -> None:
    raised: list[WebSocketDisconnect] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        async for _ in ws.iter_text():
            pass
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            raised.append(exc)

    async with connect(app) as client:
        await client.close(WS_4001_APP, "gone")
    assert [(e.code, e.reason) for e in raised] == [(WS_4001_APP, "gone")]


async def test_iter_text_does_not_swallow_a_binary_frame() -> None:
    app, result = collecting_app("text")
    async with connect(app) as client:
        await client.send_text("ok")
        await client.send_bytes(b"not text")
    assert result["items"] == ["ok"]
    assert isinstance(result["error"], FrameTypeError)
    assert result["code"] is None  # the client had not disconnected


async def test_iter_json_does_not_swallow_invalid_json() -> None:
    app, result = collecting_app("json")
    async with connect(app) as client:
        await client.send_text("{oops")
    assert isinstance(result["error"], InvalidJSONError)


async def test_the_app_may_reply_inside_the_loop() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        async for data in ws.iter_json():
            await ws.send_json({"echo": data})

    async with connect(app) as client:
        for n in range(3):
            await client.send_json(n)
            assert await client.receive_json() == {"echo": n}
