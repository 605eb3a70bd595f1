"""fastware.WebSocket inside FastAPI and Starlette routes, driven in memory by fastware.testing.

Each handler records what it saw; the tests check path parameters and
dependencies still work, and that every disconnect, a send after the client
left included, reaches the handler as fastware's WebSocketDisconnect.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Annotated, Any

import pytest
import starlette.websockets
from fastapi import Depends, FastAPI, Query
from starlette.applications import Starlette
from starlette.routing import Mount, Router, WebSocketRoute
from support import ROOT, TIMEOUT

import fastware
from fastware import WebSocket, WebSocketDisconnect, WebSocketStateError
from fastware.integrations.asgi import Endpoint, endpoint
from fastware.integrations.fastapi import FastwareWebSocket
from fastware.integrations.starlette import from_starlette, route
from fastware.testing import connect

Record = dict[str, Any]


async def streamer(ws: WebSocket, record: Record) -> None:
    """Send until the client is gone, never receiving: only send() can tell."""
    await ws.accept()
    await ws.send_text("ready")
    try:
        for i in range(100_000):
            await ws.send_json({"i": i})
            await asyncio.sleep(0)  # as an app awaiting anything else would: the client gets to leave
        record["finished_stream"] = True
    except WebSocketDisconnect as exc:
        record["disconnect"] = (type(exc), exc.code)


async def waiter(ws: WebSocket, record: Record) -> None:
    await ws.accept()
    try:
        await ws.receive_text()
    except WebSocketDisconnect as exc:
        record["disconnect"] = (type(exc), exc.code, exc.reason)


async def leave_after_ready(app: Any, path: str, code: int = 1000, reason: str = "") -> None:
    async with connect(app, path, timeout=TIMEOUT) as client:
        assert await client.receive_text() == "ready"
        await client.close(code, reason)


# FastAPI ----------------------------------------------------------------------


async def current_user(token: str = Query("anonymous")) -> str:
    return f"user:{token}"


def fastapi_app(record: Record) -> FastAPI:
    app = FastAPI()

    @app.websocket("/rooms/{room}")
    async def room(
        ws: FastwareWebSocket, room: str, user: Annotated[str, Depends(current_user)], limit: int = 3
    ) -> None:
        record.update(type=type(ws), room=room, user=user, limit=limit, path_params=ws.path_params)
        await ws.accept()
        await ws.send_json({"room": room, "user": user})
        await ws.close(4000, "bye")

    @app.websocket("/stream")
    async def stream(ws: FastwareWebSocket) -> None:
        await streamer(ws, record)

    @app.websocket("/wait")
    async def wait(ws: FastwareWebSocket) -> None:
        await waiter(ws, record)

    @app.websocket("/twice")
    async def twice(a: FastwareWebSocket, b: FastwareWebSocket) -> None:
        record["same"] = a is b  # FastAPI caches a dependency per connection: one object
        await a.accept()
        await a.close()

    return app


async def test_fastapi_handler_gets_a_fastware_websocket_with_params_and_dependencies() -> None:
    record: Record = {}
    async with connect(fastapi_app(record), "/rooms/lobby?token=ann&limit=5", timeout=TIMEOUT) as client:
        assert await client.receive_json() == {"room": "lobby", "user": "user:ann"}
        with pytest.raises(fastware.WebSocketDisconnect):
            await client.receive_text()
    assert (client.close_code, client.close_reason) == (4000, "bye")
    assert record == {
        "type": WebSocket,
        "room": "lobby",
        "user": "user:ann",
        "limit": 5,
        "path_params": {"room": "lobby"},
    }


async def test_fastapi_send_after_the_client_left_is_fastwares_disconnect() -> None:
    record: Record = {}
    await leave_after_ready(fastapi_app(record), "/stream")
    assert record == {"disconnect": (fastware.WebSocketDisconnect, 1006)}


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (4001, "gone ✓"), (1006, "")])
async def test_fastapi_client_close_is_fastwares_disconnect(code: int, reason: str) -> None:
    record: Record = {}
    async with connect(fastapi_app(record), "/wait", timeout=TIMEOUT) as client:
        await client.close(code, reason)
    assert record["disconnect"] == (fastware.WebSocketDisconnect, code, reason)


async def test_fastapi_two_parameters_share_one_websocket() -> None:
    record: Record = {}
    async with connect(fastapi_app(record), "/twice", timeout=TIMEOUT) as client:
        with pytest.raises(fastware.WebSocketDisconnect):
            await client.receive_text()
    assert record["same"] is True


def test_fastapi_plain_fastware_annotation_still_fails_so_the_dependency_is_needed() -> None:
    # What the issue met: FastAPI cannot build a parameter of a type it does not know.
    app = FastAPI()
    with pytest.raises(Exception, match="Invalid args for response field"):

        @app.websocket("/ws")
        async def handler(ws: WebSocket) -> None:
            pass


# Starlette ------------------------------------------------------------------


async def room_handler(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_json({"room": ws.path_params["room"], "type": type(ws).__name__})
    await ws.close(4000, "bye")


def starlette_app(record: Record) -> Starlette:
    async def stream(ws: WebSocket) -> None:
        await streamer(ws, record)

    async def wait(ws: WebSocket) -> None:
        await waiter(ws, record)

    async def classic(websocket: starlette.websockets.WebSocket) -> None:
        # A Starlette function endpoint that switches to fastware at its first line.
        await streamer(from_starlette(websocket), record)

    router = Router()
    router.add_websocket_route("/router/{room}", endpoint(room_handler))
    return Starlette(
        routes=[
            route("/route/{room}", room_handler),
            WebSocketRoute("/endpoint/{room}", endpoint(room_handler)),
            route("/stream", stream),
            route("/wait", wait),
            WebSocketRoute("/classic", classic),
            Mount("/mounted", routes=[route("/{room}", room_handler)]),
            Mount("", app=router),
        ]
    )


@pytest.mark.parametrize("prefix", ["/route", "/endpoint", "/router", "/mounted"])
async def test_starlette_routes_give_a_fastware_websocket(prefix: str) -> None:
    async with connect(starlette_app({}), f"{prefix}/lobby", timeout=TIMEOUT) as client:
        assert await client.receive_json() == {"room": "lobby", "type": "WebSocket"}
        with pytest.raises(fastware.WebSocketDisconnect):
            await client.receive_text()
    assert (client.close_code, client.close_reason) == (4000, "bye")


@pytest.mark.parametrize("path", ["/stream", "/classic"])
async def test_starlette_send_after_the_client_left_is_fastwares_disconnect(path: str) -> None:
    record: Record = {}
    await leave_after_ready(starlette_app(record), path)
    assert record == {"disconnect": (fastware.WebSocketDisconnect, 1006)}


async def test_starlette_client_close_is_fastwares_disconnect() -> None:
    record: Record = {}
    async with connect(starlette_app(record), "/wait", timeout=TIMEOUT) as client:
        await client.close(4002, "later")
    assert record["disconnect"] == (fastware.WebSocketDisconnect, 4002, "later")


def test_route_names_and_endpoint_forms() -> None:
    assert route("/x", room_handler).name == "room_handler"
    assert isinstance(endpoint(room_handler), Endpoint)
    assert endpoint(validate=True)(room_handler).handler is room_handler
    assert repr(endpoint(room_handler)) == "<fastware endpoint room_handler>"


async def test_endpoint_refuses_an_http_scope() -> None:
    async def receive() -> dict[str, Any]:
        raise AssertionError

    async def send(message: Any) -> None:
        raise AssertionError

    with pytest.raises(RuntimeError, match="cannot serve a 'http' scope"):
        await endpoint(room_handler)({"type": "http"}, receive, send)


async def test_from_starlette_refuses_a_websocket_already_in_use() -> None:
    record: Record = {}

    async def used(websocket: starlette.websockets.WebSocket) -> None:
        await websocket.accept()
        try:
            from_starlette(websocket)
        except WebSocketStateError as exc:
            record["error"] = str(exc)
        await websocket.close()

    async with connect(Starlette(routes=[WebSocketRoute("/", used)]), "/", timeout=TIMEOUT) as client:
        with pytest.raises(fastware.WebSocketDisconnect):
            await client.receive_text()
    assert "wrap it before its accept()" in record["error"]


async def test_why_not_the_public_methods_starlettes_exception_escapes() -> None:
    # The trap the integration avoids: over Starlette's public send(), the server's OSError becomes
    # Starlette's WebSocketDisconnect, which `except fastware.WebSocketDisconnect` does not catch.
    record: Record = {}

    async def public(websocket: starlette.websockets.WebSocket) -> None:
        ws = WebSocket(websocket.scope, websocket.receive, websocket.send)
        try:
            await streamer(ws, record)
        except Exception as exc:
            record["escaped"] = type(exc)

    await leave_after_ready(Starlette(routes=[WebSocketRoute("/", public)]), "/")
    assert record == {"escaped": starlette.websockets.WebSocketDisconnect}
    assert not issubclass(starlette.websockets.WebSocketDisconnect, fastware.WebSocketDisconnect)


# Imports ----------------------------------------------------------------------

FRAMEWORKS = ("starlette", "fastapi", "litestar", "quart", "granian", "anyio", "httpx")


def test_importing_fastware_imports_no_framework() -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import fastware, fastware.testing, fastware.messages, fastware.origin, fastware.integrations
        import fastware.integrations.asgi
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {FRAMEWORKS!r})
        print(loaded)
        import fastware.integrations.starlette
        print("starlette" in sys.modules, "fastapi" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "True False"]


def test_the_docs_page_includes_the_tested_examples() -> None:
    # The recipes on docs/frameworks.md are these files, pulled in by pymdownx.snippets. The fences use the
    # brace form ({.python}) so that ruff's Markdown formatting leaves the snippet lines alone.
    page = (ROOT / "docs" / "frameworks.md").read_text()
    for name in ("fastapi_app", "starlette_app", "litestar_app", "quart_app"):
        assert f'```{{.python title="examples/{name}.py"}}\n--8<-- "examples/{name}.py"\n```' in page
