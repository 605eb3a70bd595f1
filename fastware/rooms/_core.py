"""Rooms: ordered, resumable fan-out of JSON messages to the members of named rooms."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from ._backend import Backend, Entry, Head
from ._errors import BackendUnavailable, MemberEnded, OutboxOverflow, PositionGone
from ._memory import MemoryBackend

log = logging.getLogger("fastware.rooms")

MAX_ROOM_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_POSITION = re.compile(r"([0-9a-f]{1,64})-(0|[1-9][0-9]{0,17})")
READ_TIMEOUT = 2.0  # seconds one backend read blocks; rooms joined meanwhile wake it at once
SYNC_INTERVAL = 5.0  # seconds between checks of every room's epoch (and keep-alives), at most
HISTORY_LIMIT = 1_000_000  # entries one history() call returns at most
BURST = 1000  # events a member with a full outbox may lag while it makes progress (one read's worth)
PAGE = 500  # entries one member fetches from the log at a time when catching up
BACKOFF_FIRST, BACKOFF_MAX = 0.05, 2.0  # seconds between reconnect attempts


def check_room(room: object) -> str:
    """A room name as given, or ValueError/TypeError saying what is wrong with it."""
    if not isinstance(room, str):
        raise TypeError(f"room name must be a str, got {type(room).__name__}")
    if not room:
        raise ValueError("room name must not be empty")
    if len(room) > MAX_ROOM_LENGTH:
        raise ValueError(f"room name is {len(room)} characters long, more than {MAX_ROOM_LENGTH}")
    if bad := _CONTROL.search(room):
        raise ValueError(f"room name {room!r} contains the control character {bad.group()!r}")
    return room


def format_position(epoch: str, offset: int) -> str:
    return f"{epoch}-{offset}"


def parse_position(pos: object) -> tuple[str, int]:
    """``(epoch, offset)`` of a position string, or ValueError/TypeError naming the problem."""
    if not isinstance(pos, str):
        raise TypeError(f"a position must be a str (as Event.pos), got {type(pos).__name__}")
    match = _POSITION.fullmatch(pos)
    if match is None:
        raise ValueError(
            f"malformed position {pos[:80]!r}: expected a position from Event.pos, such as '3f2a9c1b07de-42'"
        )
    return match.group(1), int(match.group(2))


# One encoder for every message (json.dumps with options builds a new one per call).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode(data: Any) -> str:
    """The JSON text of a message: compact, UTF-8 as is; ValueError/TypeError before anything is appended."""
    try:
        text = _ENCODER.encode(data)
    except TypeError as exc:
        raise TypeError(f"the message cannot be encoded as JSON: {exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the message cannot be encoded as JSON: {exc}") from exc
    if not text.isascii():
        # A lone surrogate is a str but not UTF-8: no WebSocket text frame (nor Redis) could carry it.
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"the message cannot be encoded as JSON text in UTF-8: {exc}") from exc
    return text


class Event:
    """One message of a room as a member receives it.

    ``room``; ``pos``, the position to resume after (keep the last one a client got); ``text``, the
    message's JSON text, the same ``str`` object for every member in this process (send it as is);
    ``data``, the message decoded from ``text`` on first access, shared too: do not mutate it.
    """

    __slots__ = ("_data", "offset", "pos", "room", "text")

    _UNSET: Any = object()

    def __init__(self, room: str, pos: str, text: str, offset: int = 0) -> None:
        self.room: str = room
        self.pos: str = pos
        self.text: str = text
        self.offset: int = offset
        self._data: Any = Event._UNSET

    @property
    def data(self) -> Any:
        if self._data is Event._UNSET:
            self._data = json.loads(self.text)
        return self._data

    def __repr__(self) -> str:
        return f"Event(room={self.room!r}, pos={self.pos!r}, text={self.text[:60]!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.room, self.pos, self.text) == (other.room, other.pos, other.text)

    def __hash__(self) -> int:
        return hash((self.room, self.pos))


class _Room:
    """This process's view of one room that has local members: the reader's cursor in its log."""

    __slots__ = ("epoch", "head", "members", "name")

    def __init__(self, name: str, epoch: str, head: int) -> None:
        self.name = name
        self.epoch = epoch
        self.head = head  # the last offset the reader has dispatched to the members
        self.members: set[Member] = set()


class Member:
    """One subscriber of a room: ``async with rooms.join(room, since=pos) as member: async for event in member``.

    Iterating yields every message of the room after the start position, in the room's order, each
    once. It ends (``StopAsyncIteration``) only when the ``Rooms`` shuts down; it raises
    ``OutboxOverflow`` when the member fell more than ``outbox_limit`` events behind and
    ``PositionGone`` when the room's log lost messages the member has not received (a reset).
    ``pos`` is always the position of the last event yielded (at first: the start position), the
    one a client resumes from with ``join(room, since=member.pos)``.
    """

    def __init__(self, rooms: Rooms, room: str, since: str | None) -> None:
        self.room: str = check_room(room)
        self._since = parse_position(since) if since is not None else None
        self._replay_last = 0
        self._rooms = rooms
        self._state: _Room | None = None
        self.epoch: str = ""
        self.cursor: int = 0  # offset of the last event yielded
        self.pos: str = since or ""
        self._outbox: deque[Event] = deque()
        self._replay: deque[Event] = deque()
        self._wakeup = asyncio.Event()
        self._error: BaseException | None = None
        self._ended = False
        self._joined = False
        self._detached = False  # outbox was full: reading from the log until caught up
        self._mark = 0  # its cursor when last checked while detached

    def __repr__(self) -> str:
        return f"<Member room={self.room!r} pos={self.pos!r}>"

    @property
    def overflowed(self) -> bool:
        """True once the member was ended for falling more than ``outbox_limit`` events behind."""
        return isinstance(self._error, OutboxOverflow)

    @property
    def ended(self) -> bool:
        """True once no more events will come (shutdown, overflow, reset or left)."""
        return self._ended or self._error is not None

    # -- joining and leaving ---------------------------------------------------------------------

    async def __aenter__(self) -> Member:
        if self._joined:
            raise RuntimeError("this member has already joined; call rooms.join() again for a new one")
        self._joined = True
        await self._rooms._add(self, self._since)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._rooms._remove(self)

    # -- called by the reader --------------------------------------------------------------------

    def _push(self, event: Event) -> None:
        if self._error is not None or self._ended or event.offset <= self.cursor:
            # Already had (a member that joined ahead of a lagging reader): neither queued nor counted.
            return
        if self._detached:
            return  # it continues from the log (see Rooms._check_detached)
        if len(self._outbox) >= self._rooms.outbox_limit:
            # Full: queue no more. A burst larger than the outbox (one read of the log) is no proof of a
            # slow consumer, so the member goes on from the log; it is ended only if it makes no progress.
            self._detached = True
            self._mark = self.cursor
            self._wakeup.set()
            return
        self._outbox.append(event)
        self._wakeup.set()

    def _overflow(self) -> None:
        self._fail(
            OutboxOverflow(
                f"member of room {self.room!r} fell more than {self._rooms.outbox_limit} events behind; "
                f"resume with since={self.pos!r}"
            )
        )

    def _fail(self, error: BaseException) -> None:
        if self._error is None and not self._ended:
            self._error = error
            self._outbox.clear()  # the memory is freed now, not when the consumer comes back
            self._replay.clear()
            self._wakeup.set()

    def _end(self) -> None:
        self._ended = True
        self._outbox.clear()
        self._replay.clear()
        self._wakeup.set()

    # -- iteration -------------------------------------------------------------------------------

    def __aiter__(self) -> Member:
        return self

    async def __anext__(self) -> Event:
        if not self._joined:
            raise RuntimeError("iterate a member inside `async with rooms.join(...) as member:`")
        backoff = BACKOFF_FIRST
        while True:
            if self._error is not None:
                raise self._error
            if self._ended:
                raise StopAsyncIteration
            replay, outbox = self._replay, self._outbox
            if replay:
                return self._take(replay.popleft())
            while outbox and outbox[0].offset <= self.cursor:
                outbox.popleft()  # already yielded from the log while catching up
            if outbox and outbox[0].offset == self.cursor + 1:
                return self._take(outbox.popleft())
            state = self._state
            assert state is not None
            if outbox or (state.epoch == self.epoch and state.head > self.cursor):
                # Behind the reader: the entries in between come from the log, page by page.
                try:
                    await self._fill(state)
                    backoff = BACKOFF_FIRST
                except Exception as exc:
                    if self._ended or self._error is not None:
                        continue  # ended meanwhile (Rooms closing under the read): that is the news
                    if not isinstance(exc, BackendUnavailable):
                        raise
                    log.warning("room %r: cannot read the log to catch up (%s); retrying", self.room, exc)
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(backoff):
                            await self._wakeup.wait()
                    backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            # Caught up with the reader: live events are queued again.
            self._detached = False
            self._wakeup.clear()
            await self._wakeup.wait()

    def _take(self, event: Event) -> Event:
        self.cursor = event.offset
        self.pos = event.pos
        return event

    async def _fill(self, state: _Room) -> None:
        after = self.cursor
        span = await self._rooms.backend.range(self.room, after, PAGE)
        if self._error is not None or self._ended or self.cursor != after:
            return
        entries = span.entries
        if (
            span.epoch != self.epoch
            or (entries and entries[0].offset != after + 1)
            or (not entries and span.last > after)
            or any(e.epoch != self.epoch for e in entries)
        ):
            self._fail(self._rooms._gone(self.room, self.pos, "while the member was joined"))
            return
        if not entries:
            # Called only when the reader has dispatched offsets after ours: a log without them
            # went back (data lost under the same epoch). Reported, never a silent gap.
            self._fail(self._rooms._gone(self.room, self.pos, "the room's log lost messages"))
            return
        self._replay.extend(Event(self.room, format_position(e.epoch, e.offset), e.text, e.offset) for e in entries)


class Rooms:
    """Named rooms of members and the messages published to them, on one backend.

    ``Rooms()`` keeps the rooms in this process (``MemoryBackend``); ``Rooms(RedisBackend(url))``
    shares them between every process on the same Redis. Use ``async with rooms:`` (in the ASGI
    lifespan) around everything else: it connects and starts the one reader task of the process;
    on exit every member is ended (its iteration stops) and the backend is closed.

    ``outbox_limit``: events queued for one member (received but not yet taken by its consumer).
    When it is full, nothing more is queued: the member continues from the log once it has taken
    what is queued. It is ended with ``OutboxOverflow`` when it took no event between two deliveries
    to its room (its consumer is stuck or gone) or falls more than ``outbox_limit + BURST`` (1,000)
    events behind. The memory a member holds is bounded by ``outbox_limit`` plus one page of the
    log (500 events).

    ``check_interval``: seconds between two checks of every joined room's epoch and last offset
    against what was delivered (5 s, or a quarter of the backend's ``retention`` if shorter). A log
    that started over without this process's connection dropping (keys deleted, a failover) is
    reported to its members (``PositionGone``) within about that time; a dropped connection is
    checked at once on reconnecting. The check also keeps the joined rooms from expiring.
    """

    def __init__(
        self, backend: Backend | None = None, *, outbox_limit: int = 256, check_interval: float | None = None
    ) -> None:
        if isinstance(outbox_limit, bool) or not isinstance(outbox_limit, int) or outbox_limit < 1:
            raise ValueError(f"outbox_limit must be a positive int, got {outbox_limit!r}")
        if check_interval is not None and not check_interval > 0:
            raise ValueError(f"check_interval must be a positive number of seconds, got {check_interval!r}")
        self.backend: Backend = backend if backend is not None else MemoryBackend()
        self.outbox_limit: int = outbox_limit
        self._rooms: dict[str, _Room] = {}
        self._cursors: dict[str, int] = {}  # each room's head, kept as it changes: a read copies it, not rebuilds it
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._running = False
        self._sync_needed = False
        if check_interval is None:
            retention = getattr(self.backend, "retention", None)
            check_interval = min(SYNC_INTERVAL, retention / 4) if retention else SYNC_INTERVAL
        self._sync_interval = check_interval

    def __repr__(self) -> str:
        return f"Rooms({self.backend!r}, outbox_limit={self.outbox_limit})"

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> Rooms:
        if self._running:
            raise RuntimeError("this Rooms is already running")
        try:
            await self.backend.open()
        except RuntimeError:
            raise  # in use by another Rooms: not ours to close
        except BaseException:
            await self.backend.close()
            raise
        self._changed = asyncio.Event()
        self._running = True
        self._reader = asyncio.create_task(self._read_forever(), name="fastware.rooms reader")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._running = False
        reader, self._reader = self._reader, None
        if reader is not None:
            # The loop also stops on `_running`: a cancellation swallowed by a client library (redis-py
            # may turn one into a timeout) must not keep it alive.
            self._changed.set()
            self.backend.wake()
            while not reader.done():
                reader.cancel()
                await asyncio.wait({reader}, timeout=1.0)
            if not reader.cancelled() and reader.exception() is not None:
                log.error("rooms reader had failed", exc_info=reader.exception())
        for state in list(self._rooms.values()):
            for member in list(state.members):
                member._end()
        self._rooms.clear()
        self._cursors.clear()
        await self.backend.close()

    def _check_running(self) -> None:
        if not self._running:
            raise RuntimeError("Rooms is not running: use it inside `async with rooms:`")

    # -- the API ---------------------------------------------------------------------------------

    async def publish(self, room: str, data: Any) -> str:
        """Append ``data`` (JSON-encodable) to the room; return its position once appended.

        Raises ``BackendUnavailable`` if it could not be appended (see its ``maybe_appended``);
        ValueError/TypeError for a bad room name or a payload JSON cannot encode, before anything
        is appended. The publisher's own members receive it through the log like everyone else.
        """
        check_room(room)
        text = encode(data)
        self._check_running()
        epoch, offset = await self.backend.append(room, text)
        return format_position(epoch, offset)

    def join(self, room: str, since: str | None = None, *, replay: int = 0) -> Member:
        """A member of ``room``, to use as ``async with rooms.join(room, since=pos) as member:``.

        ``since=None``: the messages published after joining. ``since=pos``: everything after that
        position first (from the log), then live, with no gap and no duplicate in between; entering
        raises ``PositionGone`` if the messages after ``pos`` are no longer all retained. A bad room
        name or a malformed ``since`` raise ValueError/TypeError here.

        ``replay=n`` (with ``since=None``): start with the last ``n`` retained messages (fewer if
        fewer are retained), then live: "recent history, then live" with nothing between the two.
        """
        if isinstance(replay, bool) or not isinstance(replay, int) or replay < 0:
            raise ValueError(f"replay must be an int >= 0, got {replay!r}")
        if replay and since is not None:
            raise ValueError("replay= starts a member without a position; it cannot be combined with since=")
        member = Member(self, room, since)
        member._replay_last = replay
        return member

    async def history(self, room: str, since: str | None = None) -> list[Event]:
        """The retained messages of the room after ``since`` (all retained ones if None), oldest first.

        Raises ``PositionGone`` if the messages after ``since`` are no longer all retained.
        """
        check_room(room)
        after_pos = parse_position(since) if since is not None else None
        self._check_running()
        # One read of the log, from its start or from `since` to its end: one atomic snapshot.
        after = after_pos[1] if after_pos is not None else 0
        span = await self.backend.range(room, after, HISTORY_LIMIT)
        entries = span.entries
        if span.epoch is None:
            if after_pos is None:
                return []
            raise self._gone(room, since, "the room has no log")
        if after_pos is not None:
            if after_pos[0] != span.epoch:
                raise self._gone(room, since, "the room's log started over: another epoch")
            if after > span.last:
                raise self._gone(room, since, f"the log ends at offset {span.last}")
            if (entries[0].offset if entries else span.last + 1) != after + 1:
                raise self._gone(room, since, "older messages were trimmed")
        if any(e.epoch != span.epoch for e in entries):
            raise self._gone(room, since, "the room's log started over while being read")
        return [Event(room, format_position(e.epoch, e.offset), e.text, e.offset) for e in entries]

    # -- members ---------------------------------------------------------------------------------

    def _gone(self, room: str, pos: str | None, why: str) -> PositionGone:
        return PositionGone(
            f"room {room!r}: the messages after position {pos!r} are no longer all retained ({why}); "
            "reload the room's state and join without since",
            room=room,
            pos=pos,
        )

    def _check_since(self, room: str, since: str | None, epoch: str, offset: int, head: Head) -> None:
        if epoch != head.epoch:
            raise self._gone(room, since, "the room's log started over: another epoch")
        if offset > head.last:
            raise self._gone(room, since, f"the log ends at offset {head.last}")
        if offset < head.first - 1:
            raise self._gone(room, since, f"the oldest retained offset is {head.first}")

    async def _add(self, member: Member, since: tuple[str, int] | None) -> None:
        self._check_running()
        room = member.room
        (head,) = await self.backend.heads([room])
        self._check_running()  # it may have stopped meanwhile; a member added now would never end
        if since is None:
            member.epoch, member.cursor = head.epoch, max(head.last - member._replay_last, head.first - 1)
        else:
            self._check_since(room, member.pos, since[0], since[1], head)
            member.epoch, member.cursor = since
        member.pos = format_position(member.epoch, member.cursor)
        state = self._rooms.get(room)
        if state is None:
            state = self._rooms[room] = _Room(room, head.epoch, head.last)
            self._cursors[room] = head.last
            self._changed.set()
            self.backend.wake()
        elif state.epoch != head.epoch:
            # The log started over and the reader has not seen it yet: let it reset the room first.
            self._sync_needed = True
            self.backend.wake()
        member._state = state
        state.members.add(member)

    def _remove(self, member: Member) -> None:
        state = self._rooms.get(member.room)
        if state is None or member not in state.members:
            return
        state.members.discard(member)
        member._end()
        if not state.members:
            # No wake-up: the reader drops the room from its next read, and ignores what it still reads.
            del self._rooms[member.room]
            del self._cursors[member.room]

    # -- the reader ------------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        backend = self.backend
        backoff = BACKOFF_FIRST
        next_sync = time.monotonic() + self._sync_interval
        while self._running:
            if not self._rooms:
                self._changed.clear()
                await self._changed.wait()
                continue
            try:
                now = time.monotonic()
                if self._sync_needed or now >= next_sync:
                    await self._sync()
                    now = time.monotonic()
                    next_sync = now + self._sync_interval
                batches = await backend.read(dict(self._cursors), min(READ_TIMEOUT, max(next_sync - now, 0.001)))
            except BackendUnavailable as exc:
                # Nothing is lost: the cursors stay where they are; after reconnecting, the epochs are
                # checked and the reading resumes after the last dispatched offset of each room.
                log.warning("rooms reader: %s; retrying in %.2f s", exc, backoff)
                self._sync_needed = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            except Exception as exc:
                # A bug, not an outage: end every member with the reason rather than leave them waiting.
                log.exception("rooms reader failed")
                for state in list(self._rooms.values()):
                    for member in list(state.members):
                        member._fail(MemberEnded(f"the rooms reader failed: {exc!r}"))
                self._rooms.clear()
                self._cursors.clear()
                continue
            backoff = BACKOFF_FIRST
            for name, entries in batches:
                room_state = self._rooms.get(name)
                if room_state is not None:
                    self._dispatch(room_state, entries)
            if batches:
                await asyncio.sleep(0)  # the members' consumers get a turn before the next delivery

    async def _sync(self) -> None:
        """Check every room's epoch and last offset against what was dispatched (and keep them alive)."""
        states = list(self._rooms.items())
        heads = await self.backend.heads([name for name, _ in states])
        self._sync_needed = False
        for (name, state), head in zip(states, heads, strict=True):
            if self._rooms.get(name) is not state:
                continue  # left and joined again meanwhile: the new state is newer than this answer
            if head.epoch != state.epoch or head.last < state.head:
                self._reset(state, head.epoch, head.last)
                continue
            for member in list(state.members):
                if member.epoch != head.epoch:
                    # Joined with an epoch the log has left (it started over while it joined).
                    member._fail(self._gone(name, member.pos, "the room's log started over"))

    def _reset(self, state: _Room, epoch: str, head: int) -> None:
        """The room's log started over or lost messages: every member from before gets PositionGone."""
        lost = state.epoch == epoch
        for member in list(state.members):
            if member.epoch != epoch or lost:
                member._fail(self._gone(state.name, member.pos, "the room's log lost messages or started over"))
        state.epoch, state.head = epoch, head
        if self._rooms.get(state.name) is state:
            self._cursors[state.name] = head

    def _dispatch(self, state: _Room, entries: Sequence[Entry]) -> None:
        room = state.name
        self._check_detached(state, progress=True)
        for offset, epoch, text in entries:
            if epoch != state.epoch:
                self._reset(state, epoch, offset - 1)
            elif offset <= state.head:
                continue
            state.head = offset
            event = Event(room, format_position(epoch, offset), text, offset)
            for member in state.members:
                if member.epoch == epoch:
                    member._push(event)
        if self._rooms.get(room) is state:
            self._cursors[room] = state.head
        self._check_detached(state, progress=False)

    def _check_detached(self, state: _Room, *, progress: bool) -> None:
        """End the members whose outbox filled and that are slow: they took no event since the reader's
        previous delivery to the room (a whole turn of the event loop), or are more than
        ``outbox_limit + BURST`` events behind."""
        limit = self.outbox_limit + BURST
        for member in state.members:
            if not member._detached or member.ended:
                continue
            if progress and member.cursor == member._mark:
                member._overflow()
            elif state.head - member.cursor > limit:
                member._overflow()
            elif progress:
                member._mark = member.cursor


__all__ = ["Event", "Member", "MemberEnded", "Rooms"]
