"""The reader waits on one index stream instead of naming every joined room in each XREAD, and
delivers an index entry's text as it is only when it is the next entry of its room in the epoch last
read. Otherwise the room's log is the source: a lost, missing, out-of-step or foreign index entry is
repaired from the log, and no message is lost or delivered twice because of it."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis
from redis_server import RedisServer
from support_rooms import TIMEOUT, nothing_more, offsets, take

from fastware.rooms import RedisBackend, Rooms, _redis
from fastware.rooms import _core as core

PREFIX = "t"


def admin(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True, protocol=2)


async def append_without_index(adm: redis.Redis, room: str, text: str) -> int:
    """Append to a room's log as the append script does, but leave the index out: a lost wake-up."""
    meta, log = f"{PREFIX}:{{{room}}}:meta", f"{PREFIX}:{{{room}}}:log"
    epoch = await adm.hget(meta, "e")
    offset = int(await adm.hget(meta, "o")) + 1
    await adm.xadd(log, {"e": epoch, "d": text}, id=f"{offset}-0")
    await adm.hset(meta, "o", offset)
    return offset


@pytest.fixture(params=["xread", "script"])
def index_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The reader reads few new index entries from its XREAD, and many by script: run both ways."""
    if request.param == "script":
        monkeypatch.setattr(_redis, "WAKE_BATCH", 1)  # every XREAD counts as a full batch
    return str(request.param)


@pytest.fixture
def no_idle_check(monkeypatch: pytest.MonkeyPatch) -> float:
    """The reader's idle check (every READ_TIMEOUT) and periodic check pushed past the test's bound,
    so that only the index's own gap detection can deliver what the index did not name."""
    far = 10 * TIMEOUT
    monkeypatch.setattr(core, "READ_TIMEOUT", far)
    return far


async def test_a_message_the_index_never_named_is_delivered_by_the_idle_check(fresh_redis: RedisServer) -> None:
    adm = admin(fresh_redis)
    try:
        async with (
            Rooms(RedisBackend(fresh_redis.url, retention=None, prefix=PREFIX)) as rooms,
            rooms.join("r") as m,
        ):
            await rooms.publish("r", 0)
            await take(m, 1)
            offset = await append_without_index(adm, "r", '"lost wake-up"')
            (event,) = await take(m, 1)
            assert (event.data, event.offset) == ("lost wake-up", offset)
            await rooms.publish("r", 2)  # and the next one, named by the index, follows it once
            (event,) = await take(m, 1)
            assert (event.data, event.offset) == (2, offset + 1)
    finally:
        await adm.aclose()


@pytest.mark.parametrize("how", ["counter jumps", "index deleted"])
async def test_a_gap_in_the_index_makes_the_reader_read_every_room(
    fresh_redis: RedisServer, no_idle_check: float, index_reader: str, how: str
) -> None:
    """Entries trimmed before the reader got to them, or the index starting over (FLUSHALL of its
    keys): the sequence numbers have a gap, and every joined room is read from its cursor at once."""
    adm = admin(fresh_redis)
    try:
        async with (
            Rooms(RedisBackend(fresh_redis.url, retention=None, prefix=PREFIX), check_interval=no_idle_check) as rooms,
            rooms.join("r") as m,
            rooms.join("s") as other,
        ):
            for i in range(3):
                await rooms.publish("r", i)
            await take(m, 3)
            offset = await append_without_index(adm, "r", '"not in the index"')
            if how == "counter jumps":
                await adm.incrby(f"{PREFIX}:index:n", 1000)
            else:
                await adm.delete(f"{PREFIX}:index", f"{PREFIX}:index:n")
            await rooms.publish("s", "names only room s")
            (event,) = await take(m, 1)
            assert (event.data, event.offset) == ("not in the index", offset)
            assert [e.data for e in await take(other, 1)] == ["names only room s"]
            for i in range(3, 6):
                await rooms.publish("r", i)
            assert [e.data for e in await take(m, 3)] == [3, 4, 5]
    finally:
        await adm.aclose()


async def test_many_rooms_two_processes_each_message_once_in_order(fresh_redis: RedisServer, index_reader: str) -> None:
    """Rooms joined in both "processes", publishes to all of them interleaved from both: each member
    gets its room's messages once, in the room's order, and nothing of the rooms it did not join."""
    names = [f"room-{i}" for i in range(50)]
    per_room = 20
    async with (
        Rooms(RedisBackend(fresh_redis.url, retention=None, prefix=PREFIX)) as here,
        Rooms(RedisBackend(fresh_redis.url, retention=None, prefix=PREFIX)) as there,
    ):
        members = []
        for rooms in (here, there):
            for name in names[: len(names) - 5]:  # the last five rooms: published to, joined nowhere
                members.append(await rooms.join(name).__aenter__())
        try:

            async def sender(rooms: Rooms, parity: int) -> None:
                for n in range(per_room):
                    for name in names:
                        if n % 2 == parity:
                            await rooms.publish(name, {"room": name, "n": n})

            async def collect(m: core.Member) -> list[core.Event]:
                return await take(m, per_room)

            senders = asyncio.gather(sender(here, 0), sender(there, 1))
            results = await asyncio.gather(*(collect(m) for m in members))
            await asyncio.wait_for(senders, TIMEOUT)
            for member, got in zip(members, results, strict=True):
                assert {e.data["room"] for e in got} == {member.room}
                assert sorted(e.data["n"] for e in got) == list(range(per_room))
                assert offsets(got) == list(range(1, per_room + 1))
            by_room: dict[str, list[list[object]]] = {}
            for member, got in zip(members, results, strict=True):
                by_room.setdefault(member.room, []).append([e.data for e in got])
            for lists in by_room.values():
                assert lists[0] == lists[1]  # one order per room, in both processes
        finally:
            for m in members:
                await m.__aexit__(None, None, None)


