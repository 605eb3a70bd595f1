"""A burst larger than the outbox does not end a member that keeps up (i12b's finding, fixed in 3e43e30).

The reader hands a member everything one backend read returned, in one go: up to ``READ_BATCH``
(1,000) entries per room. When a read returns more than ``outbox_limit`` entries (256 by default),
every member of that room was ended with ``OutboxOverflow`` at once, however fast its consumer,
because no consumer can run in the middle of the reader's loop. It happens after any burst the
reader sees in one read: a publisher in the same process appending without yielding, or a Redis
reader that reconnects after an outage and catches up the backlog in one XREAD. The members then
all closed with 1013 although none of them was slow. Now a member whose outbox is full goes on
from the log and is ended only when it stops consuming.
"""

from __future__ import annotations

import asyncio

from support import TIMEOUT

from fastware.rooms import Rooms


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
