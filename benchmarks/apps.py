"""The echo apps the end-to-end benchmark serves: raw ASGI, Starlette, fastware.

Each echoes every text frame back as it came, until the client disconnects.
Serve one with uvicorn, e.g. ``uvicorn --app-dir benchmarks apps:fastware_app``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect

from fastware import WebSocket, WebSocketDisconnect

Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
App = Callable[[Mapping[str, Any], Receive, Send], Awaitable[None]]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _websocket_only(handler: App) -> App:
    async def app(scope: Mapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await handler(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)
        else:
            raise RuntimeError(f"the benchmark apps serve WebSocket only, not {scope['type']!r}")

    return app


async def _raw(scope: Mapping[str, Any], receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        await send({"type": "websocket.send", "text": message["text"]})


async def _starlette(scope: Mapping[str, Any], receive: Receive, send: Send) -> None:
    ws = StarletteWebSocket(scope, receive, send)  # type: ignore[arg-type]
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except StarletteDisconnect:
        pass


async def _fastware(scope: Mapping[str, Any], receive: Receive, send: Send) -> None:
    ws = WebSocket(scope, receive, send)
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect:
        pass


raw_app = _websocket_only(_raw)
starlette_app = _websocket_only(_starlette)
fastware_app = _websocket_only(_fastware)

APPS = {"raw": "apps:raw_app", "starlette": "apps:starlette_app", "fastware": "apps:fastware_app"}
