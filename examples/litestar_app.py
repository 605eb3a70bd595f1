"""A Litestar app whose WebSocket route gets a fastware.WebSocket: the recipe of docs/frameworks.md.

Litestar's own ``WebSocket`` wraps receive and send in its state checks, so
fastware is given the raw ASGI callables instead, through an ``asgi`` route
handler (Litestar still matches the path and puts ``{room}`` in ``path_params``).
Run it with ``uvicorn examples.litestar_app:app``; it behaves as examples/starlette_app.py.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from litestar import Litestar, asgi
from litestar.types import Receive, Scope, Send

from fastware import FrameTypeError, InvalidJSONError, WebSocket, WebSocketDisconnect


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


# Litestar reads the handler's annotations: the ASGI triple must be typed with its types.
# copy_scope=False: the handler shares the scope (and so scope["state"], ws.state) with Litestar.
@asgi("/ws/{room:str}", copy_scope=False)
async def room_route(scope: Scope, receive: Receive, send: Send) -> None:
    await room_socket(WebSocket(scope, receive, send))


app = Litestar(route_handlers=[room_route])
