"""Rooms benchmark: fan-out across two worker processes on one redis-server.

Three libraries fan the same messages out through the same redis-server, started
here on a free port in a temporary folder:

- *fastware*: ``fastware.rooms`` on ``RedisBackend`` (one stream per room: ordered,
  resumable, gaps detected);
- *broadcaster*: encode/broadcaster's ``redis://`` backend (PUBLISH/SUBSCRIBE);
- *channels-redis*: ``RedisPubSubChannelLayer`` with ``group_add``/``group_send``.

Two scenarios: one room with 100 members, 50 in each of two worker processes; and
1,000 rooms with 2 members each, one in each worker. A publisher process (this one)
publishes numbered messages with a few publishes in flight; each member consumes
the text of every message it receives. Reported: messages delivered per second
(deliveries to members over the time from the first publish to the last
delivery), publish-to-delivery latency (p50, p99; CLOCK_MONOTONIC is shared by the
processes), deliveries lost or out of order, and the memory one member (first
scenario) and one room with its member (second) takes in a worker, by tracemalloc.

    .venv/bin/python benchmarks/rooms.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
LIBRARIES = ("fastware", "broadcaster", "channels-redis")
PUBLISHERS = 8  # publishes in flight at once
IDLE = 10.0  # a worker stops waiting after this long without a delivery (bounds a lossy run)
START = 30.0  # bound on starting a worker and warming its members up
PAD = "x" * 64

# scenario name -> (rooms, members per room in each worker, messages)
SCENARIOS: dict[str, tuple[int, int, int]] = {
    "1 room × 100 members": (1, 50, 3_000),
    "1,000 rooms × 2 members": (1_000, 1, 20_000),
}
QUICK: dict[str, tuple[int, int, int]] = {
    "1 room × 100 members": (1, 5, 40),
    "1,000 rooms × 2 members": (20, 1, 60),
}


def _header(n: int) -> str:
    """The text a member receives: the number, the publish time, padding; fixed width, sliced without parsing JSON."""
    return f"{n:09d} {time.monotonic_ns():020d} {PAD}"


# The libraries, behind one small interface: publish a text to a room, and members that yield texts.


class Library(Protocol):
    async def __aenter__(self) -> Library: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def publish(self, room: str, text: str) -> None: ...
    def member(self, room: str) -> contextlib.AbstractAsyncContextManager[AsyncIterator[str]]: ...


class Fastware:
    def __init__(self, url: str) -> None:
        from fastware.rooms import RedisBackend, Rooms

        self.rooms = Rooms(RedisBackend(url, history=100_000, retention=600.0), outbox_limit=1_000_000)

    async def __aenter__(self) -> Fastware:
        await self.rooms.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.rooms.__aexit__(None, None, None)

    async def publish(self, room: str, text: str) -> None:
        await self.rooms.publish(room, {"h": text})

    @contextlib.asynccontextmanager
    async def member(self, room: str) -> AsyncIterator[AsyncIterator[str]]:
        async with self.rooms.join(room) as member:

            async def texts() -> AsyncIterator[str]:
                # What a WebSocket handler sends: the encoded text, never decoded (as broadcaster's
                # message); the header starts after '{"h":"'.
                async for event in member:
                    yield event.text[6:]

            yield texts()


class Broadcaster:
    def __init__(self, url: str) -> None:
        from broadcaster import Broadcast

        self.broadcast = Broadcast(url)

    async def __aenter__(self) -> Broadcaster:
        await self.broadcast.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.broadcast.disconnect()

    async def publish(self, room: str, text: str) -> None:
        await self.broadcast.publish(channel=room, message=text)

    @contextlib.asynccontextmanager
    async def member(self, room: str) -> AsyncIterator[AsyncIterator[str]]:
        async with self.broadcast.subscribe(channel=room) as subscriber:
            # broadcaster 0.3.1 sets its listener going before SUBSCRIBE completes; with redis-py 8 the
            # listener can find no subscription yet, stop and wait for a wake-up that never comes, and
            # every subscriber then waits forever. Waking it again once subscribed avoids that race.
            self.broadcast._backend._ready.set()  # type: ignore[attr-defined]

            async def texts() -> AsyncIterator[str]:
                while True:
                    yield (await subscriber.get()).message

            yield texts()


class ChannelsRedis:
    def __init__(self, url: str) -> None:
        from channels_redis.pubsub import RedisPubSubChannelLayer

        self.layer = RedisPubSubChannelLayer(hosts=[url])

    async def __aenter__(self) -> ChannelsRedis:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.layer.flush()

    async def publish(self, room: str, text: str) -> None:
        await self.layer.group_send(room, {"type": "chat.message", "h": text})

    @contextlib.asynccontextmanager
    async def member(self, room: str) -> AsyncIterator[AsyncIterator[str]]:
        channel = await self.layer.new_channel()
        await self.layer.group_add(room, channel)
        try:

            async def texts() -> AsyncIterator[str]:
                while True:
                    yield (await self.layer.receive(channel))["h"]

            yield texts()
        finally:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(room, channel)


def library(name: str, url: str) -> Library:
    kinds: dict[str, type[Fastware] | type[Broadcaster] | type[ChannelsRedis]] = {
        "fastware": Fastware,
        "broadcaster": Broadcaster,
        "channels-redis": ChannelsRedis,
    }
    return kinds[name](url)


def room_name(index: int) -> str:
    return f"bench-{index}"


# A worker process: its members, warmed up, then counting until every one has all it expects.


async def worker(name: str, url: str, rooms: int, per_room: int, messages: int) -> None:
    expected = messages // rooms
    warm = asyncio.Event()
    warmed = 0
    total = rooms * per_room
    done = asyncio.Event()
    finished = 0
    latencies: list[int] = []
    last_delivery = 0
    disorder = 0  # a delivery not after the member's previous one from the same publisher (each publishes in order)
    last_seen = time.monotonic()

    async def consume(texts: AsyncIterator[str], ready: asyncio.Event) -> None:
        nonlocal warmed, finished, last_delivery, disorder, last_seen
        got = 0
        previous = [-1] * PUBLISHERS
        is_warm = False
        async for text in texts:
            n = int(text[:9])
            if n >= 500_000_000:  # a warm-up message
                if not is_warm:
                    is_warm = True
                    warmed += 1
                    if warmed == total:
                        warm.set()
                continue
            now = time.monotonic_ns()
            latencies.append(now - int(text[10:30]))
            last_delivery = now
            last_seen = time.monotonic()
            if n <= previous[n % PUBLISHERS]:
                disorder += 1
            previous[n % PUBLISHERS] = n
            got += 1
            if got == expected:
                finished += 1
                if finished == total:
                    done.set()
                return

    lib = library(name, url)
    async with lib, contextlib.AsyncExitStack() as stack:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        streams = []
        for index in range(rooms):
            for _ in range(per_room):
                streams.append(await stack.enter_async_context(lib.member(room_name(index))))
        tasks = [asyncio.create_task(consume(texts, warm)) for texts in streams]
        await asyncio.sleep(0)
        memory = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        _say({"ready": True, "memory_bytes": memory, "members": total})
        await asyncio.wait_for(warm.wait(), START)
        _say({"warm": True})
        last_seen = time.monotonic()  # the idle bound counts from here, not from the (slower) joining
        while not done.is_set() and time.monotonic() - last_seen < IDLE:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    delivered = len(latencies)
    _say(
        {
            "delivered": delivered,
            "expected": expected * total,
            "disorder": disorder,
            "last_delivery_ns": last_delivery,
            "latencies_ns": latencies,
        }
    )


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# The driver: redis-server, two workers, the publisher.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free port in a temporary folder (no persistence); yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("no redis-server: install Debian's redis-server package")
    with tempfile.TemporaryDirectory(prefix="fastware-bench-redis-") as folder:
        port = _free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + START
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=START)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Worker:
    def __init__(self, name: str, url: str, rooms: int, per_room: int, messages: int) -> None:
        argv = [sys.executable, str(HERE), "--worker", name, "--url", url]
        argv += ["--rooms", str(rooms), "--per-room", str(per_room), "--messages", str(messages)]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        self.name = name

    async def line(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        text = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        if not text:
            raise RuntimeError(f"the {self.name} worker exited with code {self.proc.wait()}")
        return json.loads(text)  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


async def _warm_up(lib: Library, rooms: int, workers: list[Worker]) -> None:
    """Publish warm-up messages to every room until both workers say each member has one.

    Pub/sub delivers nothing published before a subscription is in place, so a
    single warm-up could be lost; the rounds repeat until both have arrived.
    """
    waiting = [asyncio.create_task(worker.line(START)) for worker in workers]
    deadline = time.monotonic() + START
    n = 500_000_000
    while not all(task.done() for task in waiting):
        for index in range(rooms):
            await lib.publish(room_name(index), _header(n))
        n += 1
        if time.monotonic() > deadline:
            raise TimeoutError("the members did not all receive a warm-up message")
        await asyncio.wait(waiting, timeout=0.2)
    for task in waiting:
        assert task.result().get("warm"), task.result()


async def _publish_all(lib: Library, rooms: int, messages: int) -> int:
    """Publish messages 0..messages-1 (message n to room n % rooms), PUBLISHERS at a time; the start time."""
    start = time.monotonic_ns()

    async def publisher(first: int) -> None:
        for n in range(first, messages, PUBLISHERS):
            await lib.publish(room_name(n % rooms), _header(n))

    await asyncio.gather(*(publisher(i) for i in range(PUBLISHERS)))
    return start


async def scenario(name: str, url: str, rooms: int, per_room: int, messages: int) -> dict[str, Any]:
    workers = [Worker(name, url, rooms, per_room, messages) for _ in range(2)]
    try:
        ready = [await worker.line(START + rooms / 20) for worker in workers]
        lib = library(name, url)
        async with lib:
            await _warm_up(lib, rooms, workers)
            start = await _publish_all(lib, rooms, messages)
            results = [await worker.line(IDLE + messages / 100) for worker in workers]
    finally:
        for worker in workers:
            worker.stop()
    latencies = sorted(ns for result in results for ns in result["latencies_ns"])
    delivered = len(latencies)
    elapsed = (max(result["last_delivery_ns"] for result in results) - start) / 1e9
    members = sum(result["members"] for result in ready)
    memory = sum(result["memory_bytes"] for result in ready)
    return {
        "delivered": delivered,
        "expected": sum(result["expected"] for result in results),
        "out_of_order": sum(result["disorder"] for result in results),
        "delivered_per_second": delivered / elapsed if elapsed > 0 else 0.0,
        "latency_ms": {
            "p50": latencies[len(latencies) // 2] / 1e6 if latencies else None,
            "p99": latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)] / 1e6 if latencies else None,
        },
        "memory_bytes_per_member": memory / members,
    }


def run(
    quick: bool = False,
    rounds: int | None = None,
    libraries: tuple[str, ...] = LIBRARIES,
    only_scenarios: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Every library in every scenario (or in those named), rounds interleaved; medians of the rounds."""
    scenarios = QUICK if quick else SCENARIOS
    if only_scenarios:
        scenarios = {title: spec for title, spec in scenarios.items() if title in only_scenarios}
    rounds = rounds or (1 if quick else 2)
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {s: {lib: [] for lib in libraries} for s in scenarios}
    with redis_server() as url:
        for round_ in range(rounds):
            shift = round_ % len(libraries)
            order = libraries[shift:] + libraries[:shift]
            for title, (rooms, per_room, messages) in scenarios.items():
                for lib in order:
                    samples[title][lib].append(asyncio.run(scenario(lib, url, rooms, per_room, messages)))
    medians: dict[str, dict[str, dict[str, Any]]] = {}
    for title, by_lib in samples.items():
        medians[title] = {}
        for lib, runs in by_lib.items():
            medians[title][lib] = {
                "delivered_per_second": statistics.median(r["delivered_per_second"] for r in runs),
                "p50_ms": statistics.median(r["latency_ms"]["p50"] or 0 for r in runs),
                "p99_ms": statistics.median(r["latency_ms"]["p99"] or 0 for r in runs),
                "lost": sum(r["expected"] - r["delivered"] for r in runs),
                "out_of_order": sum(r["out_of_order"] for r in runs),
                "memory_bytes_per_member": statistics.median(r["memory_bytes_per_member"] for r in runs),
            }
    return {
        "rounds": rounds,
        "publishers": PUBLISHERS,
        "scenarios": {
            title: {"rooms": r, "members_per_room": 2 * k, "messages": m} for title, (r, k, m) in scenarios.items()
        },
        "medians": medians,
        "samples": samples,
    }


