"""User code written against fastware's public API, type-checked strictly by scripts/typecheck.sh.

It is never run: mypy --strict and pyright --strict read it, as they would read an
application. Each block is a way people hold the ASGI callables: Starlette's types,
fastware's own, asgiref's TypedDicts (uvicorn, hypercorn), FastAPI's WebSocket, the
in-memory test client, and the message models. assert_type() pins what the API returns,
so a return type that decays to Any fails the check too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, assert_type

import asgiref.typing
import starlette.types
from fastapi import FastAPI
from fastapi import WebSocket as FastAPIWebSocket
from starlette.applications import Starlette
from starlette.routing import Mount

import fastware
import fastware.types
from fastware import WebSocket, WebSocketDisconnect, messages
from fastware.origin import OriginGuard
from fastware.testing import Client, HandshakeRejected, connect


# Starlette's types, as FastAPI and Starlette users annotate a raw ASGI app.
async def starlette_typed(
    scope: starlette.types.Scope, receive: starlette.types.Receive, send: starlette.types.Send
) -> None:
    ws = WebSocket(scope, receive, send)
    await ws.accept(subprotocol=None, headers=[(b"x-room", b"lobby")])
    try:
        async for text in ws.iter_text():
            assert_type(text, str)
            await ws.send_text(text)
    except WebSocketDisconnect as exc:
        assert_type(exc.code, int)
    assert_type(ws.close_code, int | None)


# fastware's own aliases: the same app, and its scope/receive/send go on to Starlette code.
async def fastware_typed(scope: fastware.Scope, receive: fastware.Receive, send: fastware.Send) -> None:
    ws = WebSocket(scope, receive, send, json_loads=lambda data: data)
    await ws.accept()
    data = await ws.receive_json(timeout=30.0)
    await ws.send_json({"echo": data}, mode="binary")
    assert_type(await ws.receive_bytes(), bytes)
    assert_type(ws.headers, dict[str, str])
    assert_type(ws.path_params, dict[str, Any])
    assert_type(ws.query_string, str)
    assert_type(ws.connection_state, fastware.State)
    assert_type(ws.state, fastware.StateNamespace)
    await ws.close(4000, reason="bye")
    # fastware's aliases are Starlette's: they pass straight on.
    starlette_scope: starlette.types.Scope = scope
    starlette_receive: starlette.types.Receive = receive
    starlette_send: starlette.types.Send = send
    await starlette_typed(starlette_scope, starlette_receive, starlette_send)


# A send typed with dict, as fastware.testing and many servers type theirs.
async def dict_send(message: dict[str, Any]) -> None:
    pass


async def dict_receive() -> dict[str, Any]:
    return {"type": "websocket.connect"}


def with_dict_callables(scope: dict[str, Any]) -> WebSocket:
    send: fastware.types.Send = dict_send
    receive: fastware.types.Receive = dict_receive
    assert send is not None and receive is not None
    return WebSocket(scope, dict_receive, dict_send)


# asgiref's TypedDicts, as uvicorn and hypercorn type their callables.
def with_asgiref(
    scope: asgiref.typing.WebSocketScope,
    receive: asgiref.typing.ASGIReceiveCallable,
    send: asgiref.typing.ASGISendCallable,
) -> WebSocket:
    return WebSocket(scope, receive, send)


# FastAPI: a route handler hands its Starlette WebSocket's callables to fastware.
api = FastAPI()


@api.websocket("/ws/{room}")
async def fastapi_route(websocket: FastAPIWebSocket, room: str) -> None:
    ws = WebSocket(websocket.scope, websocket.receive, websocket.send)
    await ws.accept()
    await ws.send_json({"room": room})
    await ws.close()


# Mounting fastware-typed apps in Starlette, and guarding them.
guarded = OriginGuard(fastware_typed, ["https://example.com"], allow_missing=True)
starlette_app = Starlette(routes=[Mount("/raw", app=fastware_typed), Mount("/guarded", app=guarded)])


# The message models.
async def typed_messages(ws: WebSocket) -> None:
    message = await ws.receive_message(timeout=1.0)
    if isinstance(message, messages.WebSocketReceive):
        assert_type(message.text, str | None)
    parsed = messages.parse({"type": "websocket.close", "code": 4000})
    if isinstance(parsed, messages.WebSocketClose):
        assert_type(parsed.code, int)
    await ws.send_message(messages.WebSocketClose(code=4000, reason="bye"))
    raw: dict[str, Any] = messages.to_asgi(messages.WebSocketSend(text="hi"))
    scope_model = messages.parse_scope({"type": "websocket", "path": "/"})
    assert_type(scope_model, messages.WebSocketScope)
    assert raw


# The in-memory test client, driving apps annotated every way above and whole frameworks.
async def test_apps() -> AsyncIterator[str]:
    for app in (starlette_typed, fastware_typed, api, starlette_app, guarded):
        async with connect(app, "/ws/lobby?x=1", headers={"origin": "https://example.com"}, timeout=2.0) as client:
            assert_type(client, Client)
            await client.send_text("hi")
            yield await client.receive_text()
            await client.send_json({"stream": 3})
            assert_type(await client.receive_json(), Any)
            await client.close(1000, "bye")
            assert_type(client.close_code, int | None)
    try:
        async with connect(fastware_typed) as client:
            pass
    except HandshakeRejected as exc:
        assert_type(exc.status, int)
        assert_type(exc.headers, list[tuple[bytes, bytes]])


assert_type(fastware.WebSocketError, type[fastware.WebSocketError])
