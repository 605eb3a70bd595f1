"""Property-based tests: any payload, header set or close code either travels intact
as a schema-valid ASGI message, or is refused with a named error and nothing sent."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support import (
    CLOSE_CODE_EDGES,
    CLOSE_REASON_MAX,
    FakeServer,
    assert_valid,
    close_code_allowed,
    examples,
    make_scope,
    utf8_text,
)

from fastware import WebSocket, WebSocketDisconnect, WebSocketError, WebSocketValueError
from fastware._generated.checks import WEBSOCKET_CLOSE_CODE_VALUES

CONNECT = {"type": "websocket.connect"}
SETTINGS = settings(max_examples=examples(150), deadline=None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
header_names = st.from_regex(rb"\A[a-z0-9!#$%&'*+.^_`|~-]{1,20}\Z").filter(lambda n: n != b"sec-websocket-protocol")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _echo(incoming: list[dict[str, Any]], method: str, send: str, **kwargs: Any) -> list[Any]:
    server = FakeServer(CONNECT, *incoming, {"type": "websocket.disconnect", "code": 1000})
    ws = WebSocket(make_scope(), server.receive, server.send)
    await ws.accept()
    received = []
    try:
        while True:
            value = await getattr(ws, method)(**kwargs)
            received.append(value)
            await getattr(ws, send)(value, **kwargs)
    except WebSocketDisconnect:
        pass
    assert server.sent[0]["type"] == "websocket.accept"
    return [received, server.sent[1:]]


@SETTINGS
@given(st.lists(st.text(), max_size=5))
def test_text_round_trip_in_order(texts: list[str]) -> None:
    received, sent = run(_echo([{"type": "websocket.receive", "text": t} for t in texts], "receive_text", "send_text"))
    assert received == texts
    assert sent == [{"type": "websocket.send", "text": t} for t in texts]


@SETTINGS
@given(st.lists(st.binary(), max_size=5))
def test_bytes_round_trip_in_order(blobs: list[bytes]) -> None:
    received, sent = run(
        _echo([{"type": "websocket.receive", "bytes": b} for b in blobs], "receive_bytes", "send_bytes")
    )
    assert received == blobs
    assert sent == [{"type": "websocket.send", "bytes": b} for b in blobs]


@SETTINGS
@given(st.lists(json_values, max_size=4), st.sampled_from(["text", "binary"]))
def test_json_round_trip(values: list[Any], mode: str) -> None:
    key = "text" if mode == "text" else "bytes"
    frames = []
    for value in values:
        encoded = json.dumps(value)
        frames.append({"type": "websocket.receive", key: encoded if mode == "text" else encoded.encode()})
    received, sent = run(_echo(frames, "receive_json", "send_json", mode=mode))
    assert received == values
    assert [json.loads(m[key]) for m in sent] == values


@SETTINGS
@given(st.lists(st.tuples(header_names, st.binary(max_size=20)), max_size=5))
def test_valid_accept_headers_pass_through(headers: list[tuple[bytes, bytes]]) -> None:
    async def go() -> list[Any]:
        server = FakeServer(CONNECT)
        await WebSocket(make_scope(), server.receive, server.send).accept(headers=headers)
        return server.sent

    assert run(go()) == [{"type": "websocket.accept", "headers": headers}]


@SETTINGS
@given(st.binary(min_size=1, max_size=12), st.binary(max_size=8))
def test_any_header_name_is_sent_valid_or_refused(name: bytes, value: bytes) -> None:
    async def go() -> list[Any]:
        server = FakeServer(CONNECT)
        ws = WebSocket(make_scope(), server.receive, server.send)
        try:
            await ws.accept(headers=[(name, value)])
        except WebSocketValueError:
            pass
        return server.sent

    sent = run(go())
    for message in sent:  # FakeServer already validated it; spell the rule out too
        assert_valid(message, "SendMessage")
        assert message["headers"][0][0].lower() == name


@SETTINGS
@given(st.integers(min_value=-10, max_value=70000) | st.sampled_from(CLOSE_CODE_EDGES))
def test_close_codes_match_the_schema(code: int) -> None:
    async def go() -> tuple[list[Any], bool]:
        server = FakeServer(CONNECT)
        ws = WebSocket(make_scope(), server.receive, server.send)
        await ws.accept()
        server.sent.clear()
        try:
            await ws.close(code)
        except WebSocketValueError:
            return server.sent, False
        return server.sent, True

    sent, allowed = run(go())
    assert allowed == close_code_allowed(code)
    assert allowed == (code in WEBSOCKET_CLOSE_CODE_VALUES)
    assert sent == ([{"type": "websocket.close", "code": code}] if allowed else [])


@SETTINGS
@given(st.text(max_size=CLOSE_REASON_MAX + 7) | st.integers(CLOSE_REASON_MAX - 2, CLOSE_REASON_MAX + 2).map(utf8_text))
def test_close_reason_limit_is_in_utf8_bytes(reason: str) -> None:
    async def go() -> list[Any]:
        server = FakeServer(CONNECT)
        ws = WebSocket(make_scope(), server.receive, server.send)
        await ws.accept()
        server.sent.clear()
        try:
            await ws.close(4000, reason=reason)
        except WebSocketError:
            pass
        return server.sent

    sent = run(go())
    try:
        fits = len(reason.encode("utf-8")) <= CLOSE_REASON_MAX
    except UnicodeEncodeError:
        fits = False
    assert sent == ([{"type": "websocket.close", "code": 4000, "reason": reason}] if fits else [])
