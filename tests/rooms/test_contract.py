"""The rooms contract, run in process against MemoryBackend and RedisBackend alike."""

from __future__ import annotations

import asyncio
import math

import pytest
from support_rooms import TIMEOUT, MakeBackend, nothing_more, offsets, take

from fastware.rooms import (
    MAX_ROOM_LENGTH,
    BackendUnavailable,
    Event,
    MemberEnded,
    MemoryBackend,
    OutboxOverflow,
    PositionGone,
    Rooms,
)


async def test_publish_returns_the_position_members_see(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend()) as rooms, rooms.join("lobby") as a, rooms.join("lobby") as b:
        pos = await rooms.publish("lobby", {"name": "ann", "text": "hi"})
        (ea,) = await take(a, 1)
        (eb,) = await take(b, 1)
        assert isinstance(pos, str)
        assert ea.pos == eb.pos == pos
        assert ea.room == "lobby"
        assert ea.data == {"name": "ann", "text": "hi"}
        assert ea.text == '{"name":"ann","text":"hi"}'
        # Encoded once: every member holds the same str object.
        assert ea.text is eb.text
        assert a.pos == pos


async def test_one_order_each_message_once(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend(), outbox_limit=1000) as rooms:
        async with rooms.join("r") as a, rooms.join("r") as b, rooms.join("r") as c:

            async def sender(name: str) -> list[str]:
                return [await rooms.publish("r", {"from": name, "n": i}) for i in range(200)]

            pos_x, pos_y = await asyncio.gather(sender("x"), sender("y"))
            got = [await take(m, 400) for m in (a, b, c)]
            await nothing_more(a)
        assert got[0] == got[1] == got[2]
        events = got[0]
        assert offsets(events) == list(range(offsets(events)[0], offsets(events)[0] + 400))
        for name, positions in (("x", pos_x), ("y", pos_y)):
            mine = [e for e in events if e.data["from"] == name]
            assert [e.data["n"] for e in mine] == list(range(200))
            assert [e.pos for e in mine] == positions


async def test_rooms_are_apart(make_backend: MakeBackend) -> None:
    names = [f"room-{i}" for i in range(40)]
    async with Rooms(make_backend()) as rooms:
        members = {name: [rooms.join(name), rooms.join(name)] for name in names}
        for pair in members.values():
            for m in pair:
                await m.__aenter__()
        try:
            for round_ in range(3):
                for name in names:
                    await rooms.publish(name, {"room": name, "round": round_})
            for name, pair in members.items():
                for m in pair:
                    events = await take(m, 3)
                    assert [(e.room, e.data["room"], e.data["round"]) for e in events] == [
                        (name, name, 0),
                        (name, name, 1),
                        (name, name, 2),
                    ]
            await nothing_more(members[names[0]][0])
        finally:
            for pair in members.values():
                for m in pair:
                    await m.__aexit__(None, None, None)


async def test_resume_with_since_then_live(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend()) as rooms:
        async with rooms.join("r") as m:
            for i in range(5):
                await rooms.publish("r", i)
            first = await take(m, 3)
        last = first[-1].pos
        assert m.pos == last
        for i in range(5, 25):
            await rooms.publish("r", i)
        async with rooms.join("r", since=last) as again:
            assert again.pos == last
            replay = await take(again, 22)
            assert [e.data for e in replay] == list(range(3, 25))
            await rooms.publish("r", 25)
            (live,) = await take(again, 1)
            assert live.data == 25
            await nothing_more(again)


