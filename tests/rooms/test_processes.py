"""The chat on fastware.rooms across real processes: two uvicorn workers on one real redis-server.

Each test starts its own ``python -m uvicorn examples.chat:app`` processes on free ports (two
ports, not ``--workers 2``, so each client's worker is known), all on one redis-server started
on a free port in a temporary folder, and drives them with real ``websockets`` clients. Every
wait is bounded (``TIMEOUT`` from tests/support.py, or a multiple of it for the floods).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from support import ROOT, TIMEOUT, free_port, uvicorn_argv
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from redis_server import RedisServer, redis_available, skip_reason

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(not redis_available(), reason=skip_reason())]

FLOOD = 6 * TIMEOUT  # bound on a test's floods of messages, on a busy 2-core machine


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    # No AOF: these tests never restart Redis (tests/rooms/test_redis_faults.py does), and an fsync
    # per message would make the floods crawl on a busy machine.
    with RedisServer(aof=False) as server:
        yield server


class Worker:
    """``python -m uvicorn examples.chat:app`` on a free port, its rooms on the given Redis."""

    def __init__(self, redis_url: str, *, history: int = 1000, ping: bool = True) -> None:
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix="fastware-chat-worker-", suffix=".log")[1])
        env = dict(os.environ, PYTHONUNBUFFERED="1", FASTWARE_REDIS_URL=redis_url, FASTWARE_CHAT_HISTORY=str(history))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                uvicorn_argv("examples.chat:app", self.port, *([] if ping else ["--ws-ping-interval", "3600"])),
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"ws://127.0.0.1:{self.port}/chat/ws"

    def wait_ready(self) -> None:
        """Until the worker answers HTTP: its lifespan (the rooms, connected to Redis) has run by then."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                import urllib.request

                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/chat", timeout=1):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"the worker on port {self.port} did not answer within {TIMEOUT}s")

    def rss(self) -> int:
        """Resident memory of the worker process, in bytes (from /proc)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait(TIMEOUT)
        self.log.unlink(missing_ok=True)


@contextlib.contextmanager
def workers(redis: RedisServer, count: int = 2, **options: Any) -> Iterator[list[Worker]]:
    started = [Worker(redis.url, **options) for _ in range(count)]
    try:
        for worker in started:
            worker.wait_ready()
        yield started
    finally:
        for worker in started:
            worker.stop()


class Member:
    """A websockets client in a room, recording every event it receives."""

    def __init__(self, name: str, room: str) -> None:
        self.name = name
        self.room = room
        self.events: list[dict[str, Any]] = []
        self.count = 0  # chat messages received
        self.ws: Any = None

    @property
    def last_pos(self) -> str | None:
        return next((e["pos"] for e in reversed(self.events) if "pos" in e), None)

    def texts(self) -> list[str]:
        return [e["text"] for e in self.events if e["type"] == "message"]

    async def connect(self, worker: Worker, since: str | None = None, *, rcvbuf: int = 0, **options: Any) -> None:
        url = f"{worker.url}/{self.room}?name={self.name}" + (f"&since={since}" if since else "")
        if rcvbuf:
            # A small receive buffer (no autotuning then): a client that stops reading stalls the
            # server's sends after kilobytes, not after the megabytes the kernel would otherwise take.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", worker.port))
            options["sock"] = sock
        # No keepalive pings: under a flood a pong waits behind megabytes of queued frames, and the
        # client would give up on a server that is only busy.
        self.ws = await websockets.connect(
            url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, ping_interval=None, **options
        )
        await self.until(lambda e: e["type"] == "join" and e["name"] == self.name)

    async def next(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.events.append(event)
        self.count += event["type"] == "message"
        return event

    async def until(self, done: Any, timeout: float = TIMEOUT) -> None:
        """Receive until ``done(event)`` is true for an event; all within ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not done(await self.next(timeout)):
                pass

    async def until_texts(self, count: int, timeout: float = FLOOD) -> None:
        async with asyncio.timeout(timeout):
            while self.count < count:
                await self.next(timeout)

    async def say(self, text: str) -> None:
        await self.ws.send(json.dumps({"type": "say", "text": text}))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


