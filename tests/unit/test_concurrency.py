"""One connection, several tasks: the state holds whichever task gets there first, and cancellation
leaves it telling the truth. Run on both paths (the C fast path, and FASTWARE_NO_SPEEDUPS=1)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from support import TIMEOUT, assert_valid, make_scope

from fastware import ServerProtocolError, State, WebSocket, WebSocketDisconnect, WebSocketStateError

CONNECT = {"type": "websocket.connect"}
WS_1006_ABNORMAL = 1006
WS_4001_CLIENT = 4001


class ClientGone(OSError):
    """What uvicorn's send() raises once the client has gone (ASGI 2.4)."""


class GatedServer:
    """An ASGI server side whose send() can be held open (``hold``) and can fail (``gone``).

    Like uvicorn, it refuses a second websocket.close and anything sent after one, with its own
    RuntimeError: the tests assert fastware never lets such a message reach it.
    """

    def __init__(self, *incoming: Mapping[str, Any]) -> None:
        self.incoming: asyncio.Queue[Any] = asyncio.Queue()
        for message in incoming:
            self.incoming.put_nowait(message)
        self.sent: list[Mapping[str, Any]] = []
        self.hold: asyncio.Event | None = None  # send() waits for it, after taking the message
        self.entered = asyncio.Event()  # set when a send() is waiting on hold
        self.gone = False  # send() raises ClientGone (after the hold)

    async def receive(self) -> Any:
        return await asyncio.wait_for(self.incoming.get(), TIMEOUT)

    async def send(self, message: Mapping[str, Any]) -> None:
        assert_valid(message, "SendMessage")
        if any(m["type"] == "websocket.close" for m in self.sent):
            raise RuntimeError(f"Unexpected ASGI message {message['type']!r} after sending 'websocket.close'")
        if self.gone:
            raise ClientGone("the client has gone")
        self.sent.append(message)
        if self.hold is not None:
            self.entered.set()
            await asyncio.wait_for(self.hold.wait(), TIMEOUT)
        if self.gone:
            raise ClientGone("the client has gone")

    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]


async def accepted(*incoming: Mapping[str, Any]) -> tuple[WebSocket, GatedServer]:
    server = GatedServer(CONNECT, *incoming)
    ws = WebSocket(make_scope(), server.receive, server.send)
    await ws.accept()
    server.sent.clear()
    return ws, server


def disconnect(code: int = WS_4001_CLIENT, reason: str = "bye") -> dict[str, Any]:
    return {"type": "websocket.disconnect", "code": code, "reason": reason}


class Text(str):
    pass


# A send still in the server when another task receives the disconnect ------------------------


@pytest.mark.parametrize(
    "send",
    [
        lambda ws: ws.send_text("fast"),
        lambda ws: ws.send_bytes(b"fast"),
        lambda ws: ws.send_text(Text("slow path")),
        lambda ws: ws.send_bytes(bytearray(b"slow path")),
    ],
    ids=["text", "bytes", "str-subclass", "bytearray"],
)
async def test_a_send_finishing_after_the_disconnect_does_not_move_the_state_back(send: Any) -> None:
    ws, server = await accepted(disconnect())
    server.hold = asyncio.Event()
    sending = asyncio.create_task(send(ws))
    await server.entered.wait()
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert info.value.code == WS_4001_CLIENT
    server.hold.set()
    await sending  # the server took it before the client left: it succeeds
    assert (ws.connection_state, ws.close_code, ws.close_reason) == (State.DISCONNECTED, WS_4001_CLIENT, "bye")
    # Nothing reaches the server any more, and a receive raises at once instead of hanging.
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("late")
    assert info.value.code == WS_4001_CLIENT
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()
    assert len(server.sent) == 1


async def test_a_close_finishing_after_the_disconnect_does_not_move_the_state_back() -> None:
    ws, server = await accepted(disconnect())
    server.hold = asyncio.Event()
    closing = asyncio.create_task(ws.close())
    await server.entered.wait()
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()
    server.hold.set()
    await closing
    assert (ws.connection_state, ws.close_code) == (State.DISCONNECTED, WS_4001_CLIENT)


# A close in progress ----------------------------------------------------------------------


async def test_a_close_in_progress_is_seen_by_every_other_task_at_once() -> None:
    ws, server = await accepted()
    server.hold = asyncio.Event()
    closing = asyncio.create_task(ws.close(4000))
    await server.entered.wait()
    assert ws.connection_state is State.CLOSED
    with pytest.raises(WebSocketStateError, match="close\\(\\) was already called"):
        await ws.send_text("x")
    with pytest.raises(WebSocketStateError, match="close\\(\\) was already called"):
        await ws.send_bytes(b"x")
    await ws.close(4002)  # a no-op, as documented; uvicorn would raise on a second close
    server.hold.set()
    await closing
    assert server.types() == ["websocket.close"]


async def test_a_cancelled_close_counts_as_sent() -> None:
    # The server may have taken it; a second websocket.close would be a protocol error.
    ws, server = await accepted(disconnect(1000, ""))
    server.hold = asyncio.Event()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await ws.close(4000)
    assert ws.connection_state is State.CLOSED
    await ws.close()
    with pytest.raises(WebSocketStateError):
        await ws.send_text("x")
    assert server.types() == ["websocket.close"]
    # The client's disconnect can still be read.
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert (info.value.code, ws.connection_state) == (1000, State.DISCONNECTED)


