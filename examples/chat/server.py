"""The chat server: HTTP GET /chat serves the page, ws /chat/ws/<room>?name=<name>[&since=<pos>] joins a room.

The rooms are ``fastware.rooms``: in this process by default, or shared by every
worker and host on one Redis when ``FASTWARE_REDIS_URL`` (or ``ChatApp(redis_url=...)``)
names it. A client sends JSON messages (``ClientMessage``)::

    {"type": "say", "text": "hello"}       a chat message to the room
    {"type": "ping"}                       answered with {"type": "pong"}, to this client only

Everyone in the room, the sender included, on any worker, receives each event of the
room in the room's one order, each with its position::

    {"pos": "3f2a…-42", "type": "message", "room": "lobby", "name": "ann", "text": "hello"}

and ``{"pos": …, "type": "join" | "leave", "room": …, "name": …}`` when members come and
go. A client keeps the last ``pos`` it got and reconnects with ``?since=<pos>``: it then
gets everything after it, from whichever worker it reaches. When that position is no
longer retained it gets ``{"type": "reset", "reason": …}`` and the room's retained
history from the start, never a silent gap. On a first connection (no ``since``) it gets
the last ``HISTORY`` events first. A member too slow to read is closed with 1013 ("try
again later") and resumes with ``since``; a bad room name or message closes with a code
and a reason that say what was wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from fastware import FrameTypeError, State, WebSocket, WebSocketDisconnect
from fastware.rooms import BackendUnavailable, MemberEnded, MemoryBackend, OutboxOverflow, PositionGone, Rooms

log = logging.getLogger("examples.chat")

PREFIX = "/chat"
SOCKET_PREFIX = PREFIX + "/ws/"
REDIS_URL_ENV = "FASTWARE_REDIS_URL"
HISTORY_ENV = "FASTWARE_CHAT_HISTORY"  # events each room keeps for resuming (default 1000)
ROOM_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
POSITION = re.compile(r"[0-9a-f]{1,64}-(0|[1-9][0-9]{0,17})")  # what fastware.rooms gives as Event.pos
MAX_ROOM = 32
MAX_NAME = 32
MAX_MESSAGE = 2000  # characters of text; longer ones close the socket with 1009
MAX_FRAME = MAX_MESSAGE * 6 + 100  # a frame that cannot hold a valid message, whatever its escapes
OUTBOX_LIMIT = 256  # events queued for one member before it counts as too slow
HISTORY = 50  # events a first connection gets before the live ones
PAGE = (Path(__file__).parent / "page.html").read_bytes()

WS_1003_UNSUPPORTED_DATA = 1003
WS_1007_INVALID_PAYLOAD = 1007
WS_1008_POLICY_VIOLATION = 1008
WS_1009_MESSAGE_TOO_BIG = 1009
WS_1011_INTERNAL_ERROR = 1011
WS_1012_SERVICE_RESTART = 1012
WS_1013_TRY_AGAIN_LATER = 1013


# What a client may send: a discriminated union, validated in one pass by a TypeAdapter built once.


class Say(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["say"]
    text: str


class Ping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["ping"]


ClientMessage = Annotated[Say | Ping, Field(discriminator="type")]
CLIENT_MESSAGE: TypeAdapter[Say | Ping] = TypeAdapter(ClientMessage)


class CloseWith(Exception):
    """Close the connection with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def room_problem(room: str) -> str | None:
    """Why a room name from a client is refused, or None when it is fine."""
    if not room:
        return "a room name is needed: /chat/ws/<room>"
    if len(room) > MAX_ROOM:
        return f"room names are at most {MAX_ROOM} characters"
    if ROOM_NAME.fullmatch(room) is None:
        return "room names take letters, digits, '_' and '-' only"
    return None


