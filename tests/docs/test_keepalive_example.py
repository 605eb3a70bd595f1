"""The app-level keepalive of docs/keepalive.md (examples/keepalive.py), in memory and under uvicorn."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from support import TIMEOUT, free_port, run_server, uvicorn_argv

from examples.keepalive import KEEPALIVE_TIMEOUT, make_app
from fastware import WebSocketDisconnect
from fastware.testing import connect

# Short enough for a quick test; each wait below is bounded by TIMEOUT, never by these.
IDLE, GRACE = 0.05, 0.2


async def test_a_quiet_client_is_pinged_and_dropped_when_it_does_not_answer() -> None:
    async with connect(make_app(IDLE, GRACE), timeout=TIMEOUT) as client:
        assert await client.receive_json() == {"type": "ping"}
        with pytest.raises(WebSocketDisconnect) as caught:
            await client.receive_json()  # no pong: the app closes
        assert (caught.value.code, caught.value.reason) == (KEEPALIVE_TIMEOUT, "keepalive timeout")


async def test_a_client_that_answers_stays_and_is_echoed() -> None:
    # A long grace: a stalled machine must not turn a pong in time into a missed one.
    async with connect(make_app(IDLE, TIMEOUT), timeout=TIMEOUT) as client:
        for _ in range(3):
            assert await client.receive_json() == {"type": "ping"}
            await client.send_json({"type": "pong"})
        await client.send_json({"n": 1})
        # A ping may come first on a slow machine; the echo follows it.
        message = await client.receive_json()
        while message == {"type": "ping"}:
            await client.send_json({"type": "pong"})
            message = await client.receive_json()
        assert message == {"echo": {"n": 1}}
        assert not client.closed


def test_under_uvicorn_a_silent_client_gets_the_close_code() -> None:
    async def silent_client(url: str) -> tuple[Any, int | None, str | None]:
        async with websockets.connect(url, open_timeout=TIMEOUT) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert ws.close_code is not None
            return first, ws.close_code, ws.close_reason

    port = free_port()
    with run_server(uvicorn_argv("tests.docs.keepalive_fast:app", port), port) as url:
        first, code, reason = asyncio.run(silent_client(url + "/"))
    assert first == {"type": "ping"}
    assert (code, reason) == (KEEPALIVE_TIMEOUT, "keepalive timeout")
