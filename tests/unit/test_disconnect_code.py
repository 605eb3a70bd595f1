"""A websocket.disconnect without a code reads as 1000 on every receive path; a code the server sends passes unchanged.

The default is the schema's (websocket.disconnect 'code'), read from the generated metadata:
tests/codegen/test_drill.py changes it there and checks every path below follows. The suite runs
with the C fast path and again with FASTWARE_NO_SPEEDUPS=1 (scripts/test.sh), so each path is
proved on both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from support import FakeServer, make_scope

from fastware import WebSocket, WebSocketDisconnect
from fastware._generated import metadata
from fastware.testing import connect

WS_1000_NORMAL_CLOSURE = 1000

NO_CODE = {
    "missing": {"type": "websocket.disconnect"},
    "none (daphne)": {"type": "websocket.disconnect", "code": None},
    "none, reason none": {"type": "websocket.disconnect", "code": None, "reason": None},
}
SENT_CODES = (1000, 1001, 1005, 1006, 4000, 4999)


async def _accepted(message: dict[str, Any]) -> WebSocket:
    server = FakeServer({"type": "websocket.connect"}, message)
    ws = WebSocket(make_scope(), server.receive, server.send)
    await ws.accept()
    return ws


async def _iterate(ws: WebSocket, name: str) -> None:
    async for _ in getattr(ws, name)():
        pass


# Each receive path: how it reports the disconnect, as (code, reason) or the close_code it leaves.
RAISING: dict[str, Callable[[WebSocket], Awaitable[Any]]] = {
    "receive_text": lambda ws: ws.receive_text(),
    "receive_bytes": lambda ws: ws.receive_bytes(),
    "receive_json": lambda ws: ws.receive_json(),
    "receive_json binary": lambda ws: ws.receive_json(mode="binary"),
    "receive_text with timeout": lambda ws: ws.receive_text(timeout=5),
    "receive_bytes with timeout": lambda ws: ws.receive_bytes(timeout=5),
    "_receive_data": lambda ws: ws._receive_data(),
}
ITERATORS = ("iter_text", "iter_bytes", "iter_json")


def test_the_default_is_the_schemas_and_it_is_1000() -> None:
    assert metadata.MESSAGES["websocket.disconnect"]["keys"]["code"]["default"] == WS_1000_NORMAL_CLOSURE
    assert WebSocketDisconnect().code == WS_1000_NORMAL_CLOSURE  # as documented


@pytest.mark.parametrize("message", NO_CODE.values(), ids=NO_CODE.keys())
@pytest.mark.parametrize("path", RAISING.keys())
async def test_receive_methods_raise_1000_for_a_disconnect_without_code(path: str, message: dict[str, Any]) -> None:
    ws = await _accepted(message)
    with pytest.raises(WebSocketDisconnect) as info:
        await RAISING[path](ws)
    assert (info.value.code, info.value.reason) == (WS_1000_NORMAL_CLOSURE, "")
    assert (ws.close_code, ws.close_reason) == (WS_1000_NORMAL_CLOSURE, "")
    # Every later receive, of any kind, says the same without asking the server again.
    for later in (*RAISING.values(), lambda ws: ws.receive_raw()):
        with pytest.raises(WebSocketDisconnect) as again:
            await later(ws)
        assert again.value.code == WS_1000_NORMAL_CLOSURE


@pytest.mark.parametrize("message", NO_CODE.values(), ids=NO_CODE.keys())
@pytest.mark.parametrize("name", ITERATORS)
async def test_iterators_leave_close_code_1000(name: str, message: dict[str, Any]) -> None:
    ws = await _accepted(message)
    await _iterate(ws, name)
    assert (ws.close_code, ws.close_reason) == (WS_1000_NORMAL_CLOSURE, "")


@pytest.mark.parametrize("message", NO_CODE.values(), ids=NO_CODE.keys())
async def test_receive_raw_returns_the_message_then_raises_1000(message: dict[str, Any]) -> None:
    ws = await _accepted(message)
    assert await ws.receive_raw() == message  # as the server gave it
    assert ws.close_code == WS_1000_NORMAL_CLOSURE
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_raw()
    assert info.value.code == WS_1000_NORMAL_CLOSURE


@pytest.mark.parametrize("code", SENT_CODES)
@pytest.mark.parametrize("path", [*RAISING.keys(), *ITERATORS, "receive_raw"])
async def test_a_code_the_server_sends_passes_unchanged(path: str, code: int) -> None:
    ws = await _accepted({"type": "websocket.disconnect", "code": code, "reason": "r"})
    if path in ITERATORS:
        await _iterate(ws, path)
    elif path == "receive_raw":
        await ws.receive_raw()
    else:
        with pytest.raises(WebSocketDisconnect) as info:
            await RAISING[path](ws)
        assert (info.value.code, info.value.reason) == (code, "r")
    assert (ws.close_code, ws.close_reason) == (code, "r")
    with pytest.raises(WebSocketDisconnect) as again:
        await ws.receive_raw()
    assert again.value.code == code


# fastware.testing -----------------------------------------------------------------


@pytest.mark.parametrize(("client_code", "app_sees"), [(None, 1000), (1005, 1005), (1006, 1006), (4000, 4000)])
async def test_the_testing_client_delivers_the_default_and_passes_codes_unchanged(
    client_code: int | None, app_sees: int
) -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            seen["code"] = exc.code
        seen["close_code"] = ws.close_code

    async with connect(app) as client:
        await client.close(client_code)
    assert seen == {"code": app_sees, "close_code": app_sees}
    assert client.close_code == app_sees


async def test_the_testing_client_reads_an_apps_close_without_code_as_1000() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close"})  # raw ASGI: no code key
        await receive()

    async with connect(app) as client:
        with pytest.raises(WebSocketDisconnect) as info:
            await client.receive_text()
    assert info.value.code == WS_1000_NORMAL_CLOSURE
    assert client.close_code == WS_1000_NORMAL_CLOSURE