@contextlib.asynccontextmanager
async def closing(*members: Member) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for member in members:
            with contextlib.suppress(Exception):
                await member.close()


def offsets(events: list[dict[str, Any]]) -> list[int]:
    return [int(e["pos"].rsplit("-", 1)[1]) for e in events if "pos" in e]


def assert_no_gap_no_duplicate(events: list[dict[str, Any]]) -> None:
    """The room's positions as one client saw them: consecutive offsets, one epoch."""
    seen = offsets(events)
    assert seen == list(range(seen[0], seen[0] + len(seen))), "a gap or a duplicate"
    assert len({e["pos"].rsplit("-", 1)[0] for e in events if "pos" in e}) == 1, "more than one epoch"


async def test_fan_out_two_workers_one_order_for_everyone(redis: RedisServer) -> None:
    with workers(redis) as (a, b):
        members = [Member(f"m{i}", "fan") for i in range(4)]
        outsider = Member("out", "other")
        async with closing(*members, outsider):
            for member, worker in zip(members, (a, b, a, b), strict=True):
                await member.connect(worker)
            await outsider.connect(a)
            # Two senders, one on each worker, 500 numbered messages each, at the same time.
            senders = {"m0": members[0], "m1": members[1]}

            async def send_all(name: str) -> None:
                for n in range(500):
                    await senders[name].say(f"{name}:{n}")

            await asyncio.gather(*(send_all(name) for name in senders))
            await asyncio.gather(*(member.until_texts(1000) for member in members))

            first = members[0].texts()
            assert len(first) == 1000
            for member in members:
                assert member.texts() == first  # the same 1,000, in the same order, everywhere
            assert sorted(first) == sorted(f"{s}:{n}" for s in senders for n in range(500))  # each exactly once
            for name in senders:
                mine = [int(text.split(":")[1]) for text in first if text.startswith(name + ":")]
                assert mine == list(range(500)), f"{name}'s messages out of send order"
            # And the same positions: one log, read by both workers.
            positions = [[e["pos"] for e in m.events if e["type"] == "message"] for m in members]
            assert all(p == positions[0] for p in positions)
            for member in members:
                assert_no_gap_no_duplicate(member.events[-1000:])
            # The other room got none of it: the first message it sees is its own.
            await outsider.say("only here")
            await outsider.until(lambda e: e["type"] == "message")
            assert outsider.texts() == ["only here"]


async def test_resume_on_the_other_worker_with_since(redis: RedisServer) -> None:
    with workers(redis) as (a, b):
        dropper, sender = Member("dropper", "resume"), Member("sender", "resume")
        async with closing(dropper, sender):
            await dropper.connect(a)
            await sender.connect(b)
            for n in range(10):
                await sender.say(str(n))
            await dropper.until_texts(10)
            k = dropper.last_pos
            await dropper.close()  # drops at position k
            for n in range(10, 60):
                await sender.say(str(n))
            await sender.until_texts(60)
            # Back, on the other worker, after k: k+1 .. k+50, then live.
            before = len(dropper.events)
            await dropper.connect(b, since=k)
            await dropper.until_texts(60)
            await sender.say("live")
            await dropper.until(lambda e: e.get("text") == "live")
            assert dropper.texts() == [str(n) for n in range(60)] + ["live"]
            assert offsets(dropper.events[before:])[0] == offsets(dropper.events[:before])[-1] + 1
            assert_no_gap_no_duplicate(dropper.events)


async def test_a_position_older_than_history_gives_the_reset(redis: RedisServer) -> None:
    with workers(redis, history=20) as (a, b):
        late, sender = Member("late", "old"), Member("sender", "old")
        async with closing(late, sender):
            await late.connect(a)
            old = late.last_pos
            await late.close()
            await sender.connect(b)
            for n in range(30):
                await sender.say(str(n))
            await sender.until_texts(30)
            before = len(late.events)
            await late.connect(b, since=old)
            again = late.events[before:]
            # Never a silent gap: the reset first, then the last events kept (history - 2), then its own join.
            assert again[0]["type"] == "reset"
            assert "no longer" in again[0]["reason"]
            assert [e.get("text") for e in again[1:-1]] == [str(n) for n in range(12, 30)]
            assert again[-1]["type"] == "join"
            assert_no_gap_no_duplicate(again[1:])