async def test_join_since_while_publishing_has_no_gap_and_no_duplicate(make_backend: MakeBackend) -> None:
    """The seam between the log and live messages, while messages keep coming."""
    total = 300
    async with Rooms(make_backend(history=total), outbox_limit=total) as rooms:
        start = await rooms.publish("r", -1)
        done = asyncio.Event()

        async def publisher() -> None:
            for i in range(total):
                await rooms.publish("r", i)
                if i % 7 == 0:
                    await asyncio.sleep(0)
            done.set()

        async def joiner(since: str | None) -> list[int]:
            async with rooms.join("r", since=since) as m:
                begin = int(m.pos.rsplit("-", 1)[1])
                # Offsets 1..total+1 hold -1, 0, ..., total-1.
                events = await take(m, total + 1 - begin)
                assert offsets(events) == list(range(begin + 1, total + 2))
                return [e.data for e in events]

        task = asyncio.create_task(publisher())
        results = []
        for k in range(6):
            results.append(asyncio.create_task(joiner(start if k % 2 else None)))
            await asyncio.sleep(0.005)
        await asyncio.wait_for(task, TIMEOUT)
        for r in results:
            data = await asyncio.wait_for(r, TIMEOUT)
            assert data == list(range(total - len(data), total))
        assert done.is_set()


async def test_history(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend(history=5)) as rooms:
        assert await rooms.history("empty") == []
        positions = [await rooms.publish("r", i) for i in range(8)]
        events = await rooms.history("r")
        assert [e.data for e in events] == [3, 4, 5, 6, 7]
        assert [e.pos for e in events] == positions[3:]
        after = await rooms.history("r", since=positions[5])
        assert [e.data for e in after] == [6, 7]
        assert await rooms.history("r", since=positions[7]) == []
        # The message just before the oldest retained one still continues without a gap.
        assert [e.data for e in await rooms.history("r", since=positions[2])] == [3, 4, 5, 6, 7]
        with pytest.raises(PositionGone) as info:
            await rooms.history("r", since=positions[1])
        assert info.value.room == "r"
        assert info.value.pos == positions[1]


async def test_trimmed_position_is_gone(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend(history=5)) as rooms:
        positions = [await rooms.publish("r", i) for i in range(10)]
        with pytest.raises(PositionGone, match="no longer all retained"):
            async with rooms.join("r", since=positions[3]):
                pass
        async with rooms.join("r", since=positions[4]) as m:
            assert [e.data for e in await take(m, 5)] == [5, 6, 7, 8, 9]


async def test_position_of_another_epoch_or_from_the_future_is_gone(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend()) as rooms:
        pos = await rooms.publish("r", 1)
        epoch, offset = pos.rsplit("-", 1)
        other = ("0" if epoch[0] != "0" else "1") + epoch[1:]
        for since in (f"{other}-{offset}", f"{epoch}-{int(offset) + 1}"):
            with pytest.raises(PositionGone):
                async with rooms.join("r", since=since):
                    pass
            with pytest.raises(PositionGone):
                await rooms.history("r", since=since)
        # Another room's position is not this room's either.
        with pytest.raises(PositionGone):
            async with rooms.join("other", since=pos):
                pass


async def test_retention_expires_a_quiet_room(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend(retention=0.2)) as rooms:
        pos = await rooms.publish("r", 1)
        await rooms.publish("r", 2)
        await asyncio.sleep(0.5)  # no member keeps the room alive: its log expires
        with pytest.raises(PositionGone):
            async with rooms.join("r", since=pos):
                pass
        assert await rooms.history("r") == []


async def test_joined_members_keep_their_room_alive(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend(retention=0.3)) as rooms, rooms.join("r") as m:
        pos = await rooms.publish("r", 1)
        await take(m, 1)
        await asyncio.sleep(0.8)  # longer than retention, but the member's process refreshes it
        await rooms.publish("r", 2)
        (event,) = await take(m, 1)
        assert event.data == 2
        assert [e.data for e in await rooms.history("r", since=pos)] == [2]


