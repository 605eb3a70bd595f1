"""An echo server on plain ASGI with fastware.

Every text, binary or JSON message comes back as it was sent. Paths:

- ``/`` (any other path too): text and binary frames are echoed as they came;
- ``/json``: each text frame is decoded as JSON and sent back re-encoded.

The first subprotocol the client offers that the app knows ("echo", "json")
is accepted. A text message ``close:<code>[:<reason>]`` makes the app close
with that code and reason, so clients can test close handling.
"""

from __future__ import annotations

from typing import Any

from examples.lifespan import lifespan as _lifespan
from fastware import WebSocket, WebSocketDisconnect

KNOWN_SUBPROTOCOLS = ("echo", "json")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "websocket":
        await _not_found(send)
        return
    ws = WebSocket(scope, receive, send)
    offered = scope.get("subprotocols") or []
    subprotocol = next((p for p in offered if p in KNOWN_SUBPROTOCOLS), None)
    await ws.accept(subprotocol)
    try:
        if scope["path"] == "/json":
            while True:
                await ws.send_json(await ws.receive_json())
        while True:
            message = await ws._receive_data()
            text = message.get("text")
            if text is not None and text.startswith("close:"):
                _, code, *reason = text.split(":", 2)
                await ws.close(int(code), reason=reason[0] if reason else None)
                return
            if text is not None:
                await ws.send_text(text)
            else:
                await ws.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        pass


async def _not_found(send: Any) -> None:
    body = b"This is a WebSocket endpoint: connect with ws://\n"
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
