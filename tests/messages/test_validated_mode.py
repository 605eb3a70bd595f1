"""Validated mode: the scope and every message, both ways, checked against the models."""

from __future__ import annotations

from typing import Any

import pytest
from support import CLOSE_CODE_HOLE, CLOSE_REASON_MAX, FakeServer, make_scope, utf8_text

from fastware import ServerProtocolError, WebSocket, WebSocketValueError, _validation

CONNECT = {"type": "websocket.connect"}


async def test_a_conversation_sends_the_same_messages_in_both_modes() -> None:
    sent: dict[bool, list[Any]] = {}
    for validate in (False, True):
        server = FakeServer(
            CONNECT, {"type": "websocket.receive", "text": "a"}, {"type": "websocket.receive", "bytes": b"b"}
        )
        ws = WebSocket(make_scope(subprotocols=["chat"]), server.receive, server.send, validate=validate)
        await ws.accept("chat", headers=[(b"x-a", b"1")])
        await ws.send_text(await ws.receive_text())
        await ws.send_bytes(await ws.receive_bytes())
        await ws.send_json({"k": [1]})
        await ws.close(4000, reason="done")
        sent[validate] = server.sent
    assert sent[True] == sent[False]
    assert [m["type"] for m in sent[True]] == ["websocket.accept", *["websocket.send"] * 3, "websocket.close"]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"query_string": "a=1"}, "'query_string'"),
        ({"headers": [(b"host", "text")]}, "'headers.0.1'"),
        ({"asgi": {"version": 3, "spec_version": "2.5"}}, "'asgi.version'"),
        ({"path": None}, "'path'"),
    ],
)
def test_a_malformed_scope_is_refused_naming_the_key(override: dict[str, Any], key: str) -> None:
    server = FakeServer()
    scope = make_scope(**override)
    WebSocket(scope, server.receive, server.send)  # the default mode trusts the server
    with pytest.raises(ServerProtocolError, match=key):
        WebSocket(scope, server.receive, server.send, validate=True)


def test_real_scopes_with_list_header_pairs_are_accepted() -> None:
    server = FakeServer()
    WebSocket(make_scope(headers=[[b"host", b"x"]]), server.receive, server.send, validate=True)


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ({"type": "websocket.receive", "text": 1}, "'websocket.receive' is invalid: 'text'"),
        ({"type": "websocket.receive", "bytes": "str"}, "'websocket.receive' is invalid: 'bytes'"),
        ({"type": "websocket.receive", "text": "a", "bytes": b"b"}, "exactly one of bytes, text"),
        ({"type": "websocket.disconnect", "code": "1000"}, "'websocket.disconnect' is invalid: 'code'"),
        ({"type": "websocket.accept"}, "has type 'websocket.accept'; expected one of"),
        ({"text": "no type"}, "has type None"),
        (["not", "a", "dict"], "must be a dict, not list"),
    ],
)
async def test_a_malformed_message_from_the_server_names_the_key(message: Any, words: str) -> None:
    server = FakeServer(CONNECT, message)
    ws = WebSocket(make_scope(), server.receive, server.send, validate=True)
    await ws.accept()
    with pytest.raises(ServerProtocolError, match=words):
        await ws.receive_raw()


async def test_default_mode_hands_the_raw_dict_through() -> None:
    server = FakeServer(CONNECT, {"type": "websocket.receive", "text": 1})
    ws = WebSocket(make_scope(), server.receive, server.send)
    await ws.accept()
    assert await ws.receive_raw() == {"type": "websocket.receive", "text": 1}


async def test_the_handshake_message_is_validated_too() -> None:
    server = FakeServer({"type": "websocket.connect", "extra": 1}, {"type": "websocket.receive"})
    ws = WebSocket(make_scope(), server.receive, server.send, validate=True)
    await ws.accept()  # unknown keys are allowed by ASGI
    with pytest.raises(ServerProtocolError, match="exactly one of bytes, text set, got 0"):
        await ws.receive_text()


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ({"type": "websocket.send", "text": b"bytes"}, "'text'"),
        ({"type": "websocket.close", "code": CLOSE_CODE_HOLE}, f"'code' may not be {CLOSE_CODE_HOLE}"),
        (
            {"type": "websocket.close", "reason": utf8_text(CLOSE_REASON_MAX + 1)},
            f"'reason' is {CLOSE_REASON_MAX + 1} bytes",
        ),
        ({"type": "websocket.accept", "headers": [(b"Bad", b"1")]}, "lowercase token"),
        ({"type": "websocket.receive", "text": "x"}, "has type 'websocket.receive'; expected one of"),
    ],
)
async def test_every_outgoing_message_is_validated_before_it_is_sent(message: dict[str, Any], words: str) -> None:
    reached: list[Any] = []

    async def send(sent: Any) -> None:
        reached.append(sent)

    with pytest.raises(WebSocketValueError, match=words):
        await _validation.validating_send(send)(message)
    assert reached == []


async def test_validated_mode_still_refuses_misuse_before_validation() -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(make_scope(), server.receive, server.send, validate=True)
    with pytest.raises(WebSocketValueError, match="may not be 1006"):
        await ws.close(1006)
    assert server.sent == []