def run_or_why(quick: bool = False) -> tuple[dict[str, Any] | None, str]:
    """``run()``, or None and the reason it cannot run here (no redis-server); for benchmarks/run.py."""
    if shutil.which("redis-server") is None:
        return None, "no redis-server here (Debian: apt-get install redis-server)."
    result = run(quick=quick)
    print(format_table(result), flush=True)
    return result, ""


def format_table(result: dict[str, Any]) -> str:
    lines = [
        "| scenario | library | delivered msg/s | p50 ms | p99 ms | lost | out of order | memory per member |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for title, by_lib in result["medians"].items():
        for lib, m in by_lib.items():
            lines.append(
                f"| {title} | {lib} | {m['delivered_per_second']:,.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} "
                f"| {m['lost']:,} | {m['out_of_order']:,} | {m['memory_bytes_per_member']:,.0f} B |"
            )
    return "\n".join(lines)


def page_section(result: dict[str, Any] | None, error: str = "") -> str:
    """The rooms section of docs/performance.md (benchmarks/run.py appends it)."""
    if result is None:
        return f"\n## Rooms across processes\n\nNot run: {error}\n"
    ratio = {
        title: by_lib["fastware"]["delivered_per_second"] / by_lib["broadcaster"]["delivered_per_second"]
        for title, by_lib in result["medians"].items()
        if "fastware" in by_lib and by_lib.get("broadcaster", {}).get("delivered_per_second")
    }
    ratios = "; ".join(f"{title}: {value:.2f}× broadcaster's rate" for title, value in ratio.items())
    return f"""
## Rooms across processes

`benchmarks/rooms.py`: the same fan-out through `fastware.rooms` on `RedisBackend` (a stream per
room: one order, resumable, gaps detected), encode/broadcaster's `redis://` backend (pub/sub) and
channels-redis's `RedisPubSubChannelLayer` (`group_send`), on one redis-server started for the run.
Two worker processes hold the members (half each); this process publishes numbered messages,
{result["publishers"]} publishes in flight. *delivered msg/s* counts deliveries to members from the
first publish to the last delivery; latency is publish to delivery, under that full load. *lost*
and *out of order* are summed over {result["rounds"]} rounds (medians otherwise). Memory per member
is tracemalloc's count in a worker while its members join, divided by its members (in the second
scenario each worker's member is alone in its room, so it is the memory of a room and a member).
{ratios}.

{format_table(result)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, to prove the benchmark runs")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--only", nargs="+", choices=LIBRARIES, default=LIBRARIES, help="the libraries to run")
    parser.add_argument(
        "--scenario", nargs="+", choices=tuple(SCENARIOS), default=(), help="the scenarios to run (default: all)"
    )
    parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--rooms", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--per-room", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.worker, args.url, args.rooms, args.per_room, args.messages))
        return
    result = run(quick=args.quick, rounds=args.rounds, libraries=tuple(args.only), only_scenarios=tuple(args.scenario))
    if args.json:
        slim = {k: v for k, v in result.items() if k != "samples"}
        print(json.dumps(slim, indent=1))
    else:
        print(format_table(result))


if __name__ == "__main__":
    main()
