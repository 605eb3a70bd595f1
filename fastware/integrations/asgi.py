"""A WebSocket handler ``async def handler(ws: fastware.WebSocket)`` as an ASGI application.

Framework-free: the adapter builds the ``fastware.WebSocket`` on the raw ASGI
``(scope, receive, send)`` the router hands it, so every disconnect, a failed
send included, reaches the handler as fastware's own ``WebSocketDisconnect``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, overload

from fastware.types import Receive, Scope, Send
from fastware.websocket import WebSocket

__all__ = ["Endpoint", "Handler", "endpoint"]

#: What ``endpoint`` adapts: a coroutine function taking the connection.
Handler = Callable[[WebSocket], Awaitable[None]]
JSONDumps = Callable[[Any], str | bytes]
JSONLoads = Callable[[str | bytes], Any]


class Endpoint:
    """An ASGI app that runs ``handler(fastware.WebSocket(scope, receive, send))`` on WebSocket scopes.

    A class instance, not a function, on purpose: Starlette's ``WebSocketRoute``
    mounts a non-function endpoint as a plain ASGI app, where a function would be
    called with Starlette's own WebSocket.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        validate: bool = False,
        json_dumps: JSONDumps | None = None,
        json_loads: JSONLoads | None = None,
    ) -> None:
        self.handler = handler
        self._options: dict[str, Any] = {"validate": validate, "json_dumps": json_dumps, "json_loads": json_loads}
        functools.update_wrapper(self, handler)  # routers name the route after __name__

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "websocket":
            raise RuntimeError(
                f"{self.handler.__qualname__} is a fastware WebSocket endpoint; "
                f"it cannot serve a {scope.get('type')!r} scope"
            )
        await self.handler(WebSocket(scope, receive, send, **self._options))

    def __repr__(self) -> str:
        return f"<fastware endpoint {self.handler.__qualname__}>"


@overload
def endpoint(handler: Handler, /) -> Endpoint: ...
@overload
def endpoint(
    *, validate: bool = False, json_dumps: JSONDumps | None = None, json_loads: JSONLoads | None = None
) -> Callable[[Handler], Endpoint]: ...
def endpoint(
    handler: Handler | None = None,
    /,
    *,
    validate: bool = False,
    json_dumps: JSONDumps | None = None,
    json_loads: JSONLoads | None = None,
) -> Endpoint | Callable[[Handler], Endpoint]:
    """Turn ``async def handler(ws: fastware.WebSocket)`` into an ASGI app; usable as a decorator.

    ``@endpoint`` or ``@endpoint(validate=True)``; the keyword arguments go to
    ``fastware.WebSocket``.
    """

    def wrap(handler: Handler) -> Endpoint:
        return Endpoint(handler, validate=validate, json_dumps=json_dumps, json_loads=json_loads)

    return wrap if handler is None else wrap(handler)