async def receive_until_closed(member: Member, timeout: float = FLOOD) -> ConnectionClosed:
    """Everything the member still receives, then the close (bounded); the ConnectionClosed that ended it."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                await member.next(timeout)
            except ConnectionClosed as closed:
                return closed


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_a_worker_dies_its_clients_resume_on_the_other_and_lose_nothing(
    redis: RedisServer, signum: signal.Signals
) -> None:
    with workers(redis) as (a, b):
        room = f"die-{signum.name}"  # each test its own room: the Redis is shared by the module
        on_a = [Member("a0", room), Member("a1", room)]
        sender = Member("b0", room)
        async with closing(*on_a, sender):
            for member in on_a:
                await member.connect(a)
            await sender.connect(b)

            async def send_all() -> None:
                for n in range(200):
                    await sender.say(str(n))
                    await asyncio.sleep(0.002)  # a steady stream, so the worker dies in the middle of it

            sending = asyncio.create_task(send_all())
            await on_a[0].until_texts(50)
            a.signal(signum)
            for member in on_a:
                closed = await receive_until_closed(member)
                if signum == signal.SIGTERM:
                    # uvicorn's shutdown closes each WebSocket with 1012; the chat says 1012 or 1001 too.
                    assert closed.rcvd is not None and closed.rcvd.code in (1001, 1012), closed
                else:
                    assert closed.rcvd is None  # killed: the connection just drops (1006)
                await member.connect(b, since=member.last_pos)
            await sending
            await sender.until_texts(200)
            for member in on_a:
                await member.until_texts(200)
                assert member.texts() == [str(n) for n in range(200)], (
                    member.name,
                    [(e["type"], e.get("text"), e.get("pos")) for e in member.events][:8],
                    len(member.events),
                )
                events = [e for e in member.events if "pos" in e]
                assert_no_gap_no_duplicate(events)
            assert a.proc.wait(TIMEOUT) in (-signal.SIGKILL, -signal.SIGTERM, 0)


class RawClient:
    """A WebSocket client on a bare TCP connection that can stop reading altogether.

    A websockets-library client that merely stops calling recv() was not enough here: 15 MB went
    to it without the worker's sends ever waiting (measured), so it was never ended. This one sends
    the handshake, then reads nothing at all until told to, so the server's sends back up through TCP.
    """

    async def connect(self, port: int, path: str) -> None:
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.writer.write(request.encode())
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101 "), head

    def stop_reading(self) -> None:
        self.writer.transport.pause_reading()  # type: ignore[attr-defined]

    async def read_until_close(self, timeout: float) -> tuple[list[dict[str, Any]], int, str]:
        """Read again: every text frame (decoded) up to the close frame, and its code and reason."""
        self.writer.transport.resume_reading()  # type: ignore[attr-defined]
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while True:
                first, second = await self.reader.readexactly(2)
                size = second & 0x7F
                if size == 126:
                    size = int.from_bytes(await self.reader.readexactly(2))
                elif size == 127:
                    size = int.from_bytes(await self.reader.readexactly(8))
                payload = await self.reader.readexactly(size)  # frames from a server are not masked
                if first & 0x0F == 0x8:
                    return events, int.from_bytes(payload[:2]), payload[2:].decode()
                events.append(json.loads(payload))

    def close(self) -> None:
        self.writer.close()


async def test_a_slow_client_is_ended_with_1013_memory_stays_bounded_and_it_resumes(redis: RedisServer) -> None:
    from fastware.rooms import RedisBackend, Rooms

    count, pad = 10_000, "x" * 1500
    # uvicorn's keepalive (a ping every 20 s, 20 s to answer) would close the silent client with 1011
    # on a busy machine before the chat's 1013: off here, so that the 1013 is what is tested.
    with workers(redis, history=2 * count, ping=False) as (a, b):
        slow, fast_a, fast_b = RawClient(), Member("fa", "flood"), Member("fb", "flood")
        async with closing(fast_a, fast_b), Rooms(RedisBackend(redis.url, history=2 * count)) as rooms:
            await slow.connect(a.port, "/chat/ws/flood?name=slow")
            slow.stop_reading()
            await fast_a.connect(a)
            await fast_b.connect(b)
            baseline = peak = a.rss()

            async def sample() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, a.rss())
                    await asyncio.sleep(0.02)

            sampler = asyncio.create_task(sample())
            readers = asyncio.gather(fast_a.until_texts(count, 3 * FLOOD), fast_b.until_texts(count, 3 * FLOOD))

            # 10,000 messages of 1.5 kB (15 MB) from the test process, on the same Redis, 16 publishes in
            # flight, while the fast clients read them; the slow client reads none of them meanwhile.
            async def publish(first: int) -> None:
                for n in range(first, count, 16):
                    # Never more than 100 ahead of the fast clients, however busy the machine: they keep
                    # up, so only the slow client can fall behind.
                    async with asyncio.timeout(FLOOD):
                        while n - min(fast_a.count, fast_b.count) > 100:
                            await asyncio.sleep(0.005)
                    data = {"type": "message", "room": "flood", "name": "pub", "text": f"{n}:{pad}"}
                    await rooms.publish("flood", data)

            await asyncio.gather(*(publish(first) for first in range(16)))
            await readers
            sampler.cancel()
            expected = fast_a.texts()  # the room's order
            assert sorted(expected) == sorted(f"{n}:{pad}" for n in range(count))  # each once
            assert fast_b.texts() == expected
            grown = peak - baseline
            # The slow member's outbox holds at most 256 events (~0.4 MB); unbounded, it would hold all 15 MB.
            assert grown < 8 * 2**20, f"worker A grew by {grown / 2**20:.1f} MiB"
            # Now the slow client reads: what TCP held, then the close that ended it.
            events, code, reason = await slow.read_until_close(FLOOD)
            slow.close()
            assert (code, reason) == (1013, "try again later: too slow to read")
            got = [e["text"] for e in events if e["type"] == "message"]
            assert got == expected[: len(got)] and len(got) < count
            # It resumes, on the other worker, after the last position it got: the rest, nothing twice.
            resumed = Member("slow", "flood")
            async with closing(resumed):
                await resumed.connect(b, since=events[-1]["pos"])
                await resumed.until_texts(count - len(got))
                assert got + resumed.texts() == expected
                assert_no_gap_no_duplicate([*events, *resumed.events])


async def test_redis_outages_through_the_chat(fresh_redis: RedisServer) -> None:
    """Redis stops and comes back with its data: nothing lost, and a message sent meanwhile is refused
    to its sender. Redis comes back without its data: every client is told (reset), never a gap."""
    with workers(fresh_redis) as (a, b):
        ann, bob = Member("ann", "outage"), Member("bob", "outage")
        async with closing(ann, bob):
            await ann.connect(a)
            await bob.connect(b)
            await ann.say("before")
            await bob.until(lambda e: e.get("text") == "before")

            fresh_redis.stop()  # a clean shutdown: the AOF keeps everything
            await ann.say("during")
            await ann.until(lambda e: e["type"] == "error", 3 * TIMEOUT)
            assert ann.events[-1]["text"] == "during" and "not sent" in ann.events[-1]["reason"]
            fresh_redis.start()
            await bob.say("after")
            for member in (ann, bob):
                await member.until(lambda e: e.get("text") == "after", 3 * TIMEOUT)
                assert member.texts() == ["before", "after"]
                assert not any(e["type"] == "reset" for e in member.events)
                assert_no_gap_no_duplicate([e for e in member.events if "pos" in e])

            fresh_redis.kill()
            fresh_redis.start(aof=False)  # back without its data: a new epoch for every room
            for member in (ann, bob):
                await member.until(lambda e: e["type"] == "reset", 3 * TIMEOUT)
            await ann.say("new epoch")
            for member in (ann, bob):
                await member.until(lambda e: e.get("text") == "new epoch", 3 * TIMEOUT)
