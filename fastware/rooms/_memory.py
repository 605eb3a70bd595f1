"""MemoryBackend: the room logs in this process's memory. One process, no server; the default."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import deque
from collections.abc import Mapping, Sequence

from ._backend import Entry, Head, Span

READ_BATCH = 1000  # entries per room per read, as RedisBackend's XREAD COUNT


def new_epoch() -> str:
    return secrets.token_hex(6)


class _Log:
    __slots__ = ("entries", "epoch", "last", "touched")

    def __init__(self, history: int) -> None:
        self.epoch = new_epoch()
        self.entries: deque[Entry] = deque(maxlen=history)
        self.last = 0
        self.touched = time.monotonic()

    @property
    def first(self) -> int:
        return self.entries[0].offset if self.entries else self.last + 1

    def after(self, offset: int, limit: int) -> list[Entry]:
        start = max(offset + 1 - self.first, 0)
        return list(itertools.islice(self.entries, start, start + limit))


class MemoryBackend:
    """Room logs in memory, with the same semantics as ``RedisBackend`` within one process.

    ``history``: messages kept per room (the oldest are dropped first). ``retention``: seconds a
    quiet room's log is kept after its last message (``None``: for the life of the process); joined
    members keep their room alive. A dropped room starts over under a new epoch, so positions from
    before it raise ``PositionGone``.
    """

    def __init__(self, history: int = 1000, retention: float | None = None) -> None:
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise ValueError(f"history must be a positive int, got {history!r}")
        if retention is not None and not retention > 0:
            raise ValueError(f"retention must be a positive number of seconds or None, got {retention!r}")
        self.history: int = history
        self.retention: float | None = retention
        self._logs: dict[str, _Log] = {}
        self._signal = asyncio.Event()
        self._woken = False
        self._open = False

    def __repr__(self) -> str:
        return f"MemoryBackend(history={self.history}, retention={self.retention})"

    def _log(self, room: str, *, create: bool) -> _Log | None:
        log = self._logs.get(room)
        if log is not None and self.retention is not None and time.monotonic() - log.touched > self.retention:
            del self._logs[room]
            log = None
        if log is None and create:
            log = self._logs[room] = _Log(self.history)
        return log

    async def open(self) -> None:
        if self._open:
            raise RuntimeError("this MemoryBackend is already in use by a running Rooms; give each Rooms its own")
        self._open = True
        self._signal = asyncio.Event()  # bound to the running loop
        self._woken = False

    async def close(self) -> None:
        self._open = False
        self.wake()

    async def append(self, room: str, text: str) -> tuple[str, int]:
        log = self._log(room, create=True)
        assert log is not None
        log.last += 1
        log.entries.append(Entry(log.last, log.epoch, text))
        log.touched = time.monotonic()
        self._signal.set()
        return log.epoch, log.last

    async def heads(self, rooms: Sequence[str]) -> list[Head]:
        heads = []
        now = time.monotonic()
        for room in rooms:
            log = self._log(room, create=True)
            assert log is not None
            log.touched = now
            heads.append(Head(log.epoch, log.first, log.last))
        return heads

    async def range(self, room: str, after: int, limit: int) -> Span:
        log = self._log(room, create=False)
        if log is None:
            return Span(None, 0, [])
        return Span(log.epoch, log.last, log.after(after, limit))

    async def read(self, cursors: Mapping[str, int], timeout: float) -> list[tuple[str, list[Entry]]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = []
            for room, cursor in cursors.items():
                log = self._logs.get(room)
                if log is not None and log.last > cursor:
                    found.append((room, log.after(cursor, READ_BATCH)))
            if found or self._woken:
                self._woken = False
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            self._signal.clear()
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that races a wake-up.
            try:
                async with asyncio.timeout(remaining):
                    await self._signal.wait()
            except TimeoutError:
                return []

    def wake(self) -> None:
        self._woken = True
        self._signal.set()
