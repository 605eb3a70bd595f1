"""Redis faults while messages flow, in process: a killed reader connection, a Redis restart with
its data (AOF) and without it. Every member must see no gap and no duplicate, or a reset."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as redis
from redis_server import RedisServer
from support_rooms import TIMEOUT, offsets, take
from tcp_proxy import LossyProxy

from fastware.rooms import BackendUnavailable, Member, PositionGone, RedisBackend, Rooms
from fastware.rooms._redis import READER_NAME


@asynccontextmanager
async def admin(server: RedisServer) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(server.url, decode_responses=True, protocol=2)
    try:
        yield client
    finally:
        await client.aclose()


def backend(server: RedisServer) -> RedisBackend:
    return RedisBackend(server.url, retention=None)


async def reader_ids(client: redis.Redis) -> set[int]:
    """The ids of the rooms readers' connections."""
    return {int(c["id"]) for c in await client.client_list() if c.get("name") == READER_NAME}


async def test_reader_connection_killed_mid_stream(fresh_redis: RedisServer) -> None:
    total = 600
    async with (
        admin(fresh_redis) as adm,
        Rooms(backend(fresh_redis), outbox_limit=total) as rooms,
        rooms.join("r") as a,
        rooms.join("r") as b,
    ):
        kills = 0

        async def publisher() -> None:
            nonlocal kills
            for i in range(total):
                await rooms.publish("r", i)
                if i % 100 == 50:
                    # Kill the reader's connection mid-stream (CLIENT KILL), then go on publishing at once.
                    async with asyncio.timeout(TIMEOUT):
                        while not (ids := await reader_ids(adm)):
                            await asyncio.sleep(0.01)
                    for client_id in ids:
                        kills += await adm.client_kill_filter(_id=str(client_id))
                await asyncio.sleep(0)

        task = asyncio.create_task(publisher())
        got_a, got_b = await take(a, total), await take(b, total)
        await asyncio.wait_for(task, TIMEOUT)
        assert kills >= 5, "the test did not kill the reader's connection"
        for got in (got_a, got_b):
            assert [e.data for e in got] == list(range(total))
            assert offsets(got) == list(range(1, total + 1))


async def test_every_connection_killed_while_publishing_appends_each_once(fresh_redis: RedisServer) -> None:
    """CLIENT KILL TYPE normal also cuts the publishers: each publish appends once or raises, never twice."""
    total = 300
    published: list[int] = []
    unsure: list[int] = []
    async with (
        admin(fresh_redis) as adm,
        Rooms(backend(fresh_redis), outbox_limit=total) as rooms,
        rooms.join("r") as m,
    ):
        for i in range(total):
            if i % 30 == 15:
                await adm.client_kill_filter(_type="normal", skipme=True)
            try:
                await rooms.publish("r", i)
                published.append(i)
            except BackendUnavailable as exc:
                assert exc.maybe_appended or "connecting" not in str(exc)
                unsure.append(i)
        history = [e.data for e in await rooms.history("r")]
        assert len(history) == len(set(history)), "a message was appended twice"
        assert set(published) <= set(history) <= set(published) | set(unsure)
        assert history == sorted(history)
        got = await take(m, len(history))
        assert [e.data for e in got] == history


@pytest.mark.parametrize("how", ["shutdown", "SIGKILL"])
async def test_redis_restarted_with_aof_no_gap(fresh_redis: RedisServer, how: str) -> None:
    """AOF with appendfsync always (the helper's setting): every acknowledged append survives, even a crash."""
    async with (
        Rooms(backend(fresh_redis), outbox_limit=500) as here,
        Rooms(backend(fresh_redis), outbox_limit=500) as there,
        here.join("r") as a,
        there.join("r") as b,
    ):
        for i in range(50):
            await here.publish("r", i)
        first = (await take(a, 50), await take(b, 50))
        if how == "SIGKILL":
            fresh_redis.kill()
        else:
            fresh_redis.stop()  # a clean shutdown
        with pytest.raises(BackendUnavailable, match="could not append"):
            await here.publish("r", "during the outage")
        with pytest.raises(BackendUnavailable, match="could not append"):
            await there.publish("r", "during the outage")
        await asyncio.sleep(0.3)  # the readers fail and back off meanwhile
        fresh_redis.start()
        for i in range(50, 100):
            await there.publish("r", i)
        for member, before in zip((a, b), first, strict=True):
            after = await take(member, 50)
            got = before + after
            assert [e.data for e in got] == list(range(100))
            assert offsets(got) == list(range(1, 101))
            assert not member.ended
        assert "during the outage" not in [e.data for e in await here.history("r")]