async def test_slow_member_is_ended_not_skipped(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend(), outbox_limit=20) as rooms:
        async with rooms.join("r") as fast, rooms.join("r") as slow:
            start = slow.pos
            for i in range(30):
                await rooms.publish("r", i)
                if i < 15:
                    # The fast member keeps up (then lets 15 queue up); the slow one never reads.
                    assert (await take(fast, 1))[0].data == i
            assert [e.data for e in await take(fast, 15)] == list(range(15, 30))
            # The slow member's outbox is full; at the next delivery it has still taken nothing: ended.
            await rooms.publish("r", 30)
            assert [e.data for e in await take(fast, 1)] == [30]
            assert slow.overflowed
            assert slow.ended
            with pytest.raises(OutboxOverflow) as info:
                await anext(slow)
            assert info.value.code == 1013
            assert start in str(info.value)
            # Still ended on the next call: never a silent skip to later messages.
            with pytest.raises(OutboxOverflow):
                await anext(slow)
            assert slow.pos == start
        # The slow client reconnects with its last position and gets the rest.
        async with rooms.join("r", since=start) as again:
            assert [e.data for e in await take(again, 31)] == list(range(31))


async def test_a_member_that_reads_slowly_but_keeps_up_is_not_ended(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend(), outbox_limit=5) as rooms, rooms.join("r") as m:
        for i in range(50):
            await rooms.publish("r", i)
            if i % 4 == 3:
                assert [e.data for e in await take(m, 4)] == list(range(i - 3, i + 1))
        assert [e.data for e in await take(m, 2)] == [48, 49]
        assert not m.overflowed


@pytest.mark.parametrize(
    ("room", "error", "match"),
    [
        ("", ValueError, "must not be empty"),
        ("x" * (MAX_ROOM_LENGTH + 1), ValueError, "more than"),
        ("a\nb", ValueError, "control character"),
        ("a\x00b", ValueError, "control character"),
        ("a\x7fb", ValueError, "control character"),
        (b"lobby", TypeError, "must be a str"),
        (None, TypeError, "must be a str"),
    ],
)
async def test_bad_room_names(make_backend: MakeBackend, room: object, error: type[Exception], match: str) -> None:
    async with Rooms(make_backend()) as rooms:
        with pytest.raises(error, match=match):
            await rooms.publish(room, 1)  # type: ignore[arg-type]
        with pytest.raises(error, match=match):
            rooms.join(room)  # type: ignore[arg-type]
        with pytest.raises(error, match=match):
            await rooms.history(room)  # type: ignore[arg-type]
    # The longest name allowed is fine.
    async with Rooms(make_backend()) as rooms:
        await rooms.publish("x" * MAX_ROOM_LENGTH, 1)


async def test_payloads_json_cannot_encode_append_nothing(make_backend: MakeBackend) -> None:
    loop: list[object] = []
    loop.append(loop)
    async with Rooms(make_backend()) as rooms, rooms.join("r") as m:
        for bad, error in (
            ({"x": object()}, TypeError),
            ({"x": b"bytes"}, TypeError),
            (math.nan, ValueError),
            ({"x": math.inf}, ValueError),
            (loop, ValueError),
            ({1j: 2}, TypeError),
            ({"x": "lone \ud800 surrogate"}, ValueError),
        ):
            with pytest.raises(error, match="cannot be encoded as JSON"):
                await rooms.publish("r", bad)
        assert await rooms.history("r") == []
        await rooms.publish("r", "ok ünïcødé ✓")
        (event,) = await take(m, 1)
        assert event.data == "ok ünïcødé ✓"
        assert event.pos.endswith("-1")


@pytest.mark.parametrize(
    ("since", "error"),
    [
        ("", ValueError),
        ("abc", ValueError),
        ("abc-", ValueError),
        ("-5", ValueError),
        ("abc--5", ValueError),
        ("abc-05", ValueError),
        ("ABC-5", ValueError),
        ("abc-5 ", ValueError),
        ("abc-" + "9" * 30, ValueError),
        (5, TypeError),
        (b"abc-5", TypeError),
    ],
)
async def test_malformed_since(make_backend: MakeBackend, since: object, error: type[Exception]) -> None:
    async with Rooms(make_backend()) as rooms:
        with pytest.raises(error, match="position"):
            rooms.join("r", since=since)  # type: ignore[arg-type]
        with pytest.raises(error, match="position"):
            await rooms.history("r", since=since)  # type: ignore[arg-type]


