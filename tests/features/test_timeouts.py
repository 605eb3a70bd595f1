"""timeout= on every receive method: the builtin TimeoutError, and a connection that stays usable."""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from support import TIMEOUT, free_port, run_server, uvicorn_argv

from fastware import State, WebSocket
from fastware.testing import connect

pytestmark = pytest.mark.anyio

RECEIVERS = ["receive_text", "receive_bytes", "receive_json", "receive_raw", "_receive_data"]
# What each receiver returns for the frame the client sends ("1", or b"1" for receive_bytes).
EXPECTED = {
    "receive_text": "1",
    "receive_bytes": b"1",
    "receive_json": 1,
    "receive_raw": {"type": "websocket.receive", "text": "1"},
    "_receive_data": {"type": "websocket.receive", "text": "1"},
}
SHORT = 0.01


@pytest.mark.parametrize("method", RECEIVERS)
def test_timeout_is_keyword_only(method: str) -> None:
    parameter = inspect.signature(getattr(WebSocket, method)).parameters["timeout"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default is None


@pytest.mark.parametrize("method", RECEIVERS)
async def test_a_timeout_raises_builtin_timeout_error_and_the_next_message_still_arrives(method: str) -> None:
    log: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        try:
            await getattr(ws, method)(timeout=SHORT)
        except TimeoutError as exc:
            log.append(type(exc))
        log.append(ws.connection_state)
        await ws.send_text("ready")
        log.append(await getattr(ws, method)(timeout=TIMEOUT))

    async with connect(app) as client:
        assert await client.receive_text() == "ready"
        if method in ("receive_bytes",):
            await client.send_bytes(b"1")
        else:
            await client.send_text("1")
    assert log == [TimeoutError, State.CONNECTED, EXPECTED[method]]


async def test_receive_json_timeout_in_binary_mode() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        with pytest.raises(TimeoutError):
            await ws.receive_json(mode="binary", timeout=SHORT)
        await ws.send_text("ready")
        await ws.send_json(await ws.receive_json(mode="binary", timeout=TIMEOUT))

    async with connect(app) as client:
        assert await client.receive_text() == "ready"
        await client.send_json({"k": 1}, mode="binary")
        assert await client.receive_json() == {"k": 1}


async def test_no_message_is_lost_when_timeouts_fall_between_messages() -> None:
    # The app keeps timing out while the client sends: each message must arrive once, in order.
    received: list[str] = []
    timeouts = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal timeouts
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        while len(received) < 200:
            try:
                received.append(await ws.receive_text(timeout=0.0001))
            except TimeoutError:
                timeouts += 1
                if timeouts == 1:
                    await ws.send_text("timing out")
        await ws.send_text("done")

    async with connect(app) as client:
        assert await client.receive_text() == "timing out"
        for n in range(200):
            await client.send_text(str(n))
            if n % 20 == 0:
                await asyncio.sleep(0.001)
        assert await client.receive_text(timeout=TIMEOUT) == "done"
    assert received == [str(n) for n in range(200)]
    assert timeouts >= 1


APP = "tests.features.feature_apps:timeouts"
SERVERS = {
    "uvicorn-websockets": lambda port: uvicorn_argv(APP, port, "--ws", "websockets"),
    "uvicorn-wsproto": lambda port: uvicorn_argv(APP, port, "--ws", "wsproto"),
    "hypercorn": lambda port: [sys.executable, "-m", "hypercorn", APP, "--bind", f"127.0.0.1:{port}"],
    "daphne": lambda port: [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), APP],
}


@pytest.fixture(params=list(SERVERS))
def timeouts_server(request: pytest.FixtureRequest) -> Iterator[str]:
    port = free_port()
    with run_server(SERVERS[request.param](port), port) as url:
        yield url


async def test_a_real_server_loses_nothing_across_timeouts(timeouts_server: str) -> None:
    # feature_apps.timeouts receives with a 1 ms timeout in a loop and echoes each text.
    messages = [f"m{n}" for n in range(300)]
    async with websockets.connect(timeouts_server, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as client:
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "timed out"
        for n, message in enumerate(messages):
            await client.send(message)
            if n % 50 == 0:
                await asyncio.sleep(0.005)  # let some timeouts fall between messages
        echoed = [await asyncio.wait_for(client.recv(), TIMEOUT) for _ in messages]
        await client.send("count")
        count = await asyncio.wait_for(client.recv(), TIMEOUT)
    assert echoed == messages
    assert int(count.removeprefix("timeouts:")) > 1
