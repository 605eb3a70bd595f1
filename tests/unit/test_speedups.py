"""The hot methods behave as the `async def`s they stand for, with or without fastware._speedups.

The whole suite runs with the C fast path (the default) and, in scripts/test.sh, again with
FASTWARE_NO_SPEEDUPS=1; these tests pin down what an awaitable that is not a Python coroutine
could get wrong: asyncio's view of it, awaiting it late, twice, or not at all, cancellation,
subclasses, and references it could leak.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import subprocess
import sys
import types
from collections.abc import Mapping
from typing import Any

import pytest
from support import TIMEOUT, FakeServer, make_scope

import fastware
from fastware import (
    FrameTypeError,
    WebSocket,
    WebSocketDisconnect,
    WebSocketStateError,
    WebSocketTypeError,
    _accel,
)

HOT = ("send_text", "send_bytes", "receive_text", "receive_bytes")


async def _connected(server: FakeServer, cls: type[WebSocket] = WebSocket) -> WebSocket:
    ws = cls(make_scope(), server.receive, server.send)
    server.push({"type": "websocket.connect"})
    await ws.accept()
    return ws


def test_the_c_fast_path_is_built_unless_turned_off() -> None:
    # setup.py's build of it is optional, so a compiler error would otherwise go unnoticed.
    assert _accel.ENABLED is (not os.environ.get("FASTWARE_NO_SPEEDUPS"))
    if os.environ.get("FASTWARE_NO_SPEEDUPS"):
        assert fastware.SPEEDUPS == fastware.Speedups(False, "switched off by FASTWARE_NO_SPEEDUPS")
    else:
        assert fastware.SPEEDUPS == fastware.Speedups(True, "built")
    assert bool(fastware.SPEEDUPS) is fastware.SPEEDUPS.enabled is _accel.ENABLED


def test_the_public_flag_tells_not_built_from_switched_off() -> None:
    # A fresh interpreter where the extension cannot be imported: the reason names the import error.
    code = (
        "import sys; sys.modules['fastware._speedups'] = None\n"
        "import fastware; print(fastware.SPEEDUPS.enabled, fastware.SPEEDUPS.reason)"
    )
    env = {k: v for k, v in os.environ.items() if k != "FASTWARE_NO_SPEEDUPS"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("False not built: "), done.stdout


@pytest.mark.parametrize("name", HOT)
def test_hot_methods_keep_the_signature_docs_and_names_of_the_generated_method(name: str) -> None:
    method = getattr(WebSocket, name)
    python = getattr(method, "__wrapped__", method)
    assert inspect.signature(method) == inspect.signature(python)
    assert method.__doc__ == python.__doc__ and method.__doc__
    assert (method.__name__, method.__qualname__) == (name, f"WebSocketMethods.{name}")
    assert asyncio.iscoroutinefunction(method) and inspect.iscoroutinefunction(method)
    bound = getattr(WebSocket(make_scope(), FakeServer().receive, FakeServer().send), name)
    assert list(inspect.signature(bound).parameters) == list(inspect.signature(python).parameters)[1:]


async def test_what_a_hot_method_returns_is_a_coroutine_to_asyncio() -> None:
    server = FakeServer()
    ws = await _connected(server)
    server.push({"type": "websocket.receive", "text": "a"})
    server.push({"type": "websocket.receive", "bytes": b"b"})
    pending = ws.send_text("x")
    assert asyncio.iscoroutine(pending)
    await pending
    task = asyncio.create_task(ws.receive_text())
    assert await asyncio.wait_for(task, TIMEOUT) == "a"
    assert await asyncio.gather(ws.receive_bytes(), ws.send_bytes(b"y")) == [b"b", None]
    assert [m.get("text") or m.get("bytes") for m in server.sent[1:]] == ["x", b"y"]


async def test_the_state_is_checked_when_awaited_not_when_called() -> None:
    server = FakeServer()
    ws = await _connected(server)
    early = ws.send_text("too late")
    late_receive = ws.receive_text()
    await ws.close()
    with pytest.raises(WebSocketStateError, match="close"):
        await early
    assert server.types() == ["websocket.accept", "websocket.close"]  # nothing sent after the close
    server.push({"type": "websocket.disconnect", "code": 1000})
    with pytest.raises(WebSocketDisconnect):
        await late_receive


async def test_called_before_accept_and_awaited_after_it_works() -> None:
    server = FakeServer()
    ws = WebSocket(make_scope(), server.receive, server.send)
    pending = ws.send_text("hello")
    server.push({"type": "websocket.connect"})
    await ws.accept()
    await pending
    assert server.sent[-1] == {"type": "websocket.send", "text": "hello"}


async def test_a_wrong_argument_raises_when_awaited_and_sends_nothing() -> None:
    server = FakeServer()
    ws = await _connected(server)
    pending = ws.send_text(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(WebSocketTypeError, match="str"):
        await pending
    assert server.types() == ["websocket.accept"]


async def test_awaiting_twice_is_refused() -> None:
    server = FakeServer()
    ws = await _connected(server)
    server.push({"type": "websocket.receive", "text": "once"})
    pending = ws.receive_text()
    assert await pending == "once"
    with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
        await pending


async def test_never_awaiting_sends_and_receives_nothing() -> None:
    server = FakeServer()
    ws = await _connected(server)
    server.push({"type": "websocket.receive", "text": "kept"})
    for pending in (ws.send_text("dropped"), ws.receive_text()):
        pending.close()
    del pending
    gc.collect()
    assert server.types() == ["websocket.accept"]
    assert await ws.receive_text() == "kept"


async def test_cancelling_a_waiting_receive_loses_no_message() -> None:
    server = FakeServer()
    ws = await _connected(server)
    task = asyncio.create_task(ws.receive_text())
    await asyncio.sleep(0.01)  # it now waits inside the server's receive()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    server.push({"type": "websocket.receive", "text": "after"})
    async with asyncio.timeout(TIMEOUT):
        assert await ws.receive_text() == "after"


async def test_a_timeout_around_a_hot_receive_leaves_the_connection_usable() -> None:
    server = FakeServer()
    ws = await _connected(server)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.02):
            await ws.receive_text()
    server.push({"type": "websocket.receive", "bytes": b"next"})
    assert await asyncio.wait_for(ws.receive_bytes(), TIMEOUT) == b"next"


async def test_a_lost_connection_raises_1006_from_none() -> None:
    server = FakeServer()
    ws = await _connected(server)
    server.send_error = ConnectionResetError("peer gone")
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_bytes(b"x")
    assert info.value.code == 1006
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize(
    ("message", "outcome"),
    [
        ({"type": "websocket.receive", "text": "plain"}, "plain"),
        ({"type": "websocket.receive", "bytes": None, "text": "hypercorn"}, "hypercorn"),
        (types.MappingProxyType({"type": "websocket.receive", "text": "a mapping"}), "a mapping"),
        ({"type": "websocket.receive", "bytes": b"binary"}, FrameTypeError),
        ({"type": "websocket.disconnect", "code": 4001}, WebSocketDisconnect),
    ],
    ids=["text", "both keys", "not a dict", "binary", "disconnect"],
)
async def test_every_shape_of_message_gets_the_answer_of_the_python_method(
    message: Mapping[str, Any], outcome: Any
) -> None:
    server = FakeServer()
    ws = await _connected(server)
    server.push(message)
    if isinstance(outcome, str):
        assert await ws.receive_text() == outcome
    else:
        with pytest.raises(outcome):
            await ws.receive_text()


async def test_a_subclass_with_a_dict_and_its_own_attributes_works() -> None:
    class Chat(WebSocket):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.room = "lobby"

    server = FakeServer()
    ws = await _connected(server, Chat)
    server.push({"type": "websocket.receive", "text": "hi"})
    await ws.send_text(await ws.receive_text() + " " + ws.room)
    assert server.sent[-1] == {"type": "websocket.send", "text": "hi lobby"}


async def test_a_subclass_overriding_a_hot_method_is_called() -> None:
    class Shouting(WebSocket):
        async def send_text(self, data: str) -> None:
            await super().send_text(data.upper())

    server = FakeServer()
    ws = await _connected(server, Shouting)
    await ws.send_text("quiet")
    assert server.sent[-1]["text"] == "QUIET"


async def test_many_messages_leak_no_references_or_awaitables() -> None:
    server = FakeServer()
    ws = await _connected(server)
    payload = "x" * 50
    before = sys.getrefcount(payload)
    for _ in range(2000):
        server.push({"type": "websocket.receive", "text": payload})
        await ws.send_text(await ws.receive_text())
    server.sent.clear()
    gc.collect()
    assert sys.getrefcount(payload) == before
    step_type = getattr(_accel._speedups, "Step", None)
    assert not [o for o in gc.get_objects() if type(o) is step_type]


# send_json(data): encoded and sent in C (fastware._speedups.encode_method) when no json_dumps is
# given and send_text is WebSocket's own; these pin down that every other case keeps Python's answer.


async def test_send_json_runs_in_c_when_it_can() -> None:
    server = FakeServer()
    ws = await _connected(server)
    awaitable = ws.send_json({"a": [1, None, "é"]})
    if _accel.ENABLED:
        assert type(awaitable).__name__ == "Step"  # the wiring is in place: this fails if it is lost
    await awaitable
    assert server.sent[-1] == {"type": "websocket.send", "text": '{"a":[1,null,"é"]}'}


async def test_send_json_goes_through_a_subclass_send_text() -> None:
    class Shouting(WebSocket):
        async def send_text(self, data: str) -> None:
            await super().send_text(data.upper())

    server = FakeServer()
    ws = await _connected(server, Shouting)
    await ws.send_json({"a": "quiet"})
    assert server.sent[-1]["text"] == '{"A":"QUIET"}'


async def test_send_json_sees_a_send_text_put_on_the_class_later() -> None:
    class Late(WebSocket):
        pass

    server = FakeServer()
    ws = await _connected(server, Late)
    await ws.send_json("before")  # the C path learns Late's send_text is WebSocket's

    async def send_text(self: WebSocket, data: str) -> None:
        await WebSocket.send_text(self, data + "!")

    Late.send_text = send_text  # type: ignore[method-assign]
    await ws.send_json("after")
    assert [m["text"] for m in server.sent[-2:]] == ['"before"', '"after"!']


async def test_send_json_sees_a_send_text_on_the_instance() -> None:
    class WithDict(WebSocket):
        pass

    server = FakeServer()
    ws = await _connected(server, WithDict)
    sent: list[str] = []

    async def send_text(data: str) -> None:
        sent.append(data)

    ws.send_text = send_text  # type: ignore[method-assign]
    await ws.send_json([1])
    assert sent == ["[1]"] and server.types() == ["websocket.accept"]


async def test_send_json_uses_the_json_dumps_given() -> None:
    server = FakeServer()
    ws = WebSocket(make_scope(), server.receive, server.send, json_dumps=lambda value: "custom")
    server.push({"type": "websocket.connect"})
    await ws.accept()
    await ws.send_json({"a": 1})
    assert server.sent[-1]["text"] == "custom"


async def test_send_json_checks_the_state_when_awaited() -> None:
    server = FakeServer()
    ws = WebSocket(make_scope(), server.receive, server.send)
    early = ws.send_json({"a": 1})  # called before accept, awaited after it: sent
    server.push({"type": "websocket.connect"})
    await ws.accept()
    await early
    await ws.close()
    late = ws.send_json({"a": 2})
    with pytest.raises(WebSocketStateError):
        await late
    assert server.types() == ["websocket.accept", "websocket.send", "websocket.close"]


async def test_send_json_where_a_serializer_swaps_send_text_mid_encoding() -> None:
    # The encoder runs Python code (a model's serializer): what it changes is seen, as in Python.
    import pydantic

    class WithDict(WebSocket):
        pass

    server = FakeServer()
    ws = await _connected(server, WithDict)

    async def send_text(data: str) -> None:
        await WebSocket.send_text(ws, "swapped " + data)

    class Model(pydantic.BaseModel):
        a: int

        @pydantic.field_serializer("a")
        def _swap(self, value: int) -> int:
            ws.send_text = send_text  # type: ignore[method-assign]
            return value

    await ws.send_json(Model(a=1))
    assert server.sent[-1]["text"] == 'swapped {"a":1}'


async def test_send_json_leaks_no_references() -> None:
    server = FakeServer()
    ws = await _connected(server)
    payload = {"text": "x" * 50, "n": None}
    before = sys.getrefcount(payload)
    for _ in range(2000):
        await ws.send_json(payload)
    with pytest.raises(WebSocketTypeError):
        await ws.send_json({"bad": object()})
    server.sent.clear()
    gc.collect()
    assert sys.getrefcount(payload) == before
    step_type = getattr(_accel._speedups, "Step", None)
    assert not [o for o in gc.get_objects() if type(o) is step_type]
