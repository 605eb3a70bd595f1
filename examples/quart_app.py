"""A Quart app that serves a fastware WebSocket route: the recipe of docs/frameworks.md.

Quart's ``websocket`` is a context-local object over its own queues; it keeps no
raw ASGI receive and send for fastware to use. So the WebSocket route is
dispatched in front of Quart, on ``app.asgi_app``: every other request (and
Quart's own ``@app.websocket`` routes) goes on to Quart as before.
Run it with ``uvicorn examples.quart_app:app``; it behaves as examples/starlette_app.py.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, cast

from quart import Quart

from fastware import FrameTypeError, InvalidJSONError, WebSocket, WebSocketDisconnect

app = Quart(__name__)


@app.get("/")
async def index() -> str:
    return "connect to /ws/<room>"


def stream_request(message: Any) -> int | None:
    """n if the message is ``{"stream": n}`` with an integer n, else None."""
    if isinstance(message, dict):
        fields = cast("dict[str, Any]", message)
        if fields.keys() == {"stream"} and type(fields["stream"]) is int:
            return int(fields["stream"])
    return None


async def room_socket(ws: WebSocket) -> None:
    room = ws.path_params["room"]
    await ws.accept()
    try:
        while True:
            message: Any = await ws.receive_json()
            count = stream_request(message)
            if count is not None:
                for i in range(count):
                    await ws.send_json({"i": i})
                    await asyncio.sleep(0)  # let the event loop run (see examples/starlette_app.py)
            else:
                await ws.send_json({"room": room, "echo": message})
    except WebSocketDisconnect:
        pass  # the client left: while we waited for a message, or mid-stream (a send found it gone)
    except InvalidJSONError:
        await ws.close(1007, "expected a JSON text message")
    except FrameTypeError:
        await ws.close(1003, "expected a JSON text message, got a binary frame")


class FastwareRoutes:
    """ASGI middleware: WebSocket scopes whose path matches a route go to its fastware handler, the rest to Quart."""

    def __init__(self, app: Any, routes: dict[str, Any]) -> None:
        self.app = app
        # "/ws/{room}" -> ^/ws/(?P<room>[^/]+)$
        self.routes = [
            (re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"), handler)
            for path, handler in routes.items()
        ]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            for pattern, handler in self.routes:
                if match := pattern.match(scope["path"]):
                    scope = {**scope, "path_params": match.groupdict()}
                    await handler(WebSocket(scope, receive, send))
                    return
        await self.app(scope, receive, send)


app.asgi_app = FastwareRoutes(app.asgi_app, {"/ws/{room}": room_socket})  # type: ignore[method-assign]