async def test_texts_with_separator_characters_are_read_intact(fresh_redis: RedisServer) -> None:
    """The reader's fetch packs a room's entries into one string, separated by RS and US; JSON from
    publish never holds them unescaped, but a log written otherwise may: read intact either way."""
    adm = admin(fresh_redis)
    try:
        async with (
            Rooms(RedisBackend(fresh_redis.url, retention=None, prefix=PREFIX)) as rooms,
            rooms.join("r") as m,
        ):
            await rooms.publish("r", "a\x1eb\x1fc")  # escaped by JSON
            texts = ['"raw \x1f unit separator"', '"raw \x1e record separator"', '"plain"']
            for text in texts:
                await append_without_index(adm, "r", text)
            await rooms.publish("r", "last")  # names the room: all four read in one fetch
            got = await take(m, 5)
            assert [e.text for e in got[1:4]] == texts
            assert (got[0].data, got[4].data) == ("a\x1eb\x1fc", "last")  # (raw control characters: not JSON)
            assert offsets(got) == [1, 2, 3, 4, 5]
    finally:
        await adm.aclose()


async def test_an_index_entry_after_a_gap_makes_the_room_be_read_from_its_log(
    fresh_redis: RedisServer, no_idle_check: float, index_reader: str
) -> None:
    """The index names offset 3 while the reader is at 1 (offset 2 was appended without an index
    entry): nothing is delivered from the index; the log gives 2 and 3, in order, at once."""
    adm = admin(fresh_redis)
    try:
        async with (
            Rooms(RedisBackend(fresh_redis.url, retention=None, prefix=PREFIX), check_interval=no_idle_check) as rooms,
            rooms.join("r") as m,
        ):
            await rooms.publish("r", 1)
            await take(m, 1)
            await append_without_index(adm, "r", '"no index entry"')
            await rooms.publish("r", 3)
            got = await take(m, 2)
            assert [e.data for e in got] == ["no index entry", 3]
            assert offsets(got) == [2, 3]
            await rooms.publish("r", 4)  # and the index delivers again
            assert [(e.data, e.offset) for e in await take(m, 1)] == [(4, 4)]
    finally:
        await adm.aclose()


async def test_an_index_entry_of_another_epoch_is_not_delivered(fresh_redis: RedisServer, no_idle_check: float) -> None:
    """An index entry whose offset is the next one but whose epoch is not the room's: its text is not
    delivered (the log, read instead, has no such entry); what the log has comes next, once."""
    adm = admin(fresh_redis)
    try:
        async with (
            Rooms(RedisBackend(fresh_redis.url, retention=None, prefix=PREFIX), check_interval=no_idle_check) as rooms,
            rooms.join("r") as m,
        ):
            first = await rooms.publish("r", "first")
            await take(m, 1)
            n = int(await adm.get(f"{PREFIX}:index:n"))
            await adm.set(f"{PREFIX}:index:n", n + 1)
            forged = "\x1f".join([str(n + 1), "r", "0123456789ab", "2", '"forged"'])
            await adm.xadd(f"{PREFIX}:index", {"m": forged})
            await nothing_more(m)
            await rooms.publish("r", "second")
            (event,) = await take(m, 1)
            assert (event.data, event.offset, event.pos.split("-")[0]) == ("second", 2, first.split("-")[0])
    finally:
        await adm.aclose()


async def test_a_text_longer_than_the_index_keeps_is_read_from_the_log(
    fresh_redis: RedisServer, index_reader: str
) -> None:
    """A text over INDEX_TEXT bytes is not copied into the index: the reader reads it from the log,
    in its place among the others."""
    adm = admin(fresh_redis)
    try:
        async with (
            Rooms(RedisBackend(fresh_redis.url, retention=None, prefix=PREFIX)) as rooms,
            rooms.join("r") as m,
        ):
            long = "é" * _redis.INDEX_TEXT  # twice as many bytes in UTF-8
            for data in ["short", long, "short again"]:
                await rooms.publish("r", data)
            got = await take(m, 3)
            assert [e.data for e in got] == ["short", long, "short again"]
            assert offsets(got) == [1, 2, 3]
            entries = await adm.xrange(f"{PREFIX}:index")
            assert [len(fields["m"].split("\x1f")) for _id, fields in entries] == [5, 4, 5]
    finally:
        await adm.aclose()


@pytest.mark.parametrize("kind", ["older version", "garbage"])
async def test_index_entries_of_another_format_make_the_reader_read_every_room(
    fresh_redis: RedisServer, no_idle_check: float, index_reader: str, kind: str
) -> None:
    """An entry not written by this version's append script (an older process during an upgrade, or
    anything else): the reader cannot tell what it missed, so it reads every joined room from its log."""
    adm = admin(fresh_redis)
    try:
        async with (
            Rooms(RedisBackend(fresh_redis.url, retention=None, prefix=PREFIX), check_interval=no_idle_check) as rooms,
            rooms.join("r") as m,
        ):
            await rooms.publish("r", 0)
            await take(m, 1)
            offset = await append_without_index(adm, "r", '"old writer"')
            n = await adm.incr(f"{PREFIX}:index:n")
            fields = {"n": n, "r": "r"} if kind == "older version" else {"m": f"{n}\x1fr\x1fnot an offset"}
            await adm.xadd(f"{PREFIX}:index", fields)
            (event,) = await take(m, 1)
            assert (event.data, event.offset) == ("old writer", offset)
            await rooms.publish("r", 2)
            assert [(e.data, e.offset) for e in await take(m, 1)] == [(2, offset + 1)]
    finally:
        await adm.aclose()