def rooms_from_environment(redis_url: str | None = None) -> Rooms:
    """Rooms on Redis when a URL is given (or in FASTWARE_REDIS_URL), else in this process.

    Each room keeps the last FASTWARE_CHAT_HISTORY events (1000 by default) for clients that resume.
    """
    url = redis_url or os.environ.get(REDIS_URL_ENV)
    history = int(os.environ.get(HISTORY_ENV) or 1000)
    if not url:
        return Rooms(MemoryBackend(history=history), outbox_limit=OUTBOX_LIMIT)
    from fastware.rooms import RedisBackend

    return Rooms(RedisBackend(url, history=history), outbox_limit=OUTBOX_LIMIT)


class ChatApp:
    """The chat as an ASGI app; each instance has its own ``Rooms``, started by the lifespan.

    Outside a server (tests), run it with ``async with app.rooms:``.
    """

    def __init__(self, rooms: Rooms | None = None, *, redis_url: str | None = None) -> None:
        self.rooms = rooms if rooms is not None else rooms_from_environment(redis_url)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope["path"].startswith(SOCKET_PREFIX):
            await self.chat(WebSocket(scope, receive, send), scope["path"][len(SOCKET_PREFIX) :])
        elif scope["type"] == "http":
            await _page(scope, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        else:
            await WebSocket(scope, receive, send).close()  # unknown WebSocket path: HTTP 403

    async def lifespan(self, receive: Any, send: Any) -> None:
        """Connect the rooms at start-up (to Redis, when configured); end every member at shutdown."""
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            await self.rooms.__aenter__()
        except Exception as exc:
            await send({"type": "lifespan.startup.failed", "message": f"the chat's rooms did not start: {exc}"})
            return
        await send({"type": "lifespan.startup.complete"})
        try:
            message = await receive()
        finally:
            await self.rooms.__aexit__(None, None, None)
        await send({"type": "lifespan.shutdown.complete"})

    async def chat(self, ws: WebSocket, room: str) -> None:
        query = parse_qs(ws.query_string)
        name, since = _first(query, "name"), _first(query, "since")
        # Accept first, so the reason reaches the client: a refused handshake is only an HTTP 403.
        await ws.accept()
        problem = room_problem(room) or _name_problem(name) or _since_problem(since)
        if problem:
            await ws.close(WS_1008_POLICY_VIOLATION, reason=problem)
            return
        name = (name or "anonymous").strip()
        joined: list[bool] = []  # set once the join is announced: then a leave is announced too
        forward = asyncio.create_task(self._forward(ws, room, name, since, joined))
        receive = asyncio.create_task(self._receive(ws, room, name))
        try:
            done, _ = await asyncio.wait((forward, receive), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (forward, receive):
                task.cancel()
            results = await asyncio.gather(forward, receive, return_exceptions=True)
        code, reason = 1000, ""
        for task, result in zip((forward, receive), results, strict=True):
            if task not in done or not isinstance(result, BaseException):
                continue
            if isinstance(result, CloseWith):
                code, reason = result.code, result.reason
            elif not isinstance(result, WebSocketDisconnect) and ws.state is not State.DISCONNECTED:
                # (Once the client has gone, a send or receive that raced its leaving is no news.)
                log.error("chat connection failed", exc_info=result)
                code, reason = WS_1011_INTERNAL_ERROR, "internal error"
        with contextlib.suppress(Exception):  # a no-op when the client has gone
            await ws.close(code, reason=reason)
        if joined:
            await self._announce(room, {"type": "leave", "room": room, "name": name})

    async def _forward(self, ws: WebSocket, room: str, name: str, since: str | None, joined: list[bool]) -> None:
        """Send the room's events to the client, from ``since`` (or recent history) on, until something ends it.

        On ``PositionGone`` the client gets ``{"type": "reset"}`` and then the recent history again.
        """
        while True:
            try:
                async for text in self._events(room, name, since, joined):
                    await ws.send_text(text)
            except PositionGone as exc:
                # Never a silent gap: the client is told, then gets the history from the start of what is kept.
                await ws.send_json({"type": "reset", "room": room, "reason": str(exc)})
                since = None
                continue
            except OutboxOverflow as exc:
                raise CloseWith(WS_1013_TRY_AGAIN_LATER, "try again later: too slow to read") from exc
            except BackendUnavailable as exc:
                raise CloseWith(WS_1013_TRY_AGAIN_LATER, "try again later: the rooms are unavailable") from exc
            except MemberEnded as exc:
                raise CloseWith(WS_1011_INTERNAL_ERROR, "the room stopped; reconnect") from exc
            raise CloseWith(WS_1012_SERVICE_RESTART, "the server is restarting; reconnect")

    async def _events(self, room: str, name: str, since: str | None, joined: list[bool]) -> AsyncIterator[str]:
        """The frames to send: everything after ``since``; without one, the last events of the room
        (up to ``HISTORY``) and then the live ones, with nothing in between.

        The join is announced once per connection, after joining, so the member sees its own.
        """
        if since is None:
            # One less than the room keeps, so that a publish or two while the replay is read (this
            # member's own join, to begin with) does not trim it away under the member.
            kept = getattr(self.rooms.backend, "history", HISTORY + 1)
            membership = self.rooms.join(room, replay=max(0, min(HISTORY, kept - 2)))
        else:
            membership = self.rooms.join(room, since=since)
        async with membership as member:
            if not joined:
                joined.append(True)
                await self._announce(room, {"type": "join", "room": room, "name": name})
            async for event in member:
                yield _frame(event.pos, event.text)

    async def _receive(self, ws: WebSocket, room: str, name: str) -> None:
        """Read the client's messages and publish them; raise CloseWith for one the chat cannot take."""
        while True:
            try:
                raw = await ws.receive_text()
            except FrameTypeError as exc:
                raise CloseWith(WS_1003_UNSUPPORTED_DATA, "this chat takes JSON text frames only") from exc
            if len(raw) > MAX_FRAME:
                raise CloseWith(WS_1009_MESSAGE_TOO_BIG, f"messages are limited to {MAX_MESSAGE} characters")
            try:
                # With receive_json(model=...): message = await ws.receive_json(model=ClientMessage)
                message = CLIENT_MESSAGE.validate_json(raw)
            except ValidationError as exc:
                raise CloseWith(WS_1007_INVALID_PAYLOAD, _invalid(exc)) from exc
            if isinstance(message, Ping):
                await ws.send_text('{"type":"pong"}')
                continue
            if len(message.text) > MAX_MESSAGE:
                raise CloseWith(WS_1009_MESSAGE_TOO_BIG, f"messages are limited to {MAX_MESSAGE} characters")
            try:
                await self.rooms.publish(room, {"type": "message", "room": room, "name": name, "text": message.text})
            except BackendUnavailable as exc:
                # Nothing lost silently: the sender learns that this message did not go out.
                await ws.send_json({"type": "error", "reason": f"not sent, try again: {exc}", "text": message.text})

    async def _announce(self, room: str, event: dict[str, str]) -> None:
        """Publish a join or leave; when the rooms are down it is only logged (the chat goes on)."""
        try:
            await self.rooms.publish(room, event)
        except (BackendUnavailable, RuntimeError) as exc:
            log.warning("could not announce %s in room %r: %s", event["type"], room, exc)


def _frame(pos: str, text: str) -> str:
    """An event's JSON text with its position first; the text is spliced in, not encoded again."""
    # A position is "<hex epoch>-<offset>": nothing in it needs escaping.
    return f'{{"pos":"{pos}",{text[1:]}'


def _invalid(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    reason = f"invalid message: {where + ': ' if where else ''}{error['msg']}"
    return reason.encode()[:120].decode(errors="ignore")  # a close reason fits in 123 bytes


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _name_problem(name: str | None) -> str | None:
    if name is not None and not 0 < len(name.strip()) <= MAX_NAME:
        return f"names are 1 to {MAX_NAME} characters"
    return None


def _since_problem(since: str | None) -> str | None:
    if since is not None and POSITION.fullmatch(since) is None:
        return "since must be a position the chat sent (its 'pos')"
    return None


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
