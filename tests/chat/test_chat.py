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
from examples.chat.server import CLIENT_MESSAGE, MAX_MESSAGE, Ping, Say
from fastware import WebSocketDisconnect
from fastware.rooms import MemoryBackend, Rooms
from fastware.testing import Client, connect

pytestmark = pytest.mark.anyio

WS_1003_UNSUPPORTED_DATA = 1003
WS_1007_INVALID_PAYLOAD = 1007
WS_1008_POLICY_VIOLATION = 1008
WS_1009_MESSAGE_TOO_BIG = 1009
WS_1012_SERVICE_RESTART = 1012
WS_1013_TRY_AGAIN_LATER = 1013


@asynccontextmanager
async def running(app: ChatApp | None = None) -> AsyncIterator[ChatApp]:
    """A chat app with its rooms started, as the ASGI lifespan starts them under a server."""
    app = app or ChatApp()
    async with app.rooms:
        yield app


async def say(client: Client, text: str) -> None:
    await client.send_text(json.dumps({"type": "say", "text": text}))


def without_pos(event: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(event.pop("pos", None), str), event
    return event


async def next_chat(client: Client) -> dict[str, Any]:
    """The next chat message the client receives (without its position), skipping join and leave events."""
    while (event := await client.receive_json())["type"] != "message":
        pass
    return without_pos(event)


async def closed(client: Client) -> tuple[list[dict[str, Any]], int, str]:
    """Everything the client receives until the close, and the close's code and reason."""
    events = []
    with pytest.raises(WebSocketDisconnect) as info:
        while True:
            events.append(await client.receive_json())
    return events, info.value.code, info.value.reason


async def test_a_message_reaches_everyone_in_the_room_and_no_one_else() -> None:
    async with (
        running() as app,
        connect(app, "/chat/ws/lobby?name=ann") as ann,
        connect(app, "/chat/ws/lobby?name=bob") as bob,
        connect(app, "/chat/ws/garden?name=cy") as cy,
    ):
        await say(ann, "hello lobby")
        expected = {"type": "message", "room": "lobby", "name": "ann", "text": "hello lobby"}
        assert await next_chat(ann) == expected  # the sender sees its own message too
        assert await next_chat(bob) == expected
        # cy's first message is its own: nothing from the lobby came before it.
        await say(cy, "hello garden")
        assert await next_chat(cy) == {"type": "message", "room": "garden", "name": "cy", "text": "hello garden"}


async def test_members_see_who_joins_and_leaves() -> None:
    async with running() as app, connect(app, "/chat/ws/lobby?name=ann") as ann:
        assert without_pos(await ann.receive_json()) == {"type": "join", "room": "lobby", "name": "ann"}
        async with connect(app, "/chat/ws/lobby?name=bob"):
            assert without_pos(await ann.receive_json()) == {"type": "join", "room": "lobby", "name": "bob"}
        assert without_pos(await ann.receive_json()) == {"type": "leave", "room": "lobby", "name": "bob"}


async def test_every_event_has_a_position_and_a_ping_is_answered_to_the_sender_only() -> None:
    async with running() as app, connect(app, "/chat/ws/r?name=ann") as ann, connect(app, "/chat/ws/r?name=bob") as bob:
        ann_events = [await ann.receive_json() for _ in range(2)]
        assert [e["type"] for e in ann_events] == ["join", "join"]
        await ann.send_text('{"type": "ping"}')
        assert await ann.receive_json() == {"type": "pong"}
        await say(ann, "after the ping")
        ann_events.append(await ann.receive_json())
        positions = [e["pos"] for e in ann_events]
        assert len(set(positions)) == 3
        # bob joined second: ann's join comes to it as history. No pong for bob.
        bob_events = [await bob.receive_json() for _ in range(3)]
        assert [e["type"] for e in bob_events] == ["join", "join", "message"]
        assert [e["pos"] for e in bob_events] == positions  # one order, the same positions for everyone


async def test_a_late_joiner_gets_the_recent_history_first() -> None:
    async with running() as app:
        async with connect(app, "/chat/ws/r?name=ann") as ann:
            for n in range(3):
                await say(ann, str(n))
            for n in range(3):
                assert (await next_chat(ann))["text"] == str(n)
        async with connect(app, "/chat/ws/r?name=bob") as bob:
            events = [without_pos(await bob.receive_json()) for _ in range(6)]
        assert [(e["type"], e.get("text", e["name"])) for e in events] == [
            ("join", "ann"),
            ("message", "0"),
            ("message", "1"),
            ("message", "2"),
            ("leave", "ann"),
            ("join", "bob"),
        ]


async def test_a_client_resumes_after_its_last_position_with_since() -> None:
    async with running() as app:
        async with connect(app, "/chat/ws/r?name=ann") as ann:
            await say(ann, "seen")
            last = (await next_chat_with_pos(ann))["pos"]
        async with connect(app, "/chat/ws/r?name=bob") as bob:
            assert (await next_chat(bob))["text"] == "seen"  # as history
            await say(bob, "missed 1")
            await say(bob, "missed 2")
            assert (await next_chat(bob))["text"] == "missed 1"
            assert (await next_chat(bob))["text"] == "missed 2"
        async with connect(app, f"/chat/ws/r?name=ann&since={last}") as ann:
            events = [without_pos(await ann.receive_json()) for _ in range(6)]
        # Everything after "seen", in the room's order, then ann's own (new) join: nothing twice.
        assert [(e["type"], e.get("text", e["name"])) for e in events] == [
            ("leave", "ann"),
            ("join", "bob"),
            ("message", "missed 1"),
            ("message", "missed 2"),
            ("leave", "bob"),
            ("join", "ann"),
        ]


async def next_chat_with_pos(client: Client) -> dict[str, Any]:
    while (event := await client.receive_json())["type"] != "message":
        pass
    return event


async def test_a_position_no_longer_kept_gives_a_reset_then_the_history() -> None:
    async with running(ChatApp(Rooms(MemoryBackend(history=3)))) as app:
        async with connect(app, "/chat/ws/r?name=ann") as ann:
            first = (await ann.receive_json())["pos"]  # ann's join
        for n in range(5):  # published from elsewhere (an HTTP handler, another worker) while ann is away
            await app.rooms.publish("r", {"type": "message", "room": "r", "name": "bot", "text": str(n)})
        async with connect(app, f"/chat/ws/r?name=ann&since={first}") as ann:
            reset = await ann.receive_json()
            assert reset["type"] == "reset"
            assert "no longer" in reset["reason"]
            events = [without_pos(await ann.receive_json()) for _ in range(2)]
        # The last events still kept (history - 2, so that its own join cannot trim them away),
        # then the new join: the page starts over from them.
        assert [(e["type"], e.get("text", e["name"])) for e in events] == [("message", "4"), ("join", "ann")]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/chat/ws/", "a room name is needed"),
        ("/chat/ws/no%20spaces", "letters, digits"),
        ("/chat/ws/tab%09", "letters, digits"),
        ("/chat/ws/" + "x" * 33, "at most 32 characters"),
        ("/chat/ws/a?name=" + "n" * 33, "names are 1 to 32 characters"),
        ("/chat/ws/a?since=nope", "since must be a position"),
        ("/chat/ws/a?since=ab-01", "since must be a position"),
    ],
)
async def test_a_bad_room_name_or_since_is_closed_with_1008_and_a_reason(path: str, reason: str) -> None:
    async with running() as app:
        async with connect(app, path) as client:
            events, code, text = await closed(client)
        assert (events, code) == ([], WS_1008_POLICY_VIOLATION)
        assert reason in text
        assert app.rooms._rooms == {}  # nothing joined