async def test_redis_restarted_without_data_resets_every_member(fresh_redis: RedisServer) -> None:
    fresh_redis.stop()
    fresh_redis.start(aof=False)
    async with (
        Rooms(backend(fresh_redis)) as here,
        Rooms(backend(fresh_redis)) as there,
    ):
        members: list[Member] = []
        for rooms in (here, there):
            for room in ("r", "s"):
                members.append(await rooms.join(room).__aenter__())
        try:
            for i in range(10):
                await here.publish("r", i)
                await there.publish("s", i)
            for m in members:
                assert [e.data for e in await take(m, 10)] == list(range(10))
            old = members[0].pos
            fresh_redis.stop()
            fresh_redis.start(aof=False)  # the same port, no data: every log starts over
            for m in members:
                with pytest.raises(PositionGone, match="lost messages or started over"):
                    await take(m, 1)
                assert m.ended
            with pytest.raises(PositionGone):
                async with here.join("r", since=old):
                    pass
            # A new member starts over in the new epoch.
            async with there.join("r") as fresh:
                pos = await here.publish("r", "new")
                (event,) = await take(fresh, 1)
                assert event.pos == pos != old
                assert pos.rsplit("-", 1)[0] != old.rsplit("-", 1)[0]
        finally:
            for m in members:
                await m.__aexit__(None, None, None)


@pytest.mark.parametrize("after", [3, 7])
async def test_keys_deleted_under_joined_members_resets_them(fresh_redis: RedisServer, after: int) -> None:
    """Data lost without a reconnect (FLUSHALL, a failover), never a gap: with fewer new messages than
    the member had (3), only the periodic check can find it; with more (7), the reader sees a new epoch."""
    async with (
        admin(fresh_redis) as adm,
        Rooms(backend(fresh_redis), check_interval=0.2) as rooms,
        rooms.join("r") as m,
    ):
        for i in range(5):
            await rooms.publish("r", i)
        await take(m, 5)
        await adm.flushall()
        for i in range(after):
            await rooms.publish("r", f"after {i}")  # offsets 1, 2, ... of a new epoch
        with pytest.raises(PositionGone):
            await take(m, 1)


async def test_stopped_redis_makes_rooms_fail_to_start() -> None:
    server = RedisServer()
    try:
        server.start()
        server.stop()
        with pytest.raises(BackendUnavailable, match="cannot reach Redis"):
            async with Rooms(backend(server)):
                pass
    finally:
        server.close()


async def test_publish_whose_reply_is_lost_appends_once(fresh_redis: RedisServer) -> None:
    """The append ran on the server but the reply never came back: the retry (same idempotency
    token) returns the first append's position instead of appending again."""
    async with LossyProxy(fresh_redis.port) as proxy:
        async with Rooms(RedisBackend(proxy.url, retention=None)) as rooms:
            await rooms.publish("r", "warm-up")  # the scripts are loaded: the next EVALSHA runs them
            proxy.lose_replies(1)
            pos = await rooms.publish("r", "once")
            assert proxy.lost == 1
            history = await rooms.history("r")
            assert [e.data for e in history] == ["warm-up", "once"]
            assert history[-1].pos == pos

            proxy.lose_replies(3)  # every attempt loses its reply
            with pytest.raises(BackendUnavailable) as info:
                await rooms.publish("r", "unsure")
            assert proxy.lost == 4
            assert info.value.maybe_appended
            assert [e.data for e in await rooms.history("r")] == ["warm-up", "once", "unsure"]


