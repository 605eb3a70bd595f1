"""send_json / receive_json: text and binary modes, the default compact encoder, pluggable codecs."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from support import FakeServer, make_scope

from fastware import (
    FrameTypeError,
    InvalidJSONError,
    WebSocket,
    WebSocketDisconnect,
    WebSocketStateError,
    WebSocketTypeError,
    WebSocketValueError,
)
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


async def test_a_json_dumps_returning_a_str_subclass_or_bytes_like_is_sent_as_exact_types() -> None:
    class Marked(str):
        def __str__(self) -> str:
            return "not the JSON"

    for result in (Marked('{"a":1}'), bytearray(b'{"a":1}'), memoryview(b'{"a":1}')):
        server = FakeServer()
        ws = await connected(server, json_dumps=lambda value, result=result: result)
        await ws.send_json({"a": 1})
        await ws.send_json({"a": 1}, mode="binary")
        text, binary = server.sent[-2]["text"], server.sent[-1]["bytes"]
        assert (text, text.__class__, binary, binary.__class__) == ('{"a":1}', str, b'{"a":1}', bytes)


async def test_a_json_dumps_returning_something_else_is_a_named_error() -> None:
    server = FakeServer()
    ws = await connected(server, json_dumps=lambda value: 42)
    for mode in ("text", "binary"):
        with pytest.raises(WebSocketTypeError, match="json_dumps must return str or bytes, not int"):
            await ws.send_json({}, mode=mode)  # type: ignore[arg-type]
    assert server.types() == ["websocket.accept"]


async def test_the_default_codec_is_not_the_stdlib_but_answers_as_it_does() -> None:
    server = FakeServer()
    ws = await connected(server)
    value = {"é": [1, 2.5, None, True], "n": 2**70, 3: "int key"}
    await ws.send_json(value)
    assert server.sent[-1]["text"] == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    with pytest.raises(WebSocketValueError, match="lone surrogate|surrogates not allowed"):
        await ws.send_json({"s": "\ud800"})  # the stdlib writes it; it cannot go out as UTF-8
    with pytest.raises(WebSocketValueError, match="cannot encode list as JSON"):
        await ws.send_json([None, float("inf")])  # orjson alone would write null


async def test_send_json_is_awaited_like_an_async_def() -> None:
    import asyncio
    import inspect
    import sys

    server = FakeServer()
    ws = await connected(server)
    assert asyncio.iscoroutinefunction(ws.send_json)
    # inspect admits a marked function from 3.12 (inspect.markcoroutinefunction); 3.11 reads code flags only.
    assert inspect.iscoroutinefunction(WebSocket.send_json) is (sys.version_info >= (3, 12))
    refused = ws.send_json({1, 2})  # the error is raised where it is awaited, as an async def's
    sent_later = ws.send_json({"late": True})
    await asyncio.create_task(ws.send_json({"in": "a task"}))
    with pytest.raises(WebSocketTypeError, match="cannot encode set"):
        await refused
    await ws.close()
    with pytest.raises(WebSocketStateError):  # the state is checked when awaited, not when called
        await sent_later
    assert server.sent[1:] == [
        {"type": "websocket.send", "text": '{"in":"a task"}'},
        {"type": "websocket.close", "code": 1000},
    ]


async def test_receive_json_checks_the_state_and_reports_the_disconnect() -> None:
    server = FakeServer()
    ws = WebSocket(make_scope(), server.receive, server.send)
    with pytest.raises(WebSocketStateError):
        await ws.receive_json()
    server.push({"type": "websocket.connect"})
    await ws.accept()
    server.push({"type": "websocket.receive", "text": '{"n":1}'})
    server.push({"type": "websocket.receive", "text": "[1,"})
    server.push({"type": "websocket.receive", "text": "[2]", "bytes": None})
    server.push({"type": "websocket.disconnect", "code": 4001})
    assert await ws.receive_json() == {"n": 1}
    with pytest.raises(InvalidJSONError, match=r"not valid JSON: Expecting value: line 1 column 4 \(char 3\)"):
        await ws.receive_json()
    assert await ws.receive_json() == [2]
    with pytest.raises(WebSocketDisconnect) as caught:
        await ws.receive_json()
    assert caught.value.code == 4001


async def test_receive_json_calls_the_decoder_once_per_frame_and_says_why_it_failed() -> None:
    calls: list[Any] = []

    def loads(data: str | bytes) -> Any:
        calls.append(data)
        if data == "bad":
            raise ValueError("custom refusal")
        return orjson.loads(data)

    server = FakeServer()
    ws = await connected(server, json_loads=loads)
    server.push({"type": "websocket.receive", "text": "[1]"})
    server.push({"type": "websocket.receive", "text": "bad"})
    server.push({"type": "websocket.receive", "bytes": b"[2]"})
    assert await ws.receive_json() == [1]
    assert calls == ["[1]"]
    with pytest.raises(InvalidJSONError, match="not valid JSON: custom refusal"):
        await ws.receive_json()
    with pytest.raises(FrameTypeError):  # a binary frame where text is expected: not given to the decoder
        await ws.receive_json()
    assert calls == ["[1]", "bad"]  # once each, on the C path as on the Python one


def test_the_c_receive_method_checks_its_converter_slot() -> None:
    from fastware import _accel

    if not _accel.ENABLED:
        pytest.skip("fastware._speedups is not built (or FASTWARE_NO_SPEEDUPS): nothing in C to check")

    async def method(self: Any, *, timeout: float | None = None) -> Any:
        return None

    def then(ws: Any, message: Any, error: Any = None) -> Any:
        return None

    speedups = _accel._speedups
    speedups.receive_method(method, then, ("websocket.receive", "text", str, "bytes", "_json_loads"))
    with pytest.raises(TypeError, match="convert_slot: str"):
        speedups.receive_method(method, then, ("websocket.receive", "text", str, "bytes", 5))
    with pytest.raises(TypeError):
        speedups.receive_method(method, then, ("websocket.receive", "text", str, "bytes", "a", "b"))