async def test_an_oversized_message_closes_with_1009_and_is_not_broadcast() -> None:
    async with running() as app, connect(app, "/chat/ws/r?name=ann") as ann:
        async with connect(app, "/chat/ws/r?name=bob") as bob:
            await say(bob, "x" * (MAX_MESSAGE + 1))
            _, code, _ = await closed(bob)
            assert code == WS_1009_MESSAGE_TOO_BIG
        assert without_pos(await ann.receive_json()) == {"type": "join", "room": "r", "name": "ann"}
        assert without_pos(await ann.receive_json()) == {"type": "join", "room": "r", "name": "bob"}
        assert without_pos(await ann.receive_json()) == {"type": "leave", "room": "r", "name": "bob"}


@pytest.mark.parametrize(
    ("frame", "where"),
    [
        ("not json", "invalid message: Invalid JSON"),
        ('{"type": "shout", "text": "hi"}', "invalid message: "),
        ('{"type": "say"}', "invalid message: say.text: Field required"),
        ('{"type": "say", "text": 5}', "invalid message: say.text: Input should be a valid string"),
        ('{"type": "say", "text": "hi", "extra": 1}', "invalid message: say.extra"),
    ],
)
async def test_a_message_the_chat_cannot_take_closes_with_1007_and_says_why(frame: str, where: str) -> None:
    async with running() as app, connect(app, "/chat/ws/r?name=ann") as ann:
        await ann.send_text(frame)
        events, code, reason = await closed(ann)
        assert code == WS_1007_INVALID_PAYLOAD
        assert reason.startswith(where), reason
        assert [e["type"] for e in events] == ["join"]  # nothing was published