async def test_log_that_lost_its_tail_resets_members(fresh_redis: RedisServer) -> None:
    """The same epoch but fewer messages than were delivered (a failover that lost writes): a reset."""
    async with (
        admin(fresh_redis) as adm,
        Rooms(RedisBackend(fresh_redis.url, retention=None, prefix="t"), check_interval=0.2) as rooms,
        rooms.join("r") as m,
    ):
        for i in range(10):
            await rooms.publish("r", i)
        await take(m, 10)
        await adm.xtrim("t:{r}:log", minid="11")  # every entry gone...
        await adm.hset("t:{r}:meta", "o", 7)  # ...and the last offset back to 7
        with pytest.raises(PositionGone, match="lost messages"):
            await take(m, 1)


async def test_join_during_an_outage_raises_and_catching_up_waits_for_redis(fresh_redis: RedisServer) -> None:
    async with Rooms(backend(fresh_redis)) as rooms:
        start = await rooms.publish("r", 0)
        for i in range(1, 20):
            await rooms.publish("r", i)
        fresh_redis.stop()
        with pytest.raises(BackendUnavailable):
            async with rooms.join("r"):
                pass
        with pytest.raises(BackendUnavailable):
            await rooms.history("r")
        fresh_redis.start()
        async with rooms.join("r", since=start) as m:
            fresh_redis.stop()  # the member must catch up from the log, which is down for a while
            waiting = asyncio.create_task(take(m, 19))
            await asyncio.sleep(0.5)
            assert not waiting.done()
            fresh_redis.start()
            got = await waiting
            assert [e.data for e in got] == list(range(1, 20))


async def test_two_processes_two_senders_one_order_while_readers_are_killed(fresh_redis: RedisServer) -> None:
    """Two Rooms (as two workers) on one Redis, a sender on each, members on both, readers cut now and
    then: every member gets the same list, each sender's messages in its order, each once."""
    per_sender = 200
    total = 2 * per_sender
    async with (
        admin(fresh_redis) as adm,
        Rooms(backend(fresh_redis), outbox_limit=total) as here,
        Rooms(backend(fresh_redis), outbox_limit=total) as there,
        here.join("r") as a,
        here.join("r") as b,
        there.join("r") as c,
        there.join("r") as d,
        there.join("other") as other,
    ):

        async def sender(rooms: Rooms, name: str) -> None:
            for i in range(per_sender):
                await rooms.publish("r", {"from": name, "n": i})
                if i % 50 == 25:
                    for client_id in await reader_ids(adm):
                        await adm.client_kill_filter(_id=str(client_id))
                await asyncio.sleep(0)

        senders = asyncio.gather(sender(here, "here"), sender(there, "there"))
        got = [await take(m, total) for m in (a, b, c, d)]
        await asyncio.wait_for(senders, TIMEOUT)
        assert got[0] == got[1] == got[2] == got[3]
        assert offsets(got[0]) == list(range(1, total + 1))
        for name in ("here", "there"):
            assert [e.data["n"] for e in got[0] if e.data["from"] == name] == list(range(per_sender))
        with pytest.raises(TimeoutError):
            await take(other, 1, timeout=0.3)


async def test_first_calls_after_a_redis_restart_succeed(fresh_redis: RedisServer) -> None:
    """Pooled connections that the restarted server closed must not turn into errors once it is back."""
    async with Rooms(backend(fresh_redis)) as rooms:
        pos = await rooms.publish("r", 1)
        await rooms.history("r")  # several idle pooled connections now
        fresh_redis.stop()
        fresh_redis.start()
        assert [e.data for e in await rooms.history("r")] == [1]
        async with rooms.join("r", since=pos) as m:
            await rooms.publish("r", 2)
            assert [e.data for e in await take(m, 1)] == [2]


async def test_exit_while_members_wait_for_redis_ends_them(fresh_redis: RedisServer) -> None:
    rooms = Rooms(backend(fresh_redis))
    joined, go = asyncio.Event(), asyncio.Event()

    async def consume(start: str) -> list[object]:
        got = []
        async with rooms.join("r", since=start) as m:
            joined.set()
            await go.wait()
            async for event in m:
                got.append(event.data)
            assert m.ended and not m.overflowed
        return got

    async with rooms:
        start = await rooms.publish("r", 0)
        for i in range(1, 5):
            await rooms.publish("r", i)
        task = asyncio.create_task(consume(start))
        await asyncio.wait_for(joined.wait(), TIMEOUT)
        fresh_redis.stop()  # the member cannot catch up from the log: it waits and retries
        go.set()
        await asyncio.sleep(0.3)
        assert not task.done()
    # Rooms exited with Redis down: the member's iteration ended, without an error.
    assert await asyncio.wait_for(task, TIMEOUT) == []


