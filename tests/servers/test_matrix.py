"""The real-server matrix: every case of the protocol, on every server, through the `websockets` client.

Each test is one case (a row), parametrized over the `server` fixture (the
columns). Where a server cannot do something the test first asserts what
fastware does about it, then xfails with the server's limitation by name.
The application side (apps.py) runs in the server process; what it saw is
read back over /result.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from server_matrix import Server
from support import TIMEOUT
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

T = TypeVar("T")

MIB = 1024 * 1024
NON_ASCII = "héllo wörld ✓ 😀 中文 Ω"


GRANIAN = f"granian {importlib.metadata.version('granian')}"

# What a server cannot do: (case, server) -> the limitation, by name. A test for a listed pair first
# asserts the limitation shows exactly as described (so a server that gains the feature fails the
# test until this table is updated, like a strict xfail), then xfails with this reason.
LIMITATIONS: dict[tuple[str, str], str] = {
    (
        "empty_message_echo",
        "daphne",
    ): "daphne: silently drops an empty message the app sends (truthiness test in handle_reply)",
    ("accept_headers", "daphne"): "daphne: reports no spec_version and ignores accept headers (daphne #326)",
    ("denial_response", "daphne"): "daphne: does not offer the websocket.http.response extension",
    ("denial_response_unregistered_status", "daphne"): "daphne: does not offer the websocket.http.response extension",
    ("denial_response_unregistered_status", "uvicorn-websockets"): (
        "uvicorn (websockets): a status http.HTTPStatus does not list raises ValueError in send(); HTTP 500"
    ),
    ("app_close_reason", "daphne"): "daphne: reports no spec_version and never sends a close reason (daphne #374)",
    ("app_close_standard_codes", "daphne"): "daphne: autobahn refuses to send 1001-1015 (only 1000 and 3000-4999)",
    ("client_close_code", "hypercorn"): "hypercorn: reports every client close as 1006 (hypercorn #127)",
    ("client_close_without_code", "hypercorn"): "hypercorn: reports every client close as 1006 (hypercorn #127)",
    ("client_close_without_code", "daphne"): (
        "daphne: reports a close frame without a code as code None, not 1005; fastware reads that as 1000"
    ),
    ("client_close_reason", "hypercorn"): "hypercorn: never passes a disconnect reason to the app",
    ("client_close_reason", "daphne"): "daphne: never passes a disconnect reason to the app",
    ("drop_while_sending", "hypercorn"): "hypercorn: send() after the client vanished is a silent no-op, not OSError",
    ("drop_while_sending", "daphne"): "daphne: send() after the client vanished is a silent no-op, not OSError",
    ("accept_headers", "granian"): (
        f"{GRANIAN}: declares ASGI 2.3 but ignores accept headers (reads only subprotocol); fastware warns"
    ),
    ("client_close_reason", "granian"): f"{GRANIAN}: never passes a disconnect reason to the app",
    ("drop_while_sending", "granian"): (
        f"{GRANIAN}: send() after the client vanished is a silent no-op, not OSError; only receive() tells"
    ),
}


def limitation(case: str, server: Server) -> str | None:
    return LIMITATIONS.get((case, server.name))


def run(coro: Coroutine[Any, Any, T], timeout: float = 3 * TIMEOUT) -> T:
    """Run one client scenario, bounded as a whole."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def new_key() -> str:
    return uuid.uuid4().hex


def client(url: str, **kwargs: Any) -> Any:
    # max_size=None: the 1 MiB cases (and their JSON framing) exceed the client's default limit.
    return connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, max_size=None, **kwargs)


async def fetch_record(server: Server, key: str) -> dict[str, Any]:
    """What the handler of connection `key` saw, once it finished (apps.result waits for that)."""
    async with client(f"{server.url}/result?of={key}") as ws:
        record = json.loads(await asyncio.wait_for(ws.recv(), 2 * TIMEOUT))
    assert record.get("finished"), f"{server.name}: handler {key} did not finish: {record}\n{server.log_tail()}"
    return record


async def echo_all(ws: ClientConnection, messages: list[Any]) -> list[Any]:
    """Send every message, then read as many replies."""
    for message in messages:
        await ws.send(message)
    return [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in messages]


async def closed_by_client(ws: ClientConnection, code: int | None, reason: str = "") -> None:
    # code None sends a close frame without a code (websockets' way of sending no status).
    await ws.close(code, reason)  # type: ignore[arg-type]


