"""The example echo app under a real uvicorn on 127.0.0.1, driven by the `websockets` client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from support import TIMEOUT, free_port, run_server, uvicorn_argv
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


async def recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


# The app under test records what its WebSocketDisconnect carried; see recorder_app.
RECORDER_APP = "tests.integration.recorder_app:app"


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    port = free_port()
    with run_server(uvicorn_argv("examples.echo:app", port), port) as url:
        yield url


@pytest.fixture(scope="module")
def recorder_url() -> Iterator[str]:
    port = free_port()
    with run_server(uvicorn_argv(RECORDER_APP, port), port) as url:
        yield url


async def test_text_echo(echo_url: str) -> None:
    async with connect(echo_url + "/", open_timeout=TIMEOUT) as ws:
        for message in ["hello", "", "h\u00e9llo \U0001f600"]:
            await ws.send(message)
            assert await recv(ws) == message


async def test_bytes_echo(echo_url: str) -> None:
    async with connect(echo_url + "/", open_timeout=TIMEOUT) as ws:
        for message in [b"\x00\x01\xff", b"", bytes(range(256)) * 40]:
            await ws.send(message)
            assert await recv(ws) == message


async def test_json_echo(echo_url: str) -> None:
    async with connect(echo_url + "/json", open_timeout=TIMEOUT) as ws:
        value = {"a": [1, 2.5, None, True], "b": "\u00e9"}
        await ws.send(json.dumps(value))
        reply = await recv(ws)
        assert json.loads(reply) == value
        assert reply == '{"a":[1,2.5,null,true],"b":"\u00e9"}'  # the compact default encoder


async def test_messages_arrive_in_order(echo_url: str) -> None:
    async with connect(echo_url + "/", open_timeout=TIMEOUT) as ws:
        for i in range(200):
            await ws.send(str(i))
        assert [await recv(ws) for _ in range(200)] == [str(i) for i in range(200)]


async def test_subprotocol_negotiation(echo_url: str) -> None:
    async with connect(echo_url + "/", subprotocols=["unknown", "json"], open_timeout=TIMEOUT) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "json"
    async with connect(echo_url + "/", subprotocols=["unknown"], open_timeout=TIMEOUT) as ws:  # type: ignore[list-item]
        assert ws.subprotocol is None


async def test_app_close_code_and_reason_seen_by_client(echo_url: str) -> None:
    async with connect(echo_url + "/", open_timeout=TIMEOUT) as ws:
        await ws.send("close:4001:done here")
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "done here")


async def test_client_close_code_seen_in_websocket_disconnect(recorder_url: str) -> None:
    async with connect(recorder_url + "/", open_timeout=TIMEOUT) as ws:
        await ws.send("ready")
        assert await recv(ws) == "ready"
        await ws.close(code=4002, reason="client says bye")
    async with connect(recorder_url + "/last", open_timeout=TIMEOUT) as ws:
        seen = json.loads(await recv(ws))
    assert seen == {"code": 4002, "reason": "client says bye"}


async def test_close_before_accept_is_http_403(recorder_url: str) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info:
        async with connect(recorder_url + "/reject", open_timeout=TIMEOUT):
            pass
    assert info.value.response.status_code == 403