async def test_concurrent_publishes_whose_replies_are_lost_append_each_once(fresh_redis: RedisServer) -> None:
    """Publishes issued together travel in one pipeline; when its replies are lost, the retry (same
    tokens) appends none of them twice, and each publisher gets its own position."""
    async with LossyProxy(fresh_redis.port) as proxy, Rooms(RedisBackend(proxy.url, retention=None)) as rooms:
        await rooms.publish("r0", "warm-up")
        proxy.lose_replies(1)
        positions = await asyncio.gather(*(rooms.publish(f"r{i % 5}", i) for i in range(100)))
        assert proxy.lost == 1
        assert len(set(positions)) == 100
        for room in range(5):
            history = await rooms.history(f"r{room}")
            data = [e.data for e in history if e.data != "warm-up"]
            assert sorted(data) == list(range(room, 100, 5))  # each once
            by_data = {e.data: e.pos for e in history}
            assert all(by_data[i] == positions[i] for i in range(room, 100, 5))


async def test_catching_up_after_the_reader_reconnects_does_not_end_waiting_members(fresh_redis: RedisServer) -> None:
    """The backlog a reconnected reader reads in one XREAD can exceed outbox_limit: members that are
    waiting are not slow, and get all of it."""
    async with (
        admin(fresh_redis) as adm,
        Rooms(backend(fresh_redis), outbox_limit=10) as here,
        Rooms(backend(fresh_redis)) as there,
        here.join("r") as m,
    ):
        got: list[int] = []

        async def consume() -> None:
            async for event in m:
                got.append(event.data)
                if len(got) == 200:
                    return

        task = asyncio.create_task(consume())
        for client_id in await reader_ids(adm):
            await adm.client_kill_filter(_id=str(client_id))
        await asyncio.gather(*(there.publish("r", i) for i in range(200)))  # while `here` reconnects
        await asyncio.wait_for(task, TIMEOUT)
        assert sorted(got) == list(range(200)) and len(got) == 200
        assert not m.ended


async def test_an_append_redis_refuses_fails_alone_in_its_batch(fresh_redis: RedisServer) -> None:
    """Publishes issued together run in one script call; one that Redis refuses (here its log key
    holds a string) raises BackendUnavailable, not appended, and the others are appended once."""
    async with admin(fresh_redis) as adm, Rooms(backend(fresh_redis)) as rooms:
        await adm.hset("fastware:rooms:{bad}:meta", mapping={"e": "0123456789ab", "o": 0})
        await adm.set("fastware:rooms:{bad}:log", "not a stream")
        results = await asyncio.gather(
            rooms.publish("a", 1), rooms.publish("bad", 2), rooms.publish("b", 3), return_exceptions=True
        )
        assert isinstance(results[1], BackendUnavailable), results
        assert not results[1].maybe_appended
        assert "WRONGTYPE" in str(results[1])
        assert [str(r).rsplit("-", 1)[1] for r in (results[0], results[2])] == ["1", "1"]
        assert await adm.hget("fastware:rooms:{bad}:meta", "o") == "0"
        async with rooms.join("a", since=f"{str(results[0]).rsplit('-', 1)[0]}-0") as m:
            assert [e.data for e in await take(m, 1)] == [1]
        assert await adm.xlen("fastware:rooms:{a}:log") == 1
        assert await adm.xlen("fastware:rooms:{b}:log") == 1


async def test_publishes_after_redis_lost_its_scripts_are_appended_once(fresh_redis: RedisServer) -> None:
    async with admin(fresh_redis) as adm, Rooms(backend(fresh_redis)) as rooms, rooms.join("r") as m:
        await rooms.publish("r", 0)
        await adm.script_flush()
        await asyncio.gather(*(rooms.publish("r", i) for i in range(1, 6)))
        got = await take(m, 6)
        assert sorted(e.data for e in got) == list(range(6))
        assert offsets(got) == list(range(1, 7))
        assert await adm.xlen("fastware:rooms:{r}:log") == 6
