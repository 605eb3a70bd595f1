"""The lifespan protocol for apps that have nothing to start or stop.

Uvicorn and hypercorn send lifespan events first; answering them keeps the
servers from logging that the app does not support lifespan.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any


async def lifespan(receive: Callable[[], Awaitable[Mapping[str, Any]]], send: Callable[..., Awaitable[None]]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