# Echo ---------------------------------------------------------------------


def test_text_echo(server: Server) -> None:
    messages = ["hello", NON_ASCII, "x" * MIB, NON_ASCII * (MIB // len(NON_ASCII.encode()))]

    async def scenario() -> tuple[list[Any], dict[str, Any]]:
        key = new_key()
        async with client(f"{server.url}/echo/text?key={key}") as ws:
            replies = await echo_all(ws, messages)
        return replies, await fetch_record(server, key)

    replies, record = run(scenario())
    assert replies == messages
    assert record["echoed"] == len(messages)
    assert "disconnect" in record, record  # its code is the client-close rows' business


def test_bytes_echo(server: Server) -> None:
    messages = [b"\x00\xff binary", NON_ASCII.encode(), os.urandom(MIB)]

    async def scenario() -> list[Any]:
        async with client(f"{server.url}/echo/bytes") as ws:
            return await echo_all(ws, messages)

    assert run(scenario()) == messages


def test_json_echo(server: Server) -> None:
    # The last is exactly 1 MiB on the wire: '{"big":"' + 2-byte characters + '"}'.
    big = {"big": "é" * ((MIB - 10) // 2)}
    values: list[Any] = ["", {}, [], None, 0, {"text": NON_ASCII, "nested": [1, 2.5, True]}, big]
    frames = [json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in values]
    assert len(frames[-1].encode()) == MIB

    async def scenario() -> list[Any]:
        async with client(f"{server.url}/echo/json") as ws:
            replies = await echo_all(ws, frames)
        return [json.loads(r) for r in replies]

    assert run(scenario()) == values


@pytest.mark.parametrize("empty", ["", b""], ids=["text", "bytes"])
def test_empty_message_echo(server: Server, empty: str | bytes) -> None:
    # The empty message is followed by a marker: a server that drops it shows the marker first.
    path = "/echo/text" if isinstance(empty, str) else "/echo/bytes"
    marker = "after" if isinstance(empty, str) else b"after"

    async def scenario() -> Any:
        async with client(server.url + path) as ws:
            await ws.send(empty)
            await ws.send(marker)
            return await asyncio.wait_for(ws.recv(), TIMEOUT)

    first = run(scenario())
    if reason := limitation("empty_message_echo", server):
        assert first == marker
        pytest.xfail(reason)
    assert first == empty


# Handshake ----------------------------------------------------------------


def test_subprotocol(server: Server) -> None:
    async def scenario() -> tuple[str | None, str]:
        async with client(f"{server.url}/subprotocol", subprotocols=["alpha", "beta"]) as ws:  # type: ignore[list-item]
            return ws.subprotocol, await asyncio.wait_for(ws.recv(), TIMEOUT)  # type: ignore[return-value]

    assert run(scenario()) == ("beta", "beta")


def test_accept_headers(server: Server) -> None:
    key = new_key()

    async def scenario() -> tuple[Any, dict[str, Any]]:
        async with client(f"{server.url}/accept-headers?key={key}") as ws:
            headers = ws.response.headers  # type: ignore[union-attr]
        return headers, await fetch_record(server, key)

    headers, record = run(scenario())
    if reason := limitation("accept_headers", server):
        # The spec-version policy (/work/helpers/POLICY-spec-version.md): fastware sends the headers everywhere.
        assert "unsupported" not in record  # NEEDS i15 on daphne (rule 3: no spec_version, no claim, sent as asked)
        assert "x-fastware" not in headers
        if server.name == "granian":
            # Rule 4: granian declares 2.3 and still drops them; fastware knows it and says so.
            assert len(record["warnings"]) == 1, record
            assert record["warnings"][0].startswith("UnsupportedByServerWarning: websocket.accept 'headers' is sent")
            assert GRANIAN in record["warnings"][0]
        else:
            assert record["warnings"] == []  # daphne makes no claim (rule 3): nothing to warn about
        pytest.xfail(reason)
    assert "unsupported" not in record
    assert record["warnings"] == []  # the server carries them: not a word
    # Mixed-case values: a server that lowercases them (as uvicorn's sansio once did) is caught.
    assert headers["x-fastware"] == "Accepted"
    assert headers["set-cookie"] == "Session=AbC"


def test_reject_before_accept_is_403(server: Server) -> None:
    key = new_key()

    async def scenario() -> tuple[int, dict[str, Any]]:
        with pytest.raises(InvalidStatus) as info:
            async with client(f"{server.url}/reject?key={key}"):
                pass
        return info.value.response.status_code, await fetch_record(server, key)

    status, record = run(scenario())
    assert status == 403
    assert record["rejected"] is True
    assert "error" not in record


def test_denial_response(server: Server) -> None:
    key = new_key()

    async def scenario() -> tuple[Any, dict[str, Any]]:
        with pytest.raises(InvalidStatus) as info:
            async with client(f"{server.url}/deny?key={key}"):
                pass
        return info.value.response, await fetch_record(server, key)

    response, record = run(scenario())
    if reason := limitation("denial_response", server):
        # fastware raises UnsupportedByServerError; the app's documented fallback gives 403.
        assert "websocket.http.response" in record["unsupported"]
        assert response.status_code == 403
        pytest.xfail(reason)
    assert "error" not in record, record
    assert response.status_code == 401
    assert response.headers["x-denied"] == "By-App"
    assert response.body == b"denied by fastware"


def test_denial_response_unregistered_status(server: Server) -> None:
    # 499 is a valid HTTP status (100-599) that http.HTTPStatus does not list.
    key = new_key()

    async def scenario() -> tuple[Any, dict[str, Any]]:
        with pytest.raises(InvalidStatus) as info:
            async with client(f"{server.url}/deny?key={key}&status=499"):
                pass
        return info.value.response, await fetch_record(server, key)

    response, record = run(scenario())
    if reason := limitation("denial_response_unregistered_status", server):
        if server.name == "daphne":
            assert "websocket.http.response" in record["unsupported"]
            assert response.status_code == 403
        else:
            # The server's own ValueError reaches the app from send(); the server answers 500.
            assert record["error"].startswith("ValueError")
            assert response.status_code == 500
        pytest.xfail(reason)
    assert "error" not in record, record
    assert response.status_code == 499
    assert response.body == b"denied by fastware"


# Closing ------------------------------------------------------------------

APP_CLOSE_REASON = "app says bye ✓"


async def _app_close(server: Server, code: int, reason: str) -> tuple[int | None, str | None, dict[str, Any]]:
    key = new_key()
    async with client(f"{server.url}/close?key={key}&code={code}&reason={reason}") as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        code_seen, reason_seen = ws.close_code, ws.close_reason
    return code_seen, reason_seen, await fetch_record(server, key)


def test_app_close_code(server: Server) -> None:
    code, _, record = run(_app_close(server, 4001, "bye"))
    assert "error" not in record, record
    assert code == 4001


def test_app_close_reason(server: Server) -> None:
    code, reason, record = run(_app_close(server, 4001, APP_CLOSE_REASON))
    assert "error" not in record, record
    assert code == 4001
    # The spec-version policy: every server here declares 2.3 or later, or nothing (daphne), so not a word.
    assert record["warnings"] == []
    if why := limitation("app_close_reason", server):
        # daphne declares no spec_version: under the spec-version policy (rule 3) fastware sends the reason,
        # and daphne drops it (before that policy, fastware left it out); either way the client sees "".
        assert reason == ""
        pytest.xfail(why)
    assert reason == APP_CLOSE_REASON


@pytest.mark.parametrize("code", [1001, 1011])
def test_app_close_standard_codes(server: Server, code: int) -> None:
    seen, _, record = run(_app_close(server, code, "bye"))
    if reason := limitation("app_close_standard_codes", server):
        # daphne's send() raises a bare Exception from autobahn; the app dies and daphne closes with 1011.
        assert "invalid close code" in record["error"]
        pytest.xfail(reason)
    assert "error" not in record, record
    assert seen == code


async def _client_close(server: Server, code: int | None, reason: str) -> dict[str, Any]:
    key = new_key()
    async with client(f"{server.url}/wait-disconnect?key={key}") as ws:
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "ready"
        await closed_by_client(ws, code, reason)
    return await fetch_record(server, key)


def test_client_close_code(server: Server) -> None:
    record = run(_client_close(server, 4002, "bye"))
    if reason := limitation("client_close_code", server):
        assert record["disconnect"]["code"] == 1006
        pytest.xfail(reason)
    assert record["disconnect"]["code"] == 4002


def test_client_close_reason(server: Server) -> None:
    reason = "client says bye ✓"
    record = run(_client_close(server, 4002, reason))
    if why := limitation("client_close_reason", server):
        assert record["disconnect"]["reason"] == ""
        pytest.xfail(why)
    assert record["disconnect"] == {"code": 4002, "reason": reason}


def test_client_close_without_code(server: Server) -> None:
    # RFC 6455: no status code in the close frame is reported as 1005. daphne sends code None instead,
    # which fastware reads as the schema's default for a disconnect without a code, 1000.
    record = run(_client_close(server, None, ""))
    if reason := limitation("client_close_without_code", server):
        assert record["disconnect"]["code"] == {"hypercorn": 1006, "daphne": 1000}[server.name]
        pytest.xfail(reason)
    assert record["disconnect"] == {"code": 1005, "reason": ""}


# The peer vanishing -------------------------------------------------------

# The code each server reports when the TCP connection drops without a close frame.
DROP_CODES = {
    "uvicorn-websockets": 1006,
    "uvicorn-wsproto": 1005,
    "uvicorn-sansio": 1005,
    "hypercorn": 1006,
    "daphne": 1006,
    "granian": 1005,
}


async def _drop(server: Server, path: str) -> dict[str, Any]:
    key = new_key()
    async with client(f"{server.url}{path}?key={key}") as ws:
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "ready"
        ws.transport.abort()  # no close frame: the TCP connection just goes
    return await fetch_record(server, key)


def test_drop_while_receiving(server: Server) -> None:
    record = run(_drop(server, "/wait-disconnect"))
    assert "error" not in record, record
    assert record["disconnect"] == {"code": DROP_CODES[server.name], "reason": ""}


def test_drop_while_sending(server: Server) -> None:
    # An app that only sends learns the client is gone from send(): WebSocketDisconnect(1006).
    record = run(_drop(server, "/send-until-gone"))
    assert "error" not in record, record
    if reason := limitation("drop_while_sending", server):
        assert record["gave_up_after"] > 0  # it kept sending into the void until its deadline
        pytest.xfail(reason)
    assert record.get("disconnect") == {"code": 1006, "reason": ""}, record


# What each server says about itself -----------------------------------------

SCOPES = {
    "uvicorn-websockets": ("2.4", ["websocket.http.response"]),
    "uvicorn-wsproto": ("2.4", ["websocket.http.response"]),
    "uvicorn-sansio": ("2.4", ["websocket.http.response"]),
    "hypercorn": ("2.3", ["websocket.http.response"]),
    # No spec_version in the scope: the server makes no claim (ASGI reads it as 2.0; fastware as unknown).
    "daphne": (None, []),
    "granian": ("2.3", ["http.response.pathsend", "websocket.http.response"]),
}


def test_scope_spec_version_and_extensions(server: Server) -> None:
    # What fastware's per-key gating (close reason, accept headers, denial) is decided from.
    async def scenario() -> Any:
        async with client(f"{server.url}/scope?q=%C3%A9") as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))

    info = run(scenario())
    assert (info["spec_version"], info["extensions"]) == SCOPES[server.name]
    assert info["query_string"] == "q=%C3%A9"


# Servers without lifespan state (ASGI "state" in the lifespan scope): nothing to read in ws.state.
NO_LIFESPAN_STATE = {"daphne"}


def test_connection_details_and_state(server: Server) -> None:
    # ws.client, url, query_params, cookies read as Starlette reads them; ws.state is per connection.
    async def scenario() -> list[Any]:
        infos = []
        for _ in range(2):
            async with client(
                f"{server.url}/details?a=1&a=2&b=%C3%A9", additional_headers={"Cookie": "sid=abc; theme=dark"}
            ) as ws:
                infos.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
        return infos

    first, second = run(scenario())
    host, port, port_type = first["client"]
    assert (host, port_type) == ("127.0.0.1", "int") and port > 0  # granian gives a str: read as an int
    assert first["url"] == f"{server.url}/details?a=1&a=2&b=%C3%A9"
    assert first["url_path"] == "/details"
    assert first["query"] == [["a", "1"], ["a", "2"], ["b", "é"]]
    assert first["cookies"] == {"sid": "abc", "theme": "dark"}
    assert first["user_before"] is None and second["user_before"] is None  # the first one's user did not leak
    expected = None if server.name in NO_LIFESPAN_STATE else "started"
    assert first["lifespan"] == second["lifespan"] == expected
