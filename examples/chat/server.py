"""The chat server: HTTP GET /chat serves the page, ws /chat/ws/<room>?name=<name> joins a room.

Each text frame a member sends is a chat message. Everyone in the room,
the sender included, receives it as JSON::

    {"type": "message", "room": "lobby", "name": "ann", "text": "hello"}

and ``{"type": "join" | "leave", "room": ..., "name": ...}`` when members come and go.
Members of other rooms see nothing. A member too slow to read is closed with
1013 rather than left to buffer without bound.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from examples.lifespan import lifespan as _lifespan
from fastware import FrameTypeError, WebSocket

PREFIX = "/chat"
SOCKET_PREFIX = PREFIX + "/ws/"
ROOM_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_NAME = 32
MAX_MESSAGE = 2000  # characters; longer ones close the socket with 1009
OUTBOX_LIMIT = 256  # events queued for one member before it counts as too slow
PAGE = (Path(__file__).parent / "page.html").read_bytes()

Event = dict[str, Any]


class Member:
    """One connection in a room; a writer task drains its outbox so a slow reader delays no one."""

    def __init__(self, ws: WebSocket, name: str) -> None:
        self.ws = ws
        self.name = name
        # None in the outbox tells the writer the member fell too far behind.
        self.outbox: asyncio.Queue[Event | None] = asyncio.Queue()
        self.dropped = False

    def deliver(self, event: Event) -> None:
        if self.dropped:
            return
        if self.outbox.qsize() >= OUTBOX_LIMIT:
            self.dropped = True
            self.outbox.put_nowait(None)
            return
        self.outbox.put_nowait(event)

    async def write(self) -> None:
        while (event := await self.outbox.get()) is not None:
            await self.ws.send_json(event)
        await self.ws.close(1013, reason="too slow: messages were dropped")


class ChatApp:
    """The chat as an ASGI app; each instance has its own rooms."""

    def __init__(self) -> None:
        self.rooms: dict[str, set[Member]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope["path"].startswith(SOCKET_PREFIX):
            await self.chat(WebSocket(scope, receive, send), scope["path"][len(SOCKET_PREFIX) :])
        elif scope["type"] == "http":
            await _page(scope, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)
        else:
            await WebSocket(scope, receive, send).close()  # unknown WebSocket path: HTTP 403

    def broadcast(self, room: str, event: Event) -> None:
        for member in self.rooms.get(room, ()):
            member.deliver(event)

    async def chat(self, ws: WebSocket, room: str) -> None:
        name = _name(ws.query_string)
        if ROOM_NAME.fullmatch(room) is None or name is None:
            await ws.close()  # refuse the handshake (HTTP 403): bad room or name
            return
        await ws.accept()
        member = Member(ws, name)
        writer = asyncio.create_task(member.write())
        self.rooms.setdefault(room, set()).add(member)
        self.broadcast(room, {"type": "join", "room": room, "name": name})
        close_code, reason = 1000, ""
        try:
            async for text in ws.iter_text():
                if len(text) > MAX_MESSAGE:
                    close_code, reason = 1009, f"messages are limited to {MAX_MESSAGE} characters"
                    break
                self.broadcast(room, {"type": "message", "room": room, "name": name, "text": text})
        except FrameTypeError:
            close_code, reason = 1003, "this chat takes text frames only"
        finally:
            self._leave(room, member)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        # A no-op when the client has gone or the writer already closed.
        await ws.close(close_code, reason=reason)

    def _leave(self, room: str, member: Member) -> None:
        members = self.rooms[room]
        members.discard(member)
        if not members:
            del self.rooms[room]
        self.broadcast(room, {"type": "leave", "room": room, "name": member.name})


def _name(query_string: str) -> str | None:
    """The member's name from ``?name=``; "anonymous" when absent, None when too long or blank."""
    values = parse_qs(query_string).get("name")
    if not values:
        return "anonymous"
    name = values[0].strip()
    return name if 0 < len(name) <= MAX_NAME else None


async def _page(scope: dict[str, Any], send: Any) -> None:
    if scope["path"] not in (PREFIX, PREFIX + "/"):
        status, body, kind = 404, b"Not found: the chat page is at /chat\n", b"text/plain; charset=utf-8"
    elif scope["method"] not in ("GET", "HEAD"):
        status, body, kind = 405, b"Method not allowed\n", b"text/plain; charset=utf-8"
    else:
        status, body, kind = 200, PAGE, b"text/html; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


app = ChatApp()
