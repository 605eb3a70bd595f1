"""fastware in FastAPI: ``ws: FastwareWebSocket`` in a WebSocket route's signature.

::

    from fastapi import FastAPI
    from fastware.integrations.fastapi import FastwareWebSocket

    app = FastAPI()

    @app.websocket("/ws/{room}")
    async def chat(ws: FastwareWebSocket, room: str) -> None:
        await ws.accept()
        ...

``FastwareWebSocket`` is ``Annotated[fastware.WebSocket, Depends(fastware_websocket)]``:
path parameters, query parameters and other dependencies work as in any route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi import WebSocket as FastAPIWebSocket

from fastware.integrations.starlette import from_starlette
from fastware.websocket import WebSocket

__all__ = ["FastwareWebSocket", "fastware_websocket"]


async def fastware_websocket(websocket: FastAPIWebSocket) -> WebSocket:
    """The dependency: a ``fastware.WebSocket`` over the route's raw ASGI receive and send (see from_starlette)."""
    # async: a plain def dependency would run in a worker thread.
    return from_starlette(websocket)


#: A route parameter annotated with it receives a ``fastware.WebSocket``.
FastwareWebSocket = Annotated[WebSocket, Depends(fastware_websocket)]
