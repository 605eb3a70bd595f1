"""receive_message() and send_message(): models in, models out, in either mode."""

from __future__ import annotations

from typing import Any

import pytest
from support import ACCEPT_HEADERS_SINCE, DENIAL, REASON_SINCE, FakeServer, make_scope

from fastware import (
    ServerProtocolError,
    UnsupportedByServerWarning,
    WebSocket,
    WebSocketDisconnect,
    WebSocketTypeError,
    WebSocketValueError,
    messages,
)

MODES = pytest.mark.parametrize("validate", [False, True], ids=["default", "validated"])
CONNECT = {"type": "websocket.connect"}


@MODES
async def test_receive_message_returns_a_model_of_every_incoming_type(validate: bool) -> None:
    server = FakeServer(
        CONNECT,
        {"type": "websocket.receive", "text": "hi"},
        {"type": "websocket.receive", "bytes": b"\x01", "text": None},
        {"type": "websocket.disconnect", "code": 1001, "reason": "away"},
    )
    ws = WebSocket(make_scope(), server.receive, server.send, validate=validate)
    assert isinstance(await ws.receive_message(), messages.WebSocketConnect)
    await ws.send_message(messages.WebSocketAccept())
    text = await ws.receive_message()
    assert isinstance(text, messages.WebSocketReceive) and text.text == "hi"
    binary = await ws.receive_message()
    assert isinstance(binary, messages.WebSocketReceive) and binary.bytes_ == b"\x01"
    gone = await ws.receive_message()
    assert isinstance(gone, messages.WebSocketDisconnect)
    assert (gone.code, gone.reason) == (1001, "away")
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_message()
    assert (info.value.code, info.value.reason) == (1001, "away")


@MODES
async def test_receive_message_names_the_type_and_key_of_a_malformed_message(validate: bool) -> None:
    server = FakeServer(CONNECT, {"type": "websocket.receive", "bytes": "not bytes"})
    ws = WebSocket(make_scope(), server.receive, server.send, validate=validate)
    await ws.accept()
    with pytest.raises(ServerProtocolError, match="websocket.receive.*'bytes'"):
        await ws.receive_message()


SENDS: list[tuple[Any, dict[str, Any]]] = [
    (messages.WebSocketSend(text="t"), {"type": "websocket.send", "text": "t"}),
    (messages.WebSocketSend(bytes=b"b"), {"type": "websocket.send", "bytes": b"b"}),
    (messages.WebSocketClose(), {"type": "websocket.close", "code": 1000}),
    (messages.WebSocketClose(code=4000, reason="r"), {"type": "websocket.close", "code": 4000, "reason": "r"}),
]


@MODES
@pytest.mark.parametrize(("model", "expected"), SENDS)
async def test_send_message_sends_what_the_method_would(validate: bool, model: Any, expected: dict[str, Any]) -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(make_scope(subprotocols=["chat"]), server.receive, server.send, validate=validate)
    await ws.send_message(messages.WebSocketAccept(subprotocol="chat", headers=[(b"x-a", b"1")]))
    await ws.send_message(model)
    assert server.sent == [
        {"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-a", b"1")]},
        expected,
    ]


@DENIAL
async def test_send_message_sends_a_denial_response() -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(make_scope(), server.receive, server.send)
    await ws.send_message(messages.WebSocketHttpResponseStart(status=403, headers=[(b"x-why", b"no")]))
    await ws.send_message(messages.WebSocketHttpResponseBody(body=b"denied"))
    assert server.sent == [
        {"type": "websocket.http.response.start", "status": 403, "headers": [(b"x-why", b"no")]},
        {"type": "websocket.http.response.body", "body": b"denied", "more_body": False},
    ]


async def test_send_message_follows_the_servers_spec_version() -> None:
    # Accept headers arrived in ASGI 2.1, the close reason in 2.3: to an older server both are sent, with a warning.
    server = FakeServer(CONNECT)
    old = make_scope(asgi={"version": "3.0", "spec_version": "2.0"})
    ws = WebSocket(old, server.receive, server.send, validate=True)
    with pytest.warns(UnsupportedByServerWarning, match=f"needs ASGI spec {ACCEPT_HEADERS_SINCE}"):
        await ws.send_message(messages.WebSocketAccept(headers=[(b"x-a", b"1")]))
    with pytest.warns(UnsupportedByServerWarning, match=f"needs ASGI spec {REASON_SINCE}"):
        await ws.send_message(messages.WebSocketClose(code=4000, reason="kept"))
    assert server.sent[-1] == {"type": "websocket.close", "code": 4000, "reason": "kept"}


async def test_send_message_checks_what_model_construct_skipped() -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(make_scope(), server.receive, server.send)
    await ws.accept()
    with pytest.raises(WebSocketValueError, match="exactly one of bytes, text"):
        await ws.send_message(messages.WebSocketSend.model_construct())
    with pytest.raises(WebSocketValueError, match="may not be 1006"):
        await ws.send_message(messages.WebSocketClose.model_construct(code=1006))
    assert server.types() == ["websocket.accept"]


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        ({"type": "websocket.close"}, WebSocketTypeError, "takes a message model .* not dict"),
        (messages.WebSocketReceive(text="x"), WebSocketTypeError, "cannot send 'websocket.receive'"),
        (messages.WebSocketScope.model_validate(make_scope()), WebSocketTypeError, "not WebSocketScope"),
        (messages.WebSocketClose(code=4000, unknown="x"), WebSocketValueError, "has no key 'unknown'"),
    ],
)
async def test_send_message_refuses_what_it_cannot_send_whole(value: Any, error: type[Exception], words: str) -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(make_scope(), server.receive, server.send)
    await ws.accept()
    with pytest.raises(error, match=words):
        await ws.send_message(value)
    assert server.types() == ["websocket.accept"]
