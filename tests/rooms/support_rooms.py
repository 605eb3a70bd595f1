"""Helpers of the rooms tests: bounded takes from a member."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from fastware.rooms import Backend, Event, Member

MakeBackend = Callable[..., Backend]  # the `make_backend` fixture: a new backend of the parametrized kind

TIMEOUT = float(os.environ.get("FASTWARE_TEST_TIMEOUT", "10"))


async def take(member: Member, n: int, timeout: float = TIMEOUT) -> list[Event]:
    """The next ``n`` events of ``member``; fails the test if they do not all come within ``timeout``."""
    events: list[Event] = []
    async with asyncio.timeout(timeout):
        while len(events) < n:
            events.append(await anext(member))
    return events


async def nothing_more(member: Member, wait: float = 0.3) -> None:
    """Asserts no event arrives within ``wait`` seconds (used only where an event would be a bug)."""
    try:
        async with asyncio.timeout(wait):
            event = await anext(member)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected event {event!r}")


def offsets(events: list[Event]) -> list[int]:
    return [int(e.pos.rsplit("-", 1)[1]) for e in events]