async def test_a_cancelled_accept_counts_as_sent() -> None:
    server = GatedServer(CONNECT)
    ws = WebSocket(make_scope(subprotocols=["chat"]), server.receive, server.send)
    server.hold = asyncio.Event()
    # Cancelled once the server holds websocket.accept, not after a fixed delay: accept() first awaits
    # websocket.connect, and on a loaded machine a short timeout can fire before accept reaches send()
    # (or, on Python 3.11, be swallowed by wait_for() in receive(): bpo-42130).
    accepting = asyncio.create_task(ws.accept("chat"))
    await server.entered.wait()
    accepting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await accepting
    assert (ws.connection_state, ws.subprotocol) == (State.CONNECTED, "chat")
    with pytest.raises(WebSocketStateError, match="already accepted"):
        await ws.accept()
    assert server.types() == ["websocket.accept"]


async def test_an_accept_cancelled_before_the_connect_arrived_can_be_retried() -> None:
    server = GatedServer()
    ws = WebSocket(make_scope(), server.receive, server.send)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await ws.accept()
    assert (ws.connection_state, server.sent) == (State.CONNECTING, [])
    server.incoming.put_nowait(CONNECT)
    await ws.accept()
    assert (ws.connection_state, server.types()) == (State.CONNECTED, ["websocket.accept"])


# The client leaves: which task notices first does not matter ------------------------------


async def test_a_failed_send_then_the_real_disconnect() -> None:
    # The sender notices first (1006 stands in); the reader then gets the client's real code.
    ws, server = await accepted()
    server.gone = True
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("x")
    assert (info.value.code, ws.connection_state, ws.close_code) == (WS_1006_ABNORMAL, State.LOST, WS_1006_ABNORMAL)
    server.incoming.put_nowait({"type": "websocket.receive", "text": "sent before it left"})
    server.incoming.put_nowait(disconnect())
    assert await ws.receive_text() == "sent before it left"
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert (info.value.code, info.value.reason) == (WS_4001_CLIENT, "bye")
    assert (ws.connection_state, ws.close_code, ws.close_reason) == (State.DISCONNECTED, WS_4001_CLIENT, "bye")
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("late")
    assert info.value.code == WS_4001_CLIENT


async def test_the_reader_first_then_a_send_fails() -> None:
    # The reader notices first: the failing sender gets the client's code, which 1006 never overwrites.
    ws, server = await accepted(disconnect())
    server.hold = asyncio.Event()
    sending = asyncio.create_task(ws.send_text("x"))
    await server.entered.wait()
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()
    server.gone = True
    server.hold.set()
    with pytest.raises(WebSocketDisconnect) as info:
        await sending
    assert info.value.code == WS_4001_CLIENT
    assert (ws.connection_state, ws.close_code, ws.close_reason) == (State.DISCONNECTED, WS_4001_CLIENT, "bye")


async def test_a_reader_already_waiting_gets_the_real_code_after_a_send_failed() -> None:
    ws, server = await accepted()
    reading = asyncio.create_task(ws.receive_text())
    await asyncio.sleep(0)
    server.gone = True
    with pytest.raises(WebSocketDisconnect):
        await ws.send_text("x")
    server.incoming.put_nowait(disconnect())
    with pytest.raises(WebSocketDisconnect) as info:
        await reading
    assert info.value.code == WS_4001_CLIENT
    assert ws.close_code == WS_4001_CLIENT


async def test_close_after_the_client_vanished_is_a_no_op() -> None:
    ws, server = await accepted(disconnect())
    server.gone = True
    await ws.close()  # the cleanup in a finally block does not raise
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert info.value.code == WS_4001_CLIENT


@pytest.mark.parametrize("state", [State.LOST, State.DISCONNECTED])
async def test_every_send_once_the_client_is_gone_raises_the_disconnect(state: State) -> None:
    ws, server = await accepted(disconnect())
    if state is State.LOST:
        server.gone = True
        with pytest.raises(WebSocketDisconnect):
            await ws.send_text("x")
        server.gone = False
    else:
        with pytest.raises(WebSocketDisconnect):
            await ws.receive_text()
    for send in (ws.send_text("x"), ws.send_bytes(b"x"), ws.send_json([1]), ws.send_text(Text("x"))):
        with pytest.raises(WebSocketDisconnect):
            await send
    await ws.close()
    assert ws.connection_state is state
    assert server.sent == []


# What the server hands over ----------------------------------------------------------------


@pytest.mark.parametrize("message", [None, ["websocket.receive"], "websocket.receive", 42])
@pytest.mark.parametrize(
    "receive",
    [
        lambda ws: ws.receive_text(),
        lambda ws: ws.receive_bytes(),
        lambda ws: ws.receive_text(timeout=TIMEOUT),
        lambda ws: ws.receive_json(),
        lambda ws: ws._receive_data(),
        lambda ws: ws.receive_raw(),
    ],
    ids=["text", "bytes", "text-timeout", "json", "data", "raw"],
)
async def test_a_message_that_is_not_a_mapping_is_a_server_protocol_error(message: Any, receive: Any) -> None:
    ws, _ = await accepted(message)
    with pytest.raises(ServerProtocolError, match=f"returned {type(message).__name__}, not an ASGI message"):
        await receive(ws)
    assert ws.connection_state is State.CONNECTED


@pytest.mark.parametrize("mode", ["text", "binary"])
async def test_send_json_takes_a_str_subclass_from_json_dumps(mode: str) -> None:
    server = GatedServer(CONNECT)
    ws = WebSocket(make_scope(), server.receive, server.send, json_dumps=lambda data: Text('{"a":1}'))
    await ws.accept()
    await ws.send_json({"a": 1}, mode=mode)  # type: ignore[arg-type]
    sent = server.sent[-1]
    assert sent == (
        {"type": "websocket.send", "text": '{"a":1}'}
        if mode == "text"
        else {"type": "websocket.send", "bytes": b'{"a":1}'}
    )
