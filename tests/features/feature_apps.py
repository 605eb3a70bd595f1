"""ASGI apps for the feature tests that run under real servers (imported as feature_apps:<name>)."""

from __future__ import annotations

from typing import Any

from fastware import WebSocket, WebSocketDisconnect
from fastware.origin import OriginGuard


async def timeouts(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Receive with a tiny timeout, over and over; echo each text, and answer "count" with how often it timed out.

    It says "timed out" once, after its first timeout, so the client knows
    the timeouts have begun before it sends anything.
    """
    if scope["type"] != "websocket":
        return
    ws = WebSocket(scope, receive, send)
    await ws.accept()
    count = 0
    try:
        while True:
            try:
                text = await ws.receive_text(timeout=0.001)
            except TimeoutError:
                count += 1
                if count == 1:
                    await ws.send_text("timed out")
                continue
            await ws.send_text(f"timeouts:{count}" if text == "count" else text)
    except WebSocketDisconnect:
        pass


async def _welcome(scope: dict[str, Any], receive: Any, send: Any) -> None:
    ws = WebSocket(scope, receive, send)
    await ws.accept()
    await ws.send_text("welcome")
    await ws.close()


#: A welcome app behind an origin guard that takes https://example.com only, and no missing Origin.
guarded = OriginGuard(_welcome, ["https://example.com"])
