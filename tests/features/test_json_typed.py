"""Typed JSON payloads: receive_json(model=T) and iter_json(model=T) validate each frame as T in one
pass; send_json takes pydantic models and dataclasses under the same JSON rules as any value."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Annotated, Any, Literal

import pydantic
import pytest
from support import FakeServer, make_scope
from typing_extensions import TypedDict  # pydantic needs it before Python 3.12

from fastware import (
    InvalidJSONError,
    PayloadValidationError,
    State,
    WebSocket,
    WebSocketDisconnect,
    WebSocketValueError,
    _json,
)
from fastware.testing import connect

pytestmark = pytest.mark.anyio


class Join(pydantic.BaseModel):
    type: Literal["join"]
    room: str


class Say(pydantic.BaseModel):
    type: Literal["say"]
    room: str
    text: str
    at: datetime.datetime | None = None


ClientMessage = Annotated[Join | Say, pydantic.Field(discriminator="type")]


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Reading(pydantic.BaseModel):
    value: float


class Span(TypedDict):
    start: int
    end: int


async def connected(server: FakeServer, **options: Any) -> WebSocket:
    ws = WebSocket(make_scope(), server.receive, server.send, **options)
    server.push({"type": "websocket.connect"})
    await ws.accept()
    return ws


def push(server: FakeServer, *frames: str | bytes) -> None:
    for frame in frames:
        key = "text" if isinstance(frame, str) else "bytes"
        server.push({"type": "websocket.receive", key: frame})


@pytest.mark.parametrize(
    ("model", "frame", "expected"),
    [
        (Join, '{"type":"join","room":"lobby"}', Join(type="join", room="lobby")),
        (ClientMessage, '{"type":"say","room":"r","text":"hi"}', Say(type="say", room="r", text="hi")),
        (Point, '{"x":1,"y":2}', Point(1, 2)),
        (Span, '{"start":1,"end":5}', {"start": 1, "end": 5}),
        (list[Point], '[{"x":1,"y":2},{"x":3,"y":4}]', [Point(1, 2), Point(3, 4)]),
        (dict[str, int], '{"a":1}', {"a": 1}),
        (int, "12345678901234567890123", 12345678901234567890123),
    ],
    ids=["model", "discriminated union", "dataclass", "TypedDict", "list", "dict", "big int"],
)
async def test_receive_json_validates_the_frame_as_the_type_in_both_modes(
    model: Any, frame: str, expected: Any
) -> None:
    server = FakeServer()
    ws = await connected(server)
    push(server, frame, frame.encode())
    assert await ws.receive_json(model=model) == expected
    assert await ws.receive_json(mode="binary", model=model) == expected


async def test_a_frame_that_does_not_validate_names_the_model_carries_the_errors_and_keeps_the_connection() -> None:
    server = FakeServer()
    ws = await connected(server)
    push(server, '{"type":"say","room":"r"}', '{"type":"join","room":"lobby"}')
    with pytest.raises(PayloadValidationError) as caught:
        await ws.receive_json(model=ClientMessage)
    error = caught.value
    assert isinstance(error, InvalidJSONError) and isinstance(error, WebSocketValueError)
    assert isinstance(error, ValueError)
    assert error.model is ClientMessage and error.mode == "text"
    assert [(e["type"], e["loc"]) for e in error.errors] == [("missing", ("say", "text"))]
    assert isinstance(error.__cause__, pydantic.ValidationError)
    assert "does not validate as typing.Annotated[" in str(error)
    assert "1 error, the first at say.text: Field required" in str(error)
    assert ws.connection_state is State.CONNECTED
    assert await ws.receive_json(model=ClientMessage) == Join(type="join", room="lobby")


async def test_a_frame_that_is_not_json_gives_the_same_error_with_pydantic_s_json_invalid() -> None:
    server = FakeServer()
    ws = await connected(server)
    push(server, b"{nope", '{"x":1,"y":"two"}')
    with pytest.raises(PayloadValidationError, match="binary frame that does not validate as Point") as caught:
        await ws.receive_json(mode="binary", model=Point)
    assert caught.value.errors[0]["type"] == "json_invalid"
    with pytest.raises(PayloadValidationError, match="the first at y: Input should be a valid integer"):
        await ws.receive_json(model=Point)


async def test_a_type_pydantic_cannot_take_fails_before_any_message_is_read() -> None:
    server = FakeServer()
    ws = await connected(server)
    push(server, '{"x":1,"y":2}')

    class Opaque:
        pass

    with pytest.raises(pydantic.PydanticSchemaGenerationError):
        await ws.receive_json(model=Opaque)
    assert await ws.receive_json(model=Point) == Point(1, 2)


async def test_adapters_are_built_once_per_type_not_per_message(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []
    real = pydantic.TypeAdapter

    def counting(model: Any) -> Any:
        built.append(model)
        return real(model)

    monkeypatch.setattr(_json.pydantic, "TypeAdapter", counting)
    monkeypatch.setattr(_json, "_adapters", {})
    monkeypatch.setattr(_json, "_adapters_by_id", {})
    _json.validators.clear()
    unhashable = Annotated[int, ["metadata", "in", "a", "list"]]  # hash() fails: kept by identity
    server = FakeServer()
    ws = await connected(server)
    for _ in range(5):
        push(server, '{"type":"join","room":"a"}', '[{"x":1,"y":2}]', "7")
        await ws.receive_json(model=ClientMessage)
        await ws.receive_json(model=list[Point])  # a new list[Point] each time, equal and hashable
        assert await ws.receive_json(model=unhashable) == 7
    assert len(built) == 3


async def test_iter_json_validates_each_frame_and_ends_on_the_disconnect() -> None:
    got: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        async for message in ws.iter_json(model=ClientMessage):
            got.append(message)
        got.append(ws.close_code)

    async with connect(app) as client:
        await client.send_json({"type": "join", "room": "a"})
        await client.send_json({"type": "say", "room": "a", "text": "hi"})
        await client.close(1000)
    assert got == [Join(type="join", room="a"), Say(type="say", room="a", text="hi"), 1000]


async def test_iter_json_raises_a_frame_that_does_not_validate() -> None:
    server = FakeServer()
    ws = await connected(server)
    push(server, '{"x":1}')
    with pytest.raises(PayloadValidationError):
        async for _ in ws.iter_json(model=Point):
            pass


async def test_send_json_takes_models_and_dataclasses_under_the_same_rules() -> None:
    server = FakeServer()
    ws = await connected(server)
    moment = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.UTC)
    await ws.send_json(Say(type="say", room="r", text="é", at=moment))
    await ws.send_json([Point(1, 2), {"p": Point(3, 4)}], mode="binary")
    assert server.sent[-2]["text"] == '{"type":"say","room":"r","text":"é","at":"2024-05-06T07:08:09Z"}'
    assert server.sent[-1]["bytes"] == b'[{"x":1,"y":2},{"p":{"x":3,"y":4}}]'
    sent = len(server.sent)
    with pytest.raises(WebSocketValueError, match="Out of range float"):
        await ws.send_json(Point(float("nan"), 1))  # a NaN field is refused, as any NaN is
    with pytest.raises(WebSocketValueError, match="cannot encode list as JSON"):
        await ws.send_json([Reading(value=float("inf"))])  # whatever the model's ser_json_inf_nan says
    assert len(server.sent) == sent


async def test_a_disconnect_during_a_typed_receive_is_a_disconnect() -> None:
    server = FakeServer()
    ws = await connected(server)
    server.push({"type": "websocket.disconnect", "code": 1001})
    with pytest.raises(WebSocketDisconnect) as caught:
        await ws.receive_json(model=Point)
    assert caught.value.code == 1001


async def test_the_docs_chat_example_reads_and_writes_typed_messages() -> None:
    """docs/json.md's example, as written there."""

    class Said(pydantic.BaseModel):
        type: Literal["said"] = "said"
        room: str
        text: str

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        rooms: set[str] = set()
        try:
            while True:
                try:
                    message = await ws.receive_json(model=ClientMessage)
                except PayloadValidationError as exc:
                    await ws.send_json({"type": "error", "errors": exc.errors})
                    continue
                if isinstance(message, Join):
                    rooms.add(message.room)
                elif message.room in rooms:
                    await ws.send_json(Said(room=message.room, text=message.text))
        except WebSocketDisconnect:
            pass

    async with connect(app) as client:
        await client.send_json({"type": "say", "room": "lobby", "text": "not joined yet"})
        await client.send_json({"type": "join", "room": "lobby"})
        await client.send_json({"type": "say", "room": "lobby", "text": "hi"})
        await client.send_json({"type": "shout", "room": "lobby"})
        assert await client.receive_json() == {"type": "said", "room": "lobby", "text": "hi"}
        error = await client.receive_json()
    assert error["type"] == "error"
    assert [e["type"] for e in error["errors"]] == ["union_tag_invalid"]
