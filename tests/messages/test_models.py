"""fastware.messages: the generated models, the unions, parse() and the way back to ASGI dicts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from support import (
    CLOSE_CODE_HOLE,
    CLOSE_REASON_MAX,
    DENIAL,
    EXAMPLES,
    SPEC_VERSION,
    assert_valid,
    make_scope,
    utf8_text,
)

from fastware import messages
from fastware._generated.metadata import MESSAGES

# One valid message of every type, with every key the schema defines set: the schema's own examples.


def test_every_message_type_has_a_model_and_an_example() -> None:
    assert set(messages.MODELS) == set(EXAMPLES)


@pytest.mark.parametrize("msg_type", sorted(EXAMPLES))
def test_parse_gives_the_model_and_to_asgi_gives_the_dict_back(msg_type: str) -> None:
    raw = EXAMPLES[msg_type]
    model = messages.parse(raw)
    assert type(model) is messages.MODELS[msg_type]
    assert messages.to_asgi(model) == raw
    union = "SendMessage" if MESSAGES[msg_type]["direction"] == "send" else "ReceiveMessage"
    assert_valid(messages.to_asgi(model), union)


def test_to_asgi_uses_asgi_key_names_and_leaves_unset_keys_out() -> None:
    assert messages.to_asgi(messages.WebSocketSend(bytes=b"x")) == {"type": "websocket.send", "bytes": b"x"}
    assert messages.WebSocketReceive(bytes=b"y").bytes_ == b"y"
    assert messages.to_asgi(messages.WebSocketClose()) == {"type": "websocket.close"}
    assert messages.to_asgi(messages.WebSocketClose(reason="r")) == {"type": "websocket.close", "reason": "r"}


def test_unknown_keys_are_kept_both_ways() -> None:
    raw = {"type": "websocket.receive", "text": "x", "x-server-extra": 1}
    assert messages.to_asgi(messages.parse(raw)) == raw


def test_union_per_direction() -> None:
    receive = TypeAdapter(messages.ReceiveMessage)
    send = TypeAdapter(messages.SendMessage)
    assert isinstance(receive.validate_python(EXAMPLES["websocket.disconnect"]), messages.WebSocketDisconnect)
    assert isinstance(send.validate_python(EXAMPLES["websocket.close"]), messages.WebSocketClose)
    with pytest.raises(ValidationError, match="union_tag_invalid"):
        send.validate_python(EXAMPLES["websocket.receive"])
    with pytest.raises(ValidationError, match="union_tag_invalid"):
        receive.validate_python(EXAMPLES["websocket.send"])


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        ({"type": "websocket.receive", "text": 1}, ("websocket.receive", "text")),
        # Strict scalars: a str where bytes belong is an error, not a conversion.
        ({"type": "websocket.receive", "bytes": "abc"}, ("websocket.receive", "bytes")),
        ({"type": "websocket.disconnect", "code": "1000"}, ("websocket.disconnect", "code")),
        pytest.param(
            {"type": "websocket.http.response.start"}, ("websocket.http.response.start", "status"), marks=DENIAL
        ),
        pytest.param(
            {"type": "websocket.http.response.start", "status": 99},
            ("websocket.http.response.start", "status"),
            marks=DENIAL,
        ),
        ({"type": "websocket.accept", "headers": [(b"a", "text")]}, ("websocket.accept", "headers", 0, 1)),
        pytest.param(
            {"type": "websocket.http.response.body", "more_body": 1},
            ("websocket.http.response.body", "more_body"),
            marks=DENIAL,
        ),
    ],
)
def test_parse_error_names_the_message_type_and_the_key(raw: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        messages.parse(raw)
    assert [error["loc"] for error in info.value.errors()] == [loc]
    assert f"`{loc[0]}`.{loc[1]}" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        # Rules JSON Schema hands to the generated checks: byte limit, code holes, header names, exactly one.
        (
            {"type": "websocket.close", "reason": utf8_text(CLOSE_REASON_MAX + 1)},
            f"websocket.close 'reason' is {CLOSE_REASON_MAX + 1} bytes",
        ),
        (
            {"type": "websocket.close", "code": CLOSE_CODE_HOLE},
            f"websocket.close 'code' may not be {CLOSE_CODE_HOLE}",
        ),
        ({"type": "websocket.accept", "headers": [(b"X-Upper", b"1")]}, "must be a lowercase token"),
        ({"type": "websocket.accept", "headers": [(b"sec-websocket-protocol", b"x")]}, "may not be set here"),
        ({"type": "websocket.receive", "text": "a", "bytes": b"b"}, "exactly one of bytes, text"),
        ({"type": "websocket.send"}, "exactly one of bytes, text"),
    ],
)
def test_parse_enforces_the_rules_beyond_types(raw: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words) as info:
        messages.parse(raw)
    assert info.value.errors()[0]["loc"] == (raw["type"],)


def test_parse_rejects_unknown_and_missing_types() -> None:
    with pytest.raises(ValidationError, match="union_tag_invalid"):
        messages.parse({"type": "websocket.nope"})
    with pytest.raises(ValidationError, match="union_tag_not_found"):
        messages.parse({"text": "x"})


def test_header_pairs_may_be_lists_as_asgi_allows() -> None:
    model = messages.parse({"type": "websocket.accept", "headers": [[b"x-a", b"1"]]})
    assert messages.to_asgi(model) == {"type": "websocket.accept", "headers": [(b"x-a", b"1")]}


def test_parse_scope() -> None:
    scope = messages.parse_scope(make_scope(path_params={"room": "a"}))
    assert isinstance(scope, messages.WebSocketScope)
    assert scope.asgi.spec_version == SPEC_VERSION
    with pytest.raises(ValidationError) as info:
        messages.parse_scope(make_scope(query_string="a=1"))
    assert info.value.errors()[0]["loc"] == ("query_string",)


def test_to_asgi_refuses_what_is_not_a_model() -> None:
    with pytest.raises(TypeError, match="not dict"):
        messages.to_asgi({"type": "websocket.close"})  # type: ignore[arg-type]


def test_the_disconnect_message_model_is_not_the_exception() -> None:
    import fastware

    assert messages.WebSocketDisconnect is not fastware.WebSocketDisconnect
    assert not issubclass(messages.WebSocketDisconnect, BaseException)
