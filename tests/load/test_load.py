"""Load through a real uvicorn: many connections at once, every message echoed in order, no handler left hanging.

One asyncio client process drives every connection (the machine has two
cores: one for uvicorn, one for the client). Every wait is bounded; the
figures are printed (run with -s to see them) but never asserted: speed is
for benchmarks/.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import TIMEOUT
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "servers"))

from server_matrix import Server, start

CONNECTIONS = int(os.environ.get("FASTWARE_LOAD_CONNECTIONS", "500"))
MESSAGES = int(os.environ.get("FASTWARE_LOAD_MESSAGES", "100"))
# The whole load run; generous for a shared two-core machine, far below the suite's timeout.
LOAD_TIMEOUT = 6 * TIMEOUT


@pytest.fixture(scope="module")
def uvicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start("uvicorn-websockets", tmp_path_factory.mktemp("load") / "uvicorn.log") as server:
        yield server


def client(url: str) -> Any:
    # max_queue=None: a client that stops reading (as the mid-stream leavers do) would otherwise pause
    # its transport once 16 echoes are queued, never see the server's close frame, and wait close_timeout.
    return connect(url, open_timeout=LOAD_TIMEOUT, close_timeout=TIMEOUT, ping_interval=None, max_queue=None)


async def stats(server: Server) -> dict[str, int]:
    async with client(f"{server.url}/stats") as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))  # type: ignore[no-any-return]


async def settled(server: Server) -> dict[str, int]:
    """Poll /stats until every handler started so far has finished (or TIMEOUT passed); return the counts."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        counts = await stats(server)
        if counts["started"] == counts["finished"] or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.1)


async def echo_conversation(ws: ClientConnection, conn: int) -> list[str]:
    """Send MESSAGES numbered messages while reading the echoes; return the echoes in arrival order."""
    sent = [f"{conn}:{i}:{'é' * (i % 7)}" for i in range(MESSAGES)]

    async def sender() -> None:
        for message in sent:
            await ws.send(message)

    send_task = asyncio.create_task(sender())
    received = [await ws.recv() for _ in sent]
    await send_task
    return received  # type: ignore[return-value]


def test_many_connections_every_message_echoed_in_order(uvicorn: Server) -> None:
    async def one(conn: int, gate: asyncio.Event) -> bool:
        async with client(f"{uvicorn.url}/echo/text") as ws:
            await gate.wait()  # every connection open before any traffic: they really are concurrent
            received = await echo_conversation(ws, conn)
        return received == [f"{conn}:{i}:{'é' * (i % 7)}" for i in range(MESSAGES)]

    async def scenario() -> tuple[list[bool], dict[str, int], dict[str, int], float, float]:
        before = await stats(uvicorn)
        gate = asyncio.Event()
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(one(conn, gate)) for conn in range(CONNECTIONS)]
        # Open all, then release them together.
        while (await stats(uvicorn))["started"] - before["started"] < CONNECTIONS:
            await asyncio.sleep(0.05)
        t_open = time.perf_counter() - t0
        gate.set()
        t1 = time.perf_counter()
        results = await asyncio.gather(*tasks)
        t_traffic = time.perf_counter() - t1
        return results, before, await settled(uvicorn), t_open, t_traffic

    results, before, after, t_open, t_traffic = asyncio.run(asyncio.wait_for(scenario(), LOAD_TIMEOUT))
    total = CONNECTIONS * MESSAGES
    print(
        f"\nload: {CONNECTIONS} connections opened in {t_open:.2f}s; {total} messages echoed in {t_traffic:.2f}s "
        f"({2 * total / t_traffic:.0f} frames/s both ways)"
    )
    assert results.count(True) == CONNECTIONS, f"{results.count(False)} connections lost or reordered messages"
    # Every handler of this test returned once its client closed.
    assert after["started"] - before["started"] == CONNECTIONS
    assert after["finished"] - before["finished"] == CONNECTIONS, uvicorn.log_tail()


@pytest.mark.parametrize("how", ["abort", "close"])
def test_client_leaving_mid_stream_leaves_no_handler_hanging(uvicorn: Server, how: str) -> None:
    count = 50

    async def one(key: str) -> None:
        async with client(f"{uvicorn.url}/echo/text?key={key}") as ws:
            for i in range(20):
                await ws.send(f"{i}" * 1000)
            await ws.recv()  # mid-stream: echoes are still in flight both ways
            if how == "abort":
                ws.transport.abort()  # gone without a close frame
            else:
                await ws.close(1001, "leaving")

    async def record(key: str) -> dict[str, Any]:
        async with client(f"{uvicorn.url}/result?of={key}") as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 2 * TIMEOUT))  # type: ignore[no-any-return]

    async def scenario() -> list[dict[str, Any]]:
        keys = [uuid.uuid4().hex for _ in range(count)]
        await asyncio.gather(*(one(key) for key in keys))
        return await asyncio.gather(*(record(key) for key in keys))

    records = asyncio.run(asyncio.wait_for(scenario(), LOAD_TIMEOUT))
    hanging = [r for r in records if not r.get("finished")]
    assert not hanging, f"{len(hanging)} handlers still running: {hanging[:3]}"
    expected = {"code": 1006, "reason": ""} if how == "abort" else {"code": 1001, "reason": "leaving"}
    assert all(r["disconnect"] == expected for r in records), records[:3]
    assert all(1 <= r["echoed"] <= 20 for r in records)
