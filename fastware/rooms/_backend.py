"""The backend protocol: the five async methods (and a wake-up) a room log has to offer.

A backend stores, per room, an append-only log of encoded messages under consecutive offsets
(1, 2, 3, ...) and an *epoch*: a token that changes whenever the log starts over (a room created
anew, data lost). ``(epoch, offset)`` names one message for good; a log that no longer has the
messages after an offset says so through ``first`` and ``last`` (see ``Head``), so that every gap
is detected, never silently skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable


class Head(NamedTuple):
    """Where a room's log stands: its epoch, its first retained offset and its last offset.

    An empty log has ``first == last + 1``. A room that never had a message has ``last == 0``.
    """

    epoch: str
    first: int
    last: int


class Entry(NamedTuple):
    """One message of a log: its offset, the epoch it was appended in, its JSON text."""

    offset: int
    epoch: str
    text: str


class Span(NamedTuple):
    """The answer of ``range``: the room's epoch (``None`` if the room has no log at all), its last
    offset, and the entries after the requested offset, in order."""

    epoch: str | None
    last: int
    entries: list[Entry]


@runtime_checkable
class Backend(Protocol):
    """What ``Rooms`` needs of a room log. Errors of the store are raised as ``BackendUnavailable``."""

    async def open(self) -> None:
        """Connect; called by ``Rooms.__aenter__``."""

    async def close(self) -> None:
        """Disconnect and free everything; called by ``Rooms.__aexit__``, also after a failed ``open``."""

    async def append(self, room: str, text: str) -> tuple[str, int]:
        """Append ``text`` to the room's log, atomically with its offset; return ``(epoch, offset)``.

        Returns only once appended. Never appends the same call twice, even when retrying.
        """

    async def heads(self, rooms: Sequence[str]) -> list[Head]:
        """The ``Head`` of each room (in the same order), creating the room's epoch if it has none.

        Also keeps the rooms alive: a backend with a retention time counts this as activity.
        """

    async def range(self, room: str, after: int, limit: int) -> Span:
        """Up to ``limit`` entries with offsets ``after + 1, after + 2, ...`` as retained now."""

    async def read(self, cursors: Mapping[str, int], timeout: float) -> list[tuple[str, list[Entry]]]:
        """Wait up to ``timeout`` seconds for entries after each room's cursor; return them per room.

        Returns early with nothing when ``wake`` is called. One task per process calls this.
        """

    def wake(self) -> None:
        """Make a pending (or the next imminent) ``read`` return now: the set of rooms changed."""
