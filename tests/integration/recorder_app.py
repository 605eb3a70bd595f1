"""An app that remembers how the last connection ended, for tests that need the server's view.

- ``/``: echoes text until the client leaves, then records the WebSocketDisconnect's code and reason;
- ``/last``: sends the last record as JSON and closes;
- ``/reject``: closes before accept (the server answers HTTP 403).
"""

from __future__ import annotations

from typing import Any

from fastware import WebSocket, WebSocketDisconnect

last: dict[str, Any] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    ws = WebSocket(scope, receive, send)
    if scope["path"] == "/reject":
        await ws.close()
        return
    await ws.accept()
    if scope["path"] == "/last":
        await ws.send_json(last)
        await ws.close()
        return
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect as exc:
        last.clear()
        last.update(code=exc.code, reason=exc.reason)