async def test_exit_ends_every_member(make_backend: MakeBackend) -> None:
    rooms = Rooms(make_backend())
    received: list[list[object]] = [[], []]

    async def consume(i: int, room: str) -> str:
        async with rooms.join(room) as m:
            joined.release()
            async for event in m:
                received[i].append(event.data)
            assert m.ended
            return "ended"

    joined = asyncio.Semaphore(0)
    async with rooms:
        tasks = [asyncio.create_task(consume(0, "a")), asyncio.create_task(consume(1, "b"))]
        for _ in tasks:
            await asyncio.wait_for(joined.acquire(), TIMEOUT)
        await rooms.publish("a", 1)
        await rooms.publish("b", 2)
        while received != [[1], [2]]:
            await asyncio.sleep(0.01)
    assert await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT) == ["ended", "ended"]


async def test_not_running(make_backend: MakeBackend) -> None:
    rooms = Rooms(make_backend())
    with pytest.raises(RuntimeError, match="not running"):
        await rooms.publish("r", 1)
    with pytest.raises(RuntimeError, match="not running"):
        async with rooms.join("r"):
            pass
    async with rooms:
        pass
    with pytest.raises(RuntimeError, match="not running"):
        await rooms.publish("r", 1)
    # A Rooms can run again after it stopped.
    async with rooms, rooms.join("r") as m:
        await rooms.publish("r", 1)
        assert [e.data for e in await take(m, 1)] == [1]


async def test_event_is_light_and_decodes_once(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend()) as rooms, rooms.join("r") as m:
        await rooms.publish("r", {"a": [1, 2]})
        (event,) = await take(m, 1)
        assert isinstance(event, Event)
        assert event.data is event.data
        assert not hasattr(event, "__dict__")


async def test_publish_from_another_rooms_on_the_same_backend(
    make_backend: MakeBackend, request: pytest.FixtureRequest
) -> None:
    if "memory" in request.node.name:
        pytest.skip("a MemoryBackend lives in one Rooms: there is no other process to publish from")
    async with Rooms(make_backend()) as here, Rooms(make_backend()) as there:
        async with here.join("r") as a, there.join("r") as b:
            p1 = await there.publish("r", "from there")
            p2 = await here.publish("r", "from here")
            assert [e.data for e in await take(a, 2)] == ["from there", "from here"]
            assert [e.pos for e in await take(b, 2)] == [p1, p2]
        # A client that was on `here` resumes on `there`.
        async with there.join("r", since=p1) as c:
            assert [e.data for e in await take(c, 1)] == ["from here"]


async def test_backend_unavailable_is_a_rooms_error() -> None:
    error = BackendUnavailable("down", maybe_appended=True)
    assert error.maybe_appended
    assert not BackendUnavailable("refused").maybe_appended


async def test_slow_member_memory_is_freed_when_it_is_ended(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend(history=100), outbox_limit=100) as rooms:
        async with rooms.join("r") as fast, rooms.join("r") as slow:
            for i in range(600):
                await rooms.publish("r", i)
                if i % 50 == 49:
                    assert [e.data for e in await take(fast, 50)] == list(range(i - 49, i + 1))
                    assert len(slow._outbox) <= 100  # bounded while it lasts...
            assert slow.overflowed
            assert len(slow._outbox) == 0  # ...and freed once it is ended


