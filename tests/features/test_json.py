"""send_json / receive_json: text and binary modes, the default compact encoder, pluggable codecs."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from support import FakeServer, make_scope

from fastware import InvalidJSONError, WebSocket, WebSocketTypeError, WebSocketValueError
from fastware.testing import connect

pytestmark = pytest.mark.anyio


async def connected(server: FakeServer, **options: Any) -> WebSocket:
    ws = WebSocket(make_scope(), server.receive, server.send, **options)
    server.push({"type": "websocket.connect"})
    await ws.accept()
    return ws


async def test_send_json_text_is_compact_and_keeps_non_ascii() -> None:
    server = FakeServer()
    ws = await connected(server)
    await ws.send_json({"a": [1, 2], "é": "ü"})
    assert server.sent[-1] == {"type": "websocket.send", "text": '{"a":[1,2],"é":"ü"}'}


async def test_send_json_binary_sends_utf8_bytes() -> None:
    server = FakeServer()
    ws = await connected(server)
    await ws.send_json({"é": 1}, mode="binary")
    assert server.sent[-1] == {"type": "websocket.send", "bytes": '{"é":1}'.encode()}


@pytest.mark.parametrize("method", ["send_json", "receive_json", "iter_json"])
async def test_mode_is_keyword_only(method: str) -> None:
    import inspect

    parameter = inspect.signature(getattr(WebSocket, method)).parameters["mode"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default == "text"


async def test_an_unknown_mode_is_refused_before_anything_is_sent() -> None:
    server = FakeServer()
    ws = await connected(server)
    sent = len(server.sent)
    with pytest.raises(WebSocketValueError, match='mode must be "text" or "binary", not \'bin\''):
        await ws.send_json({}, mode="bin")  # type: ignore[arg-type]
    with pytest.raises(WebSocketValueError, match="mode must be"):
        await ws.receive_json(mode="TEXT")  # type: ignore[arg-type]
    assert len(server.sent) == sent


async def test_values_json_cannot_carry_are_named_errors() -> None:
    server = FakeServer()
    ws = await connected(server)
    with pytest.raises(WebSocketTypeError, match="cannot encode set as JSON"):
        await ws.send_json({1, 2})
    with pytest.raises(WebSocketValueError, match="cannot encode float as JSON"):
        await ws.send_json(float("nan"))  # invalid JSON, though json.dumps writes NaN by default
    assert server.types() == ["websocket.accept"]


async def test_receive_json_reads_each_mode_and_names_the_wrong_frame() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        results = [await ws.receive_json(), await ws.receive_json(mode="binary")]
        for mode in ("text", "binary"):
            try:
                await ws.receive_json(mode=mode)  # type: ignore[arg-type]
            except Exception as exc:
                results.append(f"{type(exc).__name__}: {exc}")
        await ws.send_json(results)

    async with connect(app) as client:
        await client.send_text('{"t":1}')
        await client.send_bytes(b'{"b":2}')
        await client.send_bytes(b"{}")  # binary where text is expected
        await client.send_text("{}")  # and the reverse
        assert await client.receive_json() == [
            {"t": 1},
            {"b": 2},
            "FrameTypeError: Expected a text frame, but got a binary frame",
            "FrameTypeError: Expected a binary frame, but got a text frame",
        ]


@pytest.mark.parametrize(("mode", "payload"), [("text", "{nope"), ("binary", b"\xff\xfe"), ("binary", b"[1,")])
async def test_invalid_json_raises_invalid_json_error(mode: str, payload: str | bytes) -> None:
    errors: list[Exception] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        try:
            await ws.receive_json(mode=mode)  # type: ignore[arg-type]
        except InvalidJSONError as exc:
            errors.append(exc)

    async with connect(app) as client:
        await (client.send_text(payload) if isinstance(payload, str) else client.send_bytes(payload))
    assert len(errors) == 1
    assert isinstance(errors[0], ValueError)
    assert f"got a {mode} frame that is not valid JSON" in str(errors[0])


async def test_orjson_plugs_in_for_both_modes() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send, json_dumps=orjson.dumps, json_loads=orjson.loads)
        await ws.accept()
        await ws.send_json(await ws.receive_json())  # orjson.dumps gives bytes: sent as text anyway
        await ws.send_json(await ws.receive_json(mode="binary"), mode="binary")

    async with connect(app) as client:
        await client.send_json({"x": "ü"})
        assert await client.receive_raw() == {"type": "websocket.send", "text": '{"x":"ü"}'}
        await client.send_json([1.5], mode="binary")
        assert await client.receive_raw() == {"type": "websocket.send", "bytes": b"[1.5]"}


async def test_a_custom_codec_errors_become_named_errors() -> None:
    def dumps(value: Any) -> str:
        raise TypeError("not today")

    server = FakeServer()
    ws = await connected(server, json_dumps=dumps, json_loads=orjson.loads)
    with pytest.raises(WebSocketTypeError, match="not today"):
        await ws.send_json(1)
    server.push({"type": "websocket.receive", "text": "{bad"})
    with pytest.raises(InvalidJSONError):  # orjson.JSONDecodeError is a ValueError
        await ws.receive_json()


async def test_the_default_encoder_is_built_once_not_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []

    class CountingEncoder(json.JSONEncoder):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(json, "JSONEncoder", CountingEncoder)
    server = FakeServer()
    ws = await connected(server)
    for n in range(5):
        await ws.send_json({"n": n})
    assert built == []
    assert [m["text"] for m in server.sent[1:]] == [f'{{"n":{n}}}' for n in range(5)]
