"""Measure what validated mode costs per message over the default mode.

Not a test (pytest does not collect it): run it by hand,
``.venv/bin/python tests/messages/bench_validated_mode.py``. No-op ASGI
callables, so only fastware's own work is timed; each figure is the median of
ROUNDS rounds of N calls, in nanoseconds per message.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support import make_scope

from fastware import WebSocket

N = 50_000
ROUNDS = 9
TEXT = {"type": "websocket.receive", "text": "hello"}
BINARY = {"type": "websocket.receive", "bytes": b"hello"}


async def connected(validate: bool, frame: dict[str, Any]) -> WebSocket:
    messages = iter([{"type": "websocket.connect"}])

    async def receive() -> dict[str, Any]:
        return next(messages, frame)

    async def send(message: Any) -> None:
        pass

    ws = WebSocket(make_scope(), receive, send, validate=validate)
    await ws.accept()
    return ws


async def per_message(action: Callable[[WebSocket], Awaitable[Any]], ws: WebSocket) -> float:
    start = time.perf_counter()
    for _ in range(N):
        await action(ws)
    return (time.perf_counter() - start) / N * 1e9


ACTIONS: dict[str, tuple[dict[str, Any], Callable[[WebSocket], Awaitable[Any]]]] = {
    "send_text": (TEXT, lambda ws: ws.send_text("hello")),
    "send_bytes": (TEXT, lambda ws: ws.send_bytes(b"hello")),
    "receive_text": (TEXT, lambda ws: ws.receive_text()),
    "receive_bytes": (BINARY, lambda ws: ws.receive_bytes()),
}


async def main() -> None:
    print(f"{'ns per message':16} {'default':>8} {'validated':>10} {'extra':>7}")
    for name, (frame, action) in ACTIONS.items():
        rounds: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(ROUNDS):
            for validate in (False, True):  # interleaved, so drift in machine load hits both alike
                rounds[validate].append(await per_message(action, await connected(validate, frame)))
        default, validated = statistics.median(rounds[False]), statistics.median(rounds[True])
        print(f"{name:16} {default:8.0f} {validated:10.0f} {validated - default:7.0f}")


if __name__ == "__main__":
    asyncio.run(main())
