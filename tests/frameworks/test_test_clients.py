"""fastware apps under the test clients FastAPI, Starlette and Litestar users test with (sync tests).

Every fastware feature the client can carry reaches it: close codes and
reasons, accept headers, subprotocols, denial responses (Starlette's client
offers the extension; Litestar's does not, and fastware says so). Nothing is
dropped silently and nothing is warned about needlessly: neither client puts a
spec_version in the scope, which under the spec-version policy
(/work/helpers/POLICY-spec-version.md, rule 3) means "no claim": fastware sends
every key the app asks for and warns for nothing.

The tests marked ``NEEDS i15`` check that policy; they fail until the generator
implements it (before it, a missing spec_version was read as 2.0: the close reason
was dropped and accept headers raised UnsupportedByServerError).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import parse_qs

import litestar.exceptions
import litestar.testing
import pytest
import starlette.testclient
import starlette.websockets
from support import TIMEOUT

from fastware import UnsupportedByServerError, UnsupportedByServerWarning, WebSocket, WebSocketDisconnect
from fastware.integrations.fastapi import FastwareWebSocket

Record = dict[str, Any]
RECORDS: dict[str, Record] = {}
REASON = "room is full ✓"

# Neither client tells the app about a denial it cannot carry, so the app must hear of it: fail on any warning
# fastware would give needlessly, and on UnsupportedByServerWarning in particular.
pytestmark = pytest.mark.filterwarnings("error::fastware.UnsupportedByServerWarning")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A plain fastware ASGI app, routed by path; what the handler saw goes to RECORDS[?key=]."""
    if scope["type"] == "lifespan":
        from examples.lifespan import lifespan

        await lifespan(receive, send)
        return
    ws = WebSocket(scope, receive, send)
    params = {k: v[0] for k, v in parse_qs(ws.query_string).items()}
    record = RECORDS.setdefault(params.get("key", "default"), {})
    record["spec_version"] = ws.spec_version
    path = scope["path"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if path == "/close":
                await ws.accept()
                await ws.close(int(params["code"]), params.get("reason"))
            elif path == "/accept-headers":
                await ws.accept(headers=[(b"x-fastware", b"Accepted"), (b"set-cookie", b"Session=AbC")])
                await ws.send_text("accepted")
            elif path == "/subprotocol":
                await ws.accept(ws.scope["subprotocols"][-1])
                await ws.send_text(ws.subprotocol or "")
            elif path == "/deny":
                try:
                    await ws.send_denial_response(401, headers=[(b"x-denied", b"By-App")], body=b"denied by fastware")
                except UnsupportedByServerError as exc:
                    record["unsupported"] = str(exc)
                    await ws.close()  # the documented fallback: HTTP 403
            elif path == "/reject":
                await ws.close()
            elif path == "/echo":
                await ws.accept()
                try:
                    async for message in ws.iter_json():
                        await ws.send_json({"echo": message})
                finally:
                    record["disconnect"] = (ws.close_code, ws.close_reason)
            elif path == "/details":
                await ws.accept()
                await ws.send_json(
                    {"query": ws.query_params.multi_items(), "cookies": ws.cookies, "url": ws.url, "client": ws.client}
                )
                await ws.close()
        except WebSocketDisconnect:
            record["left"] = True
        finally:
            record["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]


class Adapter:
    """One test client's way of doing each thing, so every test runs on both."""

    name: str
    disconnect: type[Exception]

    def connect(self, url: str, **kwargs: Any) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def close_seen(self, exc: Exception) -> tuple[int, str]:
        raise NotImplementedError


class StarletteClient(Adapter):
    name = "starlette"
    disconnect = starlette.websockets.WebSocketDisconnect

    def __init__(self) -> None:
        self.client = starlette.testclient.TestClient(app)

    def connect(self, url: str, **kwargs: Any) -> AbstractContextManager[Any]:
        return self.client.websocket_connect(url, **kwargs)

    def close_seen(self, exc: Exception) -> tuple[int, str]:
        assert isinstance(exc, starlette.websockets.WebSocketDisconnect)
        return exc.code, exc.reason


class LitestarClient(Adapter):
    name = "litestar"
    disconnect = litestar.exceptions.WebSocketDisconnect

    def __init__(self, client: Any) -> None:
        self.client = client

    def connect(self, url: str, **kwargs: Any) -> AbstractContextManager[Any]:
        return self.client.websocket_connect(url, **kwargs)  # type: ignore[no-any-return]

    def close_seen(self, exc: Exception) -> tuple[int, str]:
        assert isinstance(exc, litestar.exceptions.WebSocketDisconnect)
        return exc.code, exc.detail  # type: ignore[attr-defined]


@pytest.fixture(params=["starlette", "litestar"])
def client(request: pytest.FixtureRequest) -> Iterator[Adapter]:
    if request.param == "starlette":
        yield StarletteClient()
    else:
        with litestar.testing.TestClient(app) as test_client:
            yield LitestarClient(test_client)


def key(request: pytest.FixtureRequest) -> str:
    return request.node.nodeid


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "the app did not get there in time"
        time.sleep(0.01)


def close_after(client: Adapter, url: str) -> tuple[int, str]:
    with client.connect(url) as session, pytest.raises(client.disconnect) as info:
        session.receive_text()
    return client.close_seen(info.value)


# Closing --------------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 4001])
def test_close_code_and_reason_reach_the_client(client: Adapter, request: pytest.FixtureRequest, code: int) -> None:
    # NEEDS i15 (policy rule 3): without a spec_version in the scope, the reason is sent, not dropped.
    k = key(request)
    assert close_after(client, f"/close?key={k}&code={code}&reason={REASON}") == (code, REASON)
    assert RECORDS[k]["warnings"] == []


def test_no_spec_version_is_no_claim(client: Adapter, request: pytest.FixtureRequest) -> None:
    # NEEDS i15 (policy rule 3): WebSocket.spec_version is None when the scope has none.
    k = key(request)
    close_after(client, f"/close?key={k}&code=1000")
    assert RECORDS[k]["spec_version"] is None


def test_client_close_code_and_reason_reach_the_app(client: Adapter, request: pytest.FixtureRequest) -> None:
    k = key(request)
    with client.connect(f"/echo?key={k}") as session:
        session.send_json({"n": 1})
        assert session.receive_json() == {"echo": {"n": 1}}
        if client.name == "starlette":
            session.close(4002, "client says bye")
        else:
            session.close(4002)  # Litestar's session.close() takes no reason
            # Leaving the block stops Litestar's event loop at once: let the app see the disconnect first.
            wait_for(lambda: "disconnect" in RECORDS.get(k, {}))
    expected = (4002, "client says bye") if client.name == "starlette" else (4002, "")
    assert RECORDS[k]["disconnect"] == expected


# Handshake -------------------------------------------------------------------


def test_accept_headers_reach_the_client(client: Adapter, request: pytest.FixtureRequest) -> None:
    # NEEDS i15 (policy rule 3): before it, accept(headers=...) raised UnsupportedByServerError here.
    k = key(request)
    with client.connect(f"/accept-headers?key={k}") as session:
        assert session.receive_text() == "accepted"
        assert session.extra_headers == [(b"x-fastware", b"Accepted"), (b"set-cookie", b"Session=AbC")]
    assert RECORDS[k]["warnings"] == []


def test_subprotocol_reaches_the_client(client: Adapter) -> None:
    with client.connect("/subprotocol", subprotocols=["alpha", "beta"]) as session:
        assert session.accepted_subprotocol == "beta"
        assert session.receive_text() == "beta"


def test_reject_before_accept(client: Adapter) -> None:
    with pytest.raises(client.disconnect) as info, client.connect("/reject"):
        pass
    assert client.close_seen(info.value)[0] == 1000


def test_denial_response(client: Adapter, request: pytest.FixtureRequest) -> None:
    k = key(request)
    if client.name == "starlette":
        with pytest.raises(starlette.testclient.WebSocketDenialResponse) as info, client.connect(f"/deny?key={k}"):
            pass
        assert info.value.status_code == 401
        assert info.value.headers["x-denied"] == "By-App"
        assert info.value.content == b"denied by fastware"
        assert "unsupported" not in RECORDS[k]
    else:
        # Litestar's client does not offer the websocket.http.response extension: fastware says so, and the
        # app's fallback (close before accept) reaches the client.
        with pytest.raises(client.disconnect), client.connect(f"/deny?key={k}"):
            pass
        assert "websocket.http.response" in RECORDS[k]["unsupported"]


def test_connection_details(client: Adapter) -> None:
    with client.connect("/details?a=1&a=2", headers={"cookie": "sid=abc"}) as session:
        details = session.receive_json()
    assert details["query"] == [["a", "1"], ["a", "2"]]
    assert details["cookies"] == {"sid": "abc"}
    assert details["url"].endswith("/details?a=1&a=2")
    assert details["client"] == ["testclient", 50000]


# Rule 1 under a test client, with the server's claim made older by a middleware -------------------------


def declaring(version: str, inner: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapper(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope = {**scope, "asgi": {"version": "3.0", "spec_version": version}}
        await inner(scope, receive, send)

    return wrapper


def test_a_key_newer_than_the_declared_version_is_sent_with_a_warning(request: pytest.FixtureRequest) -> None:
    # NEEDS i15 (policy rule 1): the close reason (2.3) on a server declaring 2.0 is sent anyway, and warned.
    k = key(request)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        client = starlette.testclient.TestClient(declaring("2.0", app))
        with client.websocket_connect(f"/close?key={k}&code=4001&reason=bye") as session:
            with pytest.raises(starlette.websockets.WebSocketDisconnect) as info:
                session.receive_text()
    assert (info.value.code, info.value.reason) == (4001, "bye")  # this client carries it: it arrives
    (warning,) = RECORDS[k]["warnings"]
    assert warning.startswith(UnsupportedByServerWarning.__name__)
    assert "websocket.close" in warning and "reason" in warning and "2.3" in warning and "2.0" in warning


# FastAPI under its own TestClient ----------------------------------------------


def test_fastapi_route_under_starlettes_test_client() -> None:
    from fastapi import FastAPI

    fastapi_app = FastAPI()
    seen: Record = {}

    @fastapi_app.websocket("/rooms/{room}")
    async def room(ws: FastwareWebSocket, room: str) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_json({"room": room, "echo": await ws.receive_json()})
        except WebSocketDisconnect as exc:
            seen["disconnect"] = (type(exc), exc.code, exc.reason)

    with starlette.testclient.TestClient(fastapi_app).websocket_connect("/rooms/lobby") as session:
        session.send_text(json.dumps([1]))
        assert session.receive_json() == {"room": "lobby", "echo": [1]}
        session.close(4003, "done")
    assert seen["disconnect"] == (WebSocketDisconnect, 4003, "done")