async def test_a_failing_reader_ends_members_with_the_reason(
    make_backend: MakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Rooms(make_backend()) as rooms, rooms.join("r") as m:
        await rooms.publish("r", 1)
        await take(m, 1)

        async def broken(*args: object) -> list[object]:
            raise RuntimeError("a bug in the backend")

        monkeypatch.setattr(rooms.backend, "read", broken)
        rooms.backend.wake()
        with pytest.raises(MemberEnded, match="a bug in the backend"):
            await take(m, 1)


async def test_joining_ahead_of_a_lagging_reader_is_not_counted_as_slow() -> None:
    """Entries the reader dispatches late, which a new member already starts after, are not queued."""
    async with Rooms(MemoryBackend(), outbox_limit=10) as rooms, rooms.join("r") as early:
        # MemoryBackend's publish and join do not yield: the reader cannot run in between.
        for i in range(50):
            await rooms.publish("r", i)
        async with rooms.join("r") as late:
            await rooms.publish("r", 50)
            (event,) = await take(late, 1)
            assert event.data == 50
            await rooms.publish("r", 51)
            (event,) = await take(late, 1)
            assert event.data == 51
            assert not late.overflowed
        assert early.overflowed  # it never read: its outbox (10) filled, and it took nothing since


async def test_a_backend_serves_one_rooms_at_a_time(make_backend: MakeBackend) -> None:
    backend = make_backend()
    async with Rooms(backend) as rooms:
        with pytest.raises(RuntimeError, match="already in use"):
            async with Rooms(backend):
                pass
        # The first one still works.
        async with rooms.join("r") as m:
            await rooms.publish("r", 1)
            assert [e.data for e in await take(m, 1)] == [1]


async def test_history_while_publishing_is_one_contiguous_snapshot(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend(history=20)) as rooms:

        async def publisher() -> None:
            for i in range(300):
                await rooms.publish("r", i)
                await asyncio.sleep(0)

        task = asyncio.create_task(publisher())
        snapshots = 0
        while not task.done():
            events = await rooms.history("r")
            if events:
                data = [e.data for e in events]
                assert data == list(range(data[0], data[0] + len(data)))
                assert len(data) <= 20
                snapshots += 1
            await asyncio.sleep(0)
        await task
        assert snapshots > 0
        assert [e.data for e in await rooms.history("r")] == list(range(280, 300))


async def test_join_with_replay_starts_with_recent_history_then_live(make_backend: MakeBackend) -> None:
    async with Rooms(make_backend(history=10)) as rooms:
        async with rooms.join("empty", replay=5) as m:
            await rooms.publish("empty", "first")
            assert [e.data for e in await take(m, 1)] == ["first"]
        for i in range(15):
            await rooms.publish("r", i)
        async with rooms.join("r", replay=3) as m:
            await rooms.publish("r", 15)
            assert [e.data for e in await take(m, 4)] == [12, 13, 14, 15]
        async with rooms.join("r", replay=1000) as m:  # more than retained: all that is
            assert [e.data for e in await take(m, 10)] == list(range(6, 16))
            await nothing_more(m)
        with pytest.raises(ValueError, match="replay"):
            rooms.join("r", replay=-1)
        with pytest.raises(ValueError, match="cannot be combined"):
            rooms.join("r", since=m.pos, replay=2)


async def test_a_burst_larger_than_the_outbox_does_not_end_a_waiting_member() -> None:
    """One delivery bigger than outbox_limit (a publisher that never yields, a reader catching up after
    an outage) is no sign of a slow consumer: the member goes on from the log and misses nothing."""
    async with Rooms(MemoryBackend(), outbox_limit=4) as rooms, rooms.join("r") as member:
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
        assert not member.ended
        # Caught up, it takes live events from its outbox again.
        await rooms.publish("r", 10)
        assert [e.data for e in await take(member, 1)] == [10]


async def test_a_member_that_keeps_taking_but_falls_ever_further_behind_is_ended() -> None:
    async with Rooms(MemoryBackend(history=5000), outbox_limit=4) as rooms, rooms.join("r") as member:
        got: list[int] = []

        async def consume() -> None:
            async for event in member:  # one event per turn of the loop: slower than the room
                got.append(event.data)
                await asyncio.sleep(0)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)
        for n in range(3000):
            await rooms.publish("r", n)  # read back in deliveries of 1,000
        with pytest.raises(OutboxOverflow):
            await asyncio.wait_for(task, TIMEOUT)
        assert member.overflowed
        assert got == list(range(len(got)))  # what it got, it got without a gap
        assert len(got) < 3000
