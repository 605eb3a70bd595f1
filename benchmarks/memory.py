"""Memory benchmark: bytes per idle WebSocket object and per open connection.

Measured with tracemalloc, so the figures are exact and repeatable:

- idle object: N WebSocket objects built on one shared scope and pair of
  callables (what a server hands every connection), divided by N;
- open connection: N accepted connections, each an asyncio task running the
  text echo app and waiting in receive() on its own queue (the server's side
  of a connection, the same for every variant), divided by N; also given as
  the amount over raw ASGI.

    .venv/bin/python benchmarks/memory.py [--quick] [--count N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tracemalloc
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apps import _fastware, _raw, _starlette
from inprocess import SCOPE
from starlette.websockets import WebSocket as StarletteWebSocket

from fastware import WebSocket

APPS: dict[str, Callable[..., Awaitable[None]]] = {"raw": _raw, "starlette": _starlette, "fastware": _fastware}


async def _receive() -> Mapping[str, Any]:
    return {"type": "websocket.disconnect", "code": 1000}


async def _send(message: Mapping[str, Any]) -> None:
    pass


def _traced(build: Callable[[], Any]) -> int:
    """Bytes still allocated by build() while its result is alive."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return after - before


def idle_object(count: int) -> dict[str, float]:
    """Bytes per WebSocket object, before accept."""
    factories: dict[str, Callable[[], Any]] = {
        "starlette": lambda: StarletteWebSocket(SCOPE, _receive, _send),
        "fastware": lambda: WebSocket(SCOPE, _receive, _send),
        "validated": lambda: WebSocket(SCOPE, _receive, _send, validate=True),
    }
    for factory in factories.values():
        factory()  # first use imports and caches; not part of the figure
    result = {
        name: _traced(lambda f=factory: [f() for _ in range(count)]) / count for name, factory in factories.items()
    }
    result["fastware_sizeof"] = sys.getsizeof(WebSocket(SCOPE, _receive, _send))
    return result


async def _open_connections(app: Callable[..., Awaitable[None]], count: int) -> int:
    queues: list[asyncio.Queue[Mapping[str, Any]]] = []
    tasks: list[asyncio.Task[None]] = []

    async def send(message: Mapping[str, Any]) -> None:
        pass

    def start() -> list[Any]:
        for _ in range(count):
            queue: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
            queue.put_nowait({"type": "websocket.connect"})
            queues.append(queue)
            tasks.append(asyncio.ensure_future(app(dict(SCOPE), queue.get, send)))
        return tasks

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    start()
    for _ in range(3):  # let every task accept and reach its first receive()
        await asyncio.sleep(0)
    if not all(q.empty() for q in queues) or any(t.done() for t in tasks):
        raise RuntimeError("a benchmark connection did not reach receive()")
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    for queue in queues:
        queue.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    return used


def open_connection(count: int) -> dict[str, float]:
    """Bytes per accepted connection waiting for a message (app task, WebSocket, scope copy, queue)."""
    for app in APPS.values():
        asyncio.run(_open_connections(app, 2))  # warm up
    return {name: asyncio.run(_open_connections(app, count)) / count for name, app in APPS.items()}


def run(count: int = 10_000) -> dict[str, Any]:
    idle = idle_object(count)
    conn = open_connection(count)
    return {
        "count": count,
        "idle_object_bytes": idle,
        "open_connection_bytes": conn,
        "open_connection_over_raw_bytes": {name: size - conn["raw"] for name, size in conn.items()},
    }


def format_table(result: dict[str, Any]) -> str:
    idle, conn, over = (
        result["idle_object_bytes"],
        result["open_connection_bytes"],
        result["open_connection_over_raw_bytes"],
    )
    lines = [
        "| variant | idle WebSocket object, bytes | open connection, bytes | open connection over raw, bytes |",
        "| --- | ---: | ---: | ---: |",
        f"| raw | n/a | {conn['raw']:,.0f} | 0 |",
        f"| starlette | {idle['starlette']:,.0f} | {conn['starlette']:,.0f} | {over['starlette']:,.0f} |",
        f"| fastware | {idle['fastware']:,.0f} | {conn['fastware']:,.0f} | {over['fastware']:,.0f} |",
        f"| fastware validated | {idle['validated']:,.0f} | n/a | n/a |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, to prove the benchmark runs")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = run(50 if args.quick else args.count)
    print(json.dumps(result, indent=1) if args.json else format_table(result))


if __name__ == "__main__":
    main()
