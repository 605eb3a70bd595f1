"""A reader and a writer task on one connection, under real uvicorn and hypercorn, with websockets
clients that leave (close code 4001) while the app streams: hundreds of rounds, no crash, and the
client's code seen by the reader, by close_code and by the writer (or 1006, when its send failed
before the server reported the disconnect)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from support import TIMEOUT, free_port, hypercorn_argv, run_server, uvicorn_argv
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROUNDS = 200  # connections per server and mode
BATCH = 20  # at a time
WS_1006_ABNORMAL = 1006
WS_4001_CLIENT = 4001
APP = "tests.integration.concurrent_app:app"

SERVERS = {
    "uvicorn": lambda port: uvicorn_argv(APP, port),
    "uvicorn-no-speedups": lambda port: uvicorn_argv(APP, port),  # the pure-Python path
    "uvicorn-wsproto": lambda port: uvicorn_argv(APP, port, "--ws", "wsproto"),
    "hypercorn": lambda port: hypercorn_argv(APP, port),
}


async def drain_until_closed(client: Any) -> None:
    with contextlib.suppress(ConnectionClosed):
        while True:
            await client.recv()


async def one_round(url: str) -> None:
    async with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as client:
        for _ in range(3):
            await asyncio.wait_for(client.recv(), TIMEOUT)
        # Keep reading while closing: the server's close frame queues behind what the app streamed.
        drain = asyncio.create_task(drain_until_closed(client))
        await client.close(WS_4001_CLIENT, "leaving")
        await asyncio.wait_for(drain, TIMEOUT)


async def rounds(url: str) -> None:
    for start in range(0, ROUNDS, BATCH):
        queries = ["", "?pause=1", "?slow=1", "?slow=1&pause=1"]
        await asyncio.gather(*(one_round(url + "/" + queries[n % len(queries)]) for n in range(start, start + BATCH)))


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_reader_and_writer_tasks_while_clients_leave(server: str, tmp_path: Path) -> None:
    log, server_log = tmp_path / "records.jsonl", tmp_path / "server.log"
    port = free_port()
    env = {"FASTWARE_CONCURRENT_LOG": str(log)}
    if server.endswith("-no-speedups"):
        env["FASTWARE_NO_SPEEDUPS"] = "1"
    with run_server(SERVERS[server](port), port, env=env, log=server_log) as url:
        asyncio.run(rounds(url))
        # Each app writes its record after the client's close completed: wait, bounded, for the last.
        for _ in range(int(TIMEOUT * 20)):
            if log.exists() and len(log.read_text().splitlines()) >= ROUNDS:
                break
            asyncio.run(asyncio.sleep(0.05))
    output = server_log.read_text(errors="replace")
    assert "Exception in ASGI application" not in output and "Traceback" not in output, output[-3000:]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == ROUNDS
    # hypercorn reports 1006 for every client close (hypercorn issue 127); the others pass the code on.
    expected = WS_1006_ABNORMAL if server.startswith("hypercorn") else WS_4001_CLIENT
    for record in records:
        assert record["reader"] == {"kind": "end", "code": expected}, record
        assert (record["close_code"], record["state"]) == (expected, "DISCONNECTED"), record
        assert record["writer"]["kind"] == "WebSocketDisconnect", record
        assert record["writer"]["code"] in (expected, WS_1006_ABNORMAL), record


if sys.platform == "win32":  # pragma: no cover
    pytest.skip("servers are started as POSIX processes", allow_module_level=True)


# The chat example (through its module path, as ``uvicorn examples.chat:app`` serves it) ------------


async def member(url: str, chatty: int) -> None:
    async with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as client:
        for n in range(chatty):
            await client.send(f"message {n}")
        drain = asyncio.create_task(drain_until_closed(client))
        await client.close(WS_4001_CLIENT, "leaving")
        await asyncio.wait_for(drain, TIMEOUT)


async def chat_rounds(base: str, rounds: int) -> None:
    for n in range(rounds):
        # Members come and go while the room's broadcasts are still being written to them.
        room = f"{base}/chat/ws/room{n % 5}"
        await asyncio.gather(*(member(f"{room}?name=m{k}", chatty=k * 5) for k in range(6)))


def test_chat_members_leaving_never_crash_the_app(tmp_path: Path) -> None:
    server_log = tmp_path / "server.log"
    port = free_port()
    with run_server(uvicorn_argv("examples.chat:app", port), port, log=server_log) as url:
        asyncio.run(chat_rounds(url, 40))
    output = server_log.read_text(errors="replace")
    assert "Exception in ASGI application" not in output and "Traceback" not in output, output[-3000:]
