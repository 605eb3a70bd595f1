"""The chat example: rooms in memory through fastware.testing, then end to end through uvicorn."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import websockets
from support import TIMEOUT
from websockets.exceptions import InvalidStatus

from examples.chat import ChatApp
from examples.chat import app as chat_module_app
from examples.chat.server import MAX_MESSAGE
from fastware import WebSocketDisconnect
from fastware.testing import Client, HandshakeRejected, connect

pytestmark = pytest.mark.anyio

WS_1003_UNSUPPORTED_DATA = 1003
WS_1009_MESSAGE_TOO_BIG = 1009
WS_1013_TRY_AGAIN_LATER = 1013


async def next_chat(client: Client) -> dict[str, Any]:
    """The next chat message the client receives, skipping join and leave events."""
    while (event := await client.receive_json())["type"] != "message":
        pass
    return event


async def test_a_message_reaches_everyone_in_the_room_and_no_one_else() -> None:
    app = ChatApp()
    async with (
        connect(app, "/chat/ws/lobby?name=ann") as ann,
        connect(app, "/chat/ws/lobby?name=bob") as bob,
        connect(app, "/chat/ws/garden?name=cy") as cy,
    ):
        await ann.send_text("hello lobby")
        expected = {"type": "message", "room": "lobby", "name": "ann", "text": "hello lobby"}
        assert await next_chat(ann) == expected  # the sender sees its own message too
        assert await next_chat(bob) == expected
        # cy's first message is its own: nothing from the lobby came before it.
        await cy.send_text("hello garden")
        assert await next_chat(cy) == {"type": "message", "room": "garden", "name": "cy", "text": "hello garden"}
    assert app.rooms == {}  # everyone left, and empty rooms are dropped


async def test_members_see_who_joins_and_leaves() -> None:
    app = ChatApp()
    async with connect(app, "/chat/ws/lobby?name=ann") as ann:
        assert await ann.receive_json() == {"type": "join", "room": "lobby", "name": "ann"}
        async with connect(app, "/chat/ws/lobby?name=bob"):
            assert await ann.receive_json() == {"type": "join", "room": "lobby", "name": "bob"}
        assert await ann.receive_json() == {"type": "leave", "room": "lobby", "name": "bob"}


@pytest.mark.parametrize(
    "path", ["/chat/ws/", "/chat/ws/no%20spaces", "/chat/ws/" + "x" * 33, "/chat/ws/a?name=" + "n" * 33]
)
async def test_bad_room_or_name_is_refused_at_the_handshake(path: str) -> None:
    with pytest.raises(HandshakeRejected) as info:
        async with connect(ChatApp(), path):
            pass
    assert info.value.status == 403


async def test_an_oversized_message_closes_with_1009_and_is_not_broadcast() -> None:
    app = ChatApp()
    async with connect(app, "/chat/ws/r?name=ann") as ann, connect(app, "/chat/ws/r?name=bob") as bob:
        await bob.send_text("x" * (MAX_MESSAGE + 1))
        with pytest.raises(WebSocketDisconnect) as info:
            while True:
                await bob.receive_json()
        assert info.value.code == WS_1009_MESSAGE_TOO_BIG
        assert await ann.receive_json() == {"type": "join", "room": "r", "name": "ann"}
        assert await ann.receive_json() == {"type": "join", "room": "r", "name": "bob"}
        assert await ann.receive_json() == {"type": "leave", "room": "r", "name": "bob"}


async def test_a_binary_frame_closes_with_1003() -> None:
    async with connect(ChatApp(), "/chat/ws/r") as client:
        await client.send_bytes(b"\x00")
        with pytest.raises(WebSocketDisconnect) as info:
            while True:
                await client.receive_json()
        assert info.value.code == WS_1003_UNSUPPORTED_DATA


async def test_a_member_too_slow_to_read_is_closed_with_1013(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("examples.chat.server.OUTBOX_LIMIT", 3)
    # A client that reads nothing: the writer's sends wait until the member has been dropped.
    from examples.chat.server import Member, WebSocket

    dropped = asyncio.Event()
    deliver, send_json = Member.deliver, WebSocket.send_json

    def deliver_and_tell(self: Member, event: dict[str, Any]) -> None:
        deliver(self, event)
        if self.dropped:
            dropped.set()

    async def stuck_send_json(self: WebSocket, data: Any, **kwargs: Any) -> None:
        await dropped.wait()
        await send_json(self, data, **kwargs)

    monkeypatch.setattr(Member, "deliver", deliver_and_tell)
    monkeypatch.setattr(WebSocket, "send_json", stuck_send_json)
    async with connect(ChatApp(), "/chat/ws/r?name=ann") as ann:
        for n in range(10):
            await ann.send_text(str(n))
        events = []
        with pytest.raises(WebSocketDisconnect) as info:
            while True:
                events.append(await ann.receive_json())
        assert info.value.code == WS_1013_TRY_AGAIN_LATER
        # What fit in the outbox, in order, then the close: not all ten.
        assert events[0]["type"] == "join"
        texts = [event["text"] for event in events[1:]]
        assert texts == [str(n) for n in range(len(texts))]
        assert len(texts) < 10


async def http_get(app: Any, path: str, method: str = "GET") -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    await app({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


async def test_the_page_is_served_over_http() -> None:
    status, headers, body = await http_get(chat_module_app, "/chat")
    assert status == 200
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    assert b"new WebSocket(url)" in body
    assert (await http_get(chat_module_app, "/elsewhere"))[0] == 404
    assert (await http_get(chat_module_app, "/chat", "POST"))[0] == 405


# End to end: several websockets clients through the server the README's run command starts.


@asynccontextmanager
async def members(base: str, *who: str) -> AsyncIterator[list[Any]]:
    """Connect one websockets client per "room/name"."""
    async with AsyncExitStack() as stack:
        clients = []
        for entry in who:
            room, name = entry.split("/")
            url = f"{base}/chat/ws/{room}?name={name}"
            clients.append(await stack.enter_async_context(websockets.connect(url, open_timeout=TIMEOUT)))
        yield clients


async def receive_chat(client: Any) -> dict[str, Any]:
    while (event := json.loads(await asyncio.wait_for(client.recv(), TIMEOUT)))["type"] != "message":
        pass
    return event


async def test_end_to_end_messages_reach_the_room_and_no_one_else(served: str) -> None:
    async with members(served, "blue/ann", "blue/bob", "blue/cy", "red/dan", "red/eve") as clients:
        ann, bob, cy, dan, eve = clients
        await ann.send("to blue")
        await eve.send("to red")
        blue = {"type": "message", "room": "blue", "name": "ann", "text": "to blue"}
        red = {"type": "message", "room": "red", "name": "eve", "text": "to red"}
        for client in (ann, bob, cy):
            assert await receive_chat(client) == blue
        for client in (dan, eve):
            assert await receive_chat(client) == red
        # Each one's next message is the one sent next in its own room: no message crossed rooms.
        await cy.send("blue again")
        await dan.send("red again")
        for client in (ann, bob, cy):
            assert (await receive_chat(client))["text"] == "blue again"
        for client in (dan, eve):
            assert (await receive_chat(client))["text"] == "red again"


async def test_end_to_end_the_origin_guard_refuses_other_sites(served: str) -> None:
    port = served.rsplit(":", 1)[1]
    own = f"http://127.0.0.1:{port}"
    async with websockets.connect(f"{served}/chat/ws/lobby", origin=own, open_timeout=TIMEOUT) as client:  # type: ignore[arg-type]
        assert json.loads(await asyncio.wait_for(client.recv(), TIMEOUT))["type"] == "join"
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(f"{served}/chat/ws/lobby", origin="https://evil.example", open_timeout=TIMEOUT):  # type: ignore[arg-type]
            pass
    assert info.value.response.status_code == 403


async def test_end_to_end_the_echo_app_still_answers_beside_the_chat(served: str) -> None:
    async with websockets.connect(f"{served}/", open_timeout=TIMEOUT) as client:
        await client.send("ping")
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "ping"


def test_end_to_end_the_page_is_served(served: str) -> None:
    url = served.replace("ws://", "http://") + "/chat?room=lobby"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # 127.0.0.1 only
        assert response.status == 200
        assert b"<title>fastware chat</title>" in response.read()
