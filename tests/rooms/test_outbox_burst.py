"""A finding about the outbox limit, kept as a strict xfail until the core decides (see the report of i12b).

The reader hands a member everything one backend read returned, in one go: up to ``READ_BATCH``
(1,000) entries per room. When a read returns more than ``outbox_limit`` entries (256 by default),
every member of that room is ended with ``OutboxOverflow`` at once, however fast its consumer,
because no consumer can run in the middle of the reader's loop. It happens after any burst the
reader sees in one read: a publisher in the same process appending without yielding, or a Redis
reader that reconnects after an outage and catches up the backlog in one XREAD. The members then
all close with 1013 although none of them is slow. Either the reader caps its reads at the outbox
limit (or hands over in slices and yields), or a member whose outbox is full falls back to reading
the log (as it already does while catching up) and is ended only when it stops consuming.
"""

from __future__ import annotations

import asyncio

import pytest
from support import TIMEOUT

from fastware.rooms import OutboxOverflow, Rooms


@pytest.mark.xfail(
    strict=True, raises=OutboxOverflow, reason="a burst larger than outbox_limit ends a waiting member (OutboxOverflow)"
)
async def test_a_burst_larger_than_the_outbox_does_not_end_a_member_that_is_waiting() -> None:
    rooms = Rooms(outbox_limit=4)
    async with rooms, rooms.join("r") as member:
        got: list[int] = []

        async def consume() -> None:
            async for event in member:
                got.append(event.data)
                if len(got) == 10:
                    return

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)  # the consumer now waits for the next event
        for n in range(10):
            await rooms.publish("r", n)  # MemoryBackend appends without yielding: one burst of 10
        await asyncio.wait_for(task, TIMEOUT)
        assert got == list(range(10))
