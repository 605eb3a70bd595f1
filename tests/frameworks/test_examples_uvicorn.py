"""examples/fastapi_app.py, starlette_app.py and the litestar_app.py and quart_app.py recipes under a real uvicorn, through the `websockets` client.

The apps run wrapped by observed.py, which logs when each handler ends; a
test that makes the client leave waits for that line, then checks the server
logged no error ("Exception in ASGI application", a traceback).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from observed import ENDED
from support import TIMEOUT, free_port, run_server, uvicorn_argv
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# uvicorn's two WebSocket implementations that report a send after the client left (ASGI 2.4);
# "websockets-sansio" is its default (--ws auto).
SERVERS = [
    ("fastapi", "websockets-sansio"),
    ("fastapi", "websockets"),
    ("starlette", "websockets-sansio"),
    ("starlette", "websockets"),
    # The recipes (docs/frameworks.md), on uvicorn's default.
    ("litestar", "websockets-sansio"),
    ("quart", "websockets-sansio"),
]


class Running:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ended(self, key: str) -> str:
        """The log line saying the handler of connection `key` ended (bounded wait)."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for line in self.text().splitlines():
                if line.startswith(ENDED) and f"key={key}" in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"the handler of {key} did not end within {TIMEOUT}s:\n{self.text()[-3000:]}")

    def assert_no_error(self) -> None:
        log = self.text()
        assert "Exception in ASGI application" not in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module", params=SERVERS, ids=[f"{a}-{w}" for a, w in SERVERS])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    name, ws = request.param
    log = tmp_path_factory.mktemp("logs") / f"{name}-{ws}.log"
    port = free_port()
    argv = uvicorn_argv(f"observed:{name}_app", port, "--ws", ws, "--log-level", "info")
    env = {"PYTHONPATH": str(Path(__file__).resolve().parent)}
    with run_server(argv, port, env=env, log=log) as url:
        running = Running(url, log)
        yield running
    running.assert_no_error()


def client(url: str) -> Any:
    # max_queue=None: a client that closes mid-stream must still read the frames ahead of the server's
    # close frame; with a bounded queue it stops reading, never sees the close, and aborts after
    # close_timeout, so "close" would test a dropped connection 10 s late.
    return connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, max_queue=None)


async def recv_json(ws: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 3 * TIMEOUT))


def test_echo_then_stream_then_echo(server: Running) -> None:
    key = uuid.uuid4().hex

    async def scenario() -> None:
        async with client(f"{server.url}/ws/lobby?key={key}") as ws:
            for m in [{"text": "hi ✓"}, [1, 2], "plain", 3.5, None, {"stream": "not a number"}]:
                await ws.send(json.dumps(m))
                assert await recv_json(ws) == {"room": "lobby", "echo": m}
            await ws.send(json.dumps({"stream": 500}))
            assert [await recv_json(ws) for _ in range(500)] == [{"i": i} for i in range(500)]
            await ws.send(json.dumps({"after": True}))
            assert await recv_json(ws) == {"room": "lobby", "echo": {"after": True}}
            await ws.send(json.dumps({"stream": 0}))
            await ws.send(json.dumps("still here"))
            assert await recv_json(ws) == {"room": "lobby", "echo": "still here"}

    run(scenario())
    assert server.wait_ended(key).endswith("returned")
    server.assert_no_error()


def test_room_is_the_path_parameter(server: Running) -> None:
    async def scenario() -> Any:
        async with client(f"{server.url}/ws/caf%C3%A9") as ws:
            await ws.send("{}")
            return await recv_json(ws)

    assert run(scenario()) == {"room": "café", "echo": {}}


@pytest.mark.parametrize("how", ["close", "drop"])
def test_client_leaves_mid_stream_and_the_handler_ends_quietly(server: Running, how: str) -> None:
    key = uuid.uuid4().hex

    async def scenario() -> None:
        async with client(f"{server.url}/ws/lobby?key={key}") as ws:
            await ws.send(json.dumps({"stream": 10_000_000}))  # far more than it can send before we leave
            assert [await recv_json(ws) for _ in range(100)] == [{"i": i} for i in range(100)]
            if how == "drop":
                ws.transport.abort()  # no close frame: the TCP connection just goes
            else:
                await ws.close(1001, "leaving")

    run(scenario())
    assert server.wait_ended(key).endswith("returned")  # it ended, and raised nothing
    server.assert_no_error()


def test_client_leaves_while_the_handler_waits(server: Running) -> None:
    key = uuid.uuid4().hex

    async def scenario() -> None:
        async with client(f"{server.url}/ws/lobby?key={key}") as ws:
            await ws.send("[]")
            await recv_json(ws)

    run(scenario())
    assert server.wait_ended(key).endswith("returned")
    server.assert_no_error()


@pytest.mark.parametrize(("frame", "code"), [("not json", 1007), (b"{}", 1003)])
def test_a_frame_that_is_not_json_text_closes_with_a_reason(server: Running, frame: Any, code: int) -> None:
    async def scenario() -> tuple[int | None, str | None]:
        async with client(f"{server.url}/ws/lobby") as ws:
            await ws.send(frame)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            return ws.close_code, ws.close_reason

    close_code, reason = run(scenario())
    assert close_code == code
    assert reason is not None and reason.startswith("expected a JSON text message")


def test_quart_still_serves_its_own_routes(server: Running) -> None:
    # The Quart recipe dispatches only its WebSocket route in front of Quart; everything else is Quart's.
    if not server.log.name.startswith("quart"):
        pytest.skip("the Quart recipe only")
    http_url = server.url.replace("ws://", "http://") + "/"
    with urllib.request.urlopen(http_url, timeout=TIMEOUT) as response:
        assert response.read() == b"connect to /ws/<room>"
