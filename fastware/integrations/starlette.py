"""fastware in Starlette: a route whose handler takes a ``fastware.WebSocket``.

::

    from starlette.applications import Starlette
    from fastware.integrations.starlette import route

    async def chat(ws: fastware.WebSocket) -> None:
        await ws.accept()
        ...

    app = Starlette(routes=[route("/ws/{room}", chat)])

``fastware.integrations.asgi.endpoint`` does the same without importing
Starlette (``WebSocketRoute(path, endpoint(chat))``, ``Router.add_websocket_route``);
``from_starlette`` wraps a Starlette WebSocket a function endpoint was given.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketState

from fastware.errors import WebSocketStateError
from fastware.integrations.asgi import Endpoint, Handler, endpoint
from fastware.websocket import WebSocket

__all__ = ["Endpoint", "endpoint", "from_starlette", "route"]


def route(
    path: str, handler: Handler, *, name: str | None = None, middleware: Sequence[Middleware] | None = None
) -> WebSocketRoute:
    """A Starlette ``WebSocketRoute`` whose handler gets a ``fastware.WebSocket``; path parameters work as usual."""
    return WebSocketRoute(path, endpoint(handler), name=name, middleware=middleware)


def from_starlette(websocket: StarletteWebSocket) -> WebSocket:
    """A ``fastware.WebSocket`` over the connection a Starlette (or FastAPI) ``WebSocket`` wraps.

    It is built on the raw ASGI ``receive`` and ``send`` that Starlette's WebSocket
    was given, not on its public ``receive()``/``send()``: those turn the server's
    OSError on a send after the client vanished into Starlette's own
    ``WebSocketDisconnect``, which fastware's ``except WebSocketDisconnect`` does not
    catch (and refuse to be called after a disconnect with Starlette's
    ``WebSocketDisconnected``). Use one of the two objects per connection: call it
    before the Starlette WebSocket has received or sent anything.
    """
    if websocket.client_state is not WebSocketState.CONNECTING or (
        websocket.application_state is not WebSocketState.CONNECTING
    ):
        raise WebSocketStateError(
            "wrap a Starlette WebSocket",
            f"client {websocket.client_state.name}, application {websocket.application_state.name}",
            "wrap it before its accept(), receive() or send() is called: two state machines cannot share a connection",
        )
    try:
        # Private by name, and the reason this module exists: see the docstring.
        receive, send = websocket._receive, websocket._send  # pyright: ignore[reportPrivateUsage]
    except AttributeError:  # pragma: no cover - a Starlette that renamed them; tests pin the supported range
        raise RuntimeError(
            "this Starlette's WebSocket keeps no _receive/_send; mount the handler with "
            "fastware.integrations.asgi.endpoint instead"
        ) from None
    return WebSocket(websocket.scope, receive, send)