async def test_a_binary_frame_closes_with_1003() -> None:
    async with running() as app, connect(app, "/chat/ws/r") as client:
        await client.send_bytes(b"\x00")
        _, code, _ = await closed(client)
        assert code == WS_1003_UNSUPPORTED_DATA


def stalled(app: ChatApp, gate: asyncio.Event) -> Any:
    """The app, with its sends of frames waiting until ``gate`` is set: a client that stopped reading."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def gated_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send":
                await gate.wait()
            await send(message)

        await app(scope, receive, gated_send)

    return wrapped


async def test_a_member_too_slow_to_read_is_closed_with_1013_and_resumes_with_since() -> None:
    gate = asyncio.Event()
    async with running(ChatApp(Rooms(outbox_limit=3))) as app:
        async with connect(stalled(app, gate), "/chat/ws/r?name=ann") as ann:
            async with connect(app, "/chat/ws/r?name=bob") as bob:
                # bob talks, one message at a time; ann's sends are stuck, so her outbox fills and she
                # takes nothing between the deliveries: she is slow, not merely hit by a burst.
                for n in range(10):
                    await say(bob, str(n))
                    assert (await next_chat(bob))["text"] == str(n)
            gate.set()  # ann reads again: what was in flight, then the close
            events, code, reason = await closed(ann)
        assert (code, reason) == (WS_1013_TRY_AGAIN_LATER, "try again later: too slow to read")
        texts = [event["text"] for event in events if event["type"] == "message"]
        assert texts == [str(n) for n in range(len(texts))]
        assert len(texts) < 10
        # Reconnecting after the last position it got, it receives the rest, nothing twice.
        async with connect(app, f"/chat/ws/r?name=ann&since={events[-1]['pos']}") as ann:
            rest = [await next_chat(ann) for _ in range(10 - len(texts))]
        assert [event["text"] for event in rest] == [str(n) for n in range(len(texts), 10)]


async def test_members_are_closed_with_1012_when_the_rooms_stop() -> None:
    app = ChatApp()
    async with app.rooms:
        client = await connect(app, "/chat/ws/r?name=ann").__aenter__()
        assert (await client.receive_json())["type"] == "join"
    _, code, _ = await closed(client)
    assert code == WS_1012_SERVICE_RESTART
    await client.__aexit__(None, None, None)


async def test_the_chat_runs_on_redis_when_given_its_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTWARE_REDIS_URL", "redis://127.0.0.1:1/0")
    from fastware.rooms import RedisBackend

    assert isinstance(ChatApp().rooms.backend, RedisBackend)
    monkeypatch.delenv("FASTWARE_REDIS_URL")
    assert isinstance(ChatApp().rooms.backend, MemoryBackend)
    assert isinstance(ChatApp(redis_url="redis://127.0.0.1:1/0").rooms.backend, RedisBackend)


async def test_client_messages_are_one_validated_union() -> None:
    assert CLIENT_MESSAGE.validate_json('{"type": "say", "text": "hi"}') == Say(type="say", text="hi")
    assert CLIENT_MESSAGE.validate_json('{"type": "ping"}') == Ping(type="ping")


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
    assert b"new WebSocket(" in body
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
    return without_pos(event)


def say_frame(text: str) -> str:
    return json.dumps({"type": "say", "text": text})


async def test_end_to_end_messages_reach_the_room_and_no_one_else(served: str) -> None:
    async with members(served, "blue/ann", "blue/bob", "blue/cy", "red/dan", "red/eve") as clients:
        ann, bob, cy, dan, eve = clients
        await ann.send(say_frame("to blue"))
        await eve.send(say_frame("to red"))
        blue = {"type": "message", "room": "blue", "name": "ann", "text": "to blue"}
        red = {"type": "message", "room": "red", "name": "eve", "text": "to red"}
        for client in (ann, bob, cy):
            assert await receive_chat(client) == blue
        for client in (dan, eve):
            assert await receive_chat(client) == red
        # Each one's next message is the one sent next in its own room: no message crossed rooms.
        await cy.send(say_frame("blue again"))
        await dan.send(say_frame("red again"))
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
