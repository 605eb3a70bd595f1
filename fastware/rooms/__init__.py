"""Rooms: ordered, resumable fan-out of JSON messages to the members of named rooms, in one process
(``MemoryBackend``, the default) or across processes and hosts on Redis (``RedisBackend``).

::

    rooms = Rooms(RedisBackend("redis://127.0.0.1:6379/0", history=1000, retention=60.0))
    async with rooms:
        pos = await rooms.publish("lobby", {"name": "ann", "text": "hi"})
        async with rooms.join("lobby", since=None) as member:
            async for event in member:
                await ws.send_text(event.text)

The guarantee
-------------
Each room has one order. Every member, in every process, receives the room's messages in that
order, each exactly once, with no gap, for as long as it stays joined. A member more than
``outbox_limit`` events behind is ended with ``OutboxOverflow`` (close the WebSocket with 1013);
it is never silently skipped and its memory is bounded. ``join(room, since=P)`` delivers everything
after ``P`` and then live messages, with no gap and no duplicate in between, provided the messages
after ``P`` are retained (``history`` messages, ``retention`` seconds); otherwise ``PositionGone``.
``publish`` returns once the message is appended, or raises ``BackendUnavailable``; it never appends
a message twice. If the backend loses messages (Redis restarted without persistence), every member
and every position from before gets ``PositionGone``: reported, never a silent gap.

Failure cases
-------------
- A member stops reading (slow client): once ``outbox_limit`` events are queued for it, and it has
  taken none by the next delivery to the room, its iteration raises ``OutboxOverflow`` (``code``
  1013) and its queue is freed; ``member.pos`` resumes it with ``since``. A member that keeps taking
  events but falls more than ``outbox_limit`` + 1,000 behind is ended the same way. A burst larger
  than the outbox (one read of the log) does not end a member that is keeping up: it continues from
  the log, and nothing more is queued for it until it has caught up.
- A client reconnects with ``since=P``: everything after ``P`` from the log, then live; ``PositionGone``
  if ``P`` was trimmed (more than ``history`` behind), expired (``retention``), is of another epoch
  or names a message the log does not have.
- The reader's Redis connection drops: it reconnects with backoff (50 ms doubling to 2 s), checks each
  room's epoch, and resumes after the last offset it delivered: no gap, no duplicate.
- Redis restarts with its data (AOF): members wait, then get everything in order; ``publish`` raises
  ``BackendUnavailable`` during the outage (after 3 attempts, about 0.3 s); ``join`` and ``history``
  raise it too.
- Redis restarts without its data: every member gets ``PositionGone`` (a reset); old positions give
  ``PositionGone``.
- Redis loses data without dropping the connection (``FLUSHALL``, a failover that lost writes): the
  same reset, as soon as the reader sees a new epoch, or at the latest after ``check_interval``.
  Positions handed out before such a loss and never seen again by a joined member may alias the
  new messages at the same offsets if the epoch survived (a replica promoted with the hash but
  not the last appends): use ``appendonly yes`` and, for failover, ``WAIT``.
- A ``publish`` whose reply is lost: retried under the same idempotency token, so it is appended
  once; if every attempt fails, ``BackendUnavailable`` with ``maybe_appended=True``: then it is in
  the room at most once.
- A bad room name, a payload JSON cannot encode, a malformed ``since``: ``ValueError``/``TypeError``
  before anything is appended.
- ``async with rooms`` exits: every member's iteration ends (``StopAsyncIteration``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._backend import Backend, Entry, Head, Span
from ._core import MAX_ROOM_LENGTH, Event, Member, Rooms
from ._errors import BackendUnavailable, MemberEnded, OutboxOverflow, PositionGone, RoomsError
from ._memory import MemoryBackend

if TYPE_CHECKING:
    from ._redis import RedisBackend

__all__ = [
    "MAX_ROOM_LENGTH",
    "Backend",
    "BackendUnavailable",
    "Entry",
    "Event",
    "Head",
    "Member",
    "MemberEnded",
    "MemoryBackend",
    "OutboxOverflow",
    "PositionGone",
    "RedisBackend",
    "Rooms",
    "RoomsError",
    "Span",
]


def __getattr__(name: str) -> Any:
    # RedisBackend imports redis-py; only those who use it need the `fastware[redis]` extra.
    if name == "RedisBackend":
        from ._redis import RedisBackend

        return RedisBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
