"""The ASGI types fastware takes: annotate an application with them, or with Starlette's.

``Scope``, ``Message`` and ``Receive`` are the very aliases of ``starlette.types``, so
the two sets are interchangeable both ways: an app annotated with either can be
mounted in Starlette or FastAPI, driven by ``fastware.testing``, and hand its
``(scope, receive, send)`` to ``fastware.WebSocket``.

``Send`` takes ``Any``, not a mapping type, on purpose. A parameter type is
contravariant: a callable is a ``Send`` only if it accepts *every* message the
alias promises. Servers and frameworks type their ``send`` differently:
Starlette with ``MutableMapping[str, Any]``, ``fastware.testing`` and many
servers with ``dict[str, Any]``, asgiref (uvicorn, hypercorn) with a union of
``TypedDict``\\ s. No mapping type is narrower than all three (a ``dict`` is a
``MutableMapping``, neither is a ``TypedDict``, a ``TypedDict`` is not a
``MutableMapping``), so with any of them as the parameter, some real ``send``
would be refused. With ``Any`` every one of them is a ``Send``, and a ``Send``
is still a ``starlette.types.Send``. Nothing is lost in practice: an
application hands ``send`` to ``WebSocket`` and sends through its methods,
which build each message from the schema and check it before it is sent.

``fastware.messages.Message`` is something else: the union of the pydantic
message models. This ``Message`` is the plain ASGI dict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send"]

#: The connection scope a server hands the application (= ``starlette.types.Scope``).
Scope: TypeAlias = MutableMapping[str, Any]
#: One ASGI event as a dict, ``type`` key first (= ``starlette.types.Message``).
Message: TypeAlias = MutableMapping[str, Any]
#: The server's ``receive()`` (= ``starlette.types.Receive``).
Receive: TypeAlias = Callable[[], Awaitable[Message]]
#: The server's ``send(message)``; accepts senders typed with ``dict``, ``MutableMapping`` or asgiref's TypedDicts.
Send: TypeAlias = Callable[[Any], Awaitable[None]]
#: An ASGI 3 application (``starlette.types.ASGIApp`` is assignable to it and back).
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]
