"""fastware.testing: the in-memory client, against fastware apps, raw ASGI apps and Starlette."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket
from support import CLOSE_REASON_MAX, DENIAL, TIMEOUT, assert_valid

from fastware import FrameTypeError, WebSocket, WebSocketDisconnect, WebSocketValueError
from fastware.testing import AppProtocolError, ClientDisconnected, HandshakeRejected, connect

pytestmark = pytest.mark.anyio

WS_1000_NORMAL_CLOSURE = 1000
WS_1006_ABNORMAL_CLOSURE = 1006
WS_1011_INTERNAL_ERROR = 1011
WS_4000_APP = 4000


async def echo(scope: Any, receive: Any, send: Any) -> None:
    ws = WebSocket(scope, receive, send)
    await ws.accept(subprotocol=(scope["subprotocols"] or [None])[0])
    async for message in ws.iter_text():
        await ws.send_text(message)


async def test_connect_builds_a_valid_scope_from_path_query_headers_and_subprotocols() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        seen.update(scope=scope, headers=ws.headers, query=ws.query_string)
        await ws.accept(subprotocol="chat")
        await ws.close()

    headers = {"Origin": "https://example.com", "X-Token": "t"}
    async with connect(app, "/rooms/caf%C3%A9?x=1&y=%20", headers=headers, subprotocols=["chat", "v2"]) as client:
        assert client.subprotocol == "chat"
        with pytest.raises(WebSocketDisconnect):
            await client.receive_text()
    scope = seen["scope"]
    assert_valid(scope, "WebSocketScope")
    assert scope["path"] == "/rooms/café"
    assert scope["raw_path"] == b"/rooms/caf%C3%A9"
    assert seen["query"] == "x=1&y=%20"
    assert scope["subprotocols"] == ["chat", "v2"]
    assert seen["headers"]["origin"] == "https://example.com"
    assert seen["headers"]["x-token"] == "t"
    assert seen["headers"]["sec-websocket-protocol"] == "chat, v2"
    assert seen["headers"]["host"] == "testserver"


async def test_a_wss_url_sets_scheme_host_and_port() -> None:
    scopes: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await WebSocket(scope, receive, send).accept()

    async with connect(app, "wss://example.org/feed", scope={"state": {"user": "ann"}}):
        pass
    assert scopes[0]["scheme"] == "wss"
    assert scopes[0]["server"] == ("example.org", 443)
    assert scopes[0]["path"] == "/feed"
    assert scopes[0]["state"] == {"user": "ann"}


async def test_an_http_url_is_refused_by_name() -> None:
    with pytest.raises(WebSocketValueError, match="ws:// or wss://"):
        connect(echo, "http://example.org/")


async def test_text_bytes_and_json_round_trip() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await ws.send_text(await ws.receive_text())
        await ws.send_bytes(await ws.receive_bytes())
        await ws.send_json(await ws.receive_json())
        await ws.send_json(await ws.receive_json(mode="binary"), mode="binary")

    async with connect(app) as client:
        await client.send_text("héllo")
        assert await client.receive_text() == "héllo"
        await client.send_bytes(b"\x00\xff")
        assert await client.receive_bytes() == b"\x00\xff"
        await client.send_json({"a": [1, 2]})
        assert await client.receive_json() == {"a": [1, 2]}
        await client.send_json({"b": "ü"}, mode="binary")
        assert await client.receive_json(mode="binary") == {"b": "ü"}


async def test_the_wrong_frame_type_raises_frame_type_error() -> None:
    async with connect(echo) as client:
        await client.send_text("text")
        with pytest.raises(FrameTypeError, match="Expected a binary frame, but got a text frame"):
            await client.receive_bytes()


async def test_client_close_code_and_reason_reach_the_app() -> None:
    got: list[tuple[int | None, str | None]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        async for _ in ws.iter_text():
            pass
        got.append((ws.close_code, ws.close_reason))

    async with connect(app) as client:
        await client.close(WS_4000_APP, "bye")
        assert client.closed
    assert got == [(WS_4000_APP, "bye")]


async def test_app_close_raises_websocket_disconnect_after_the_messages_sent_before_it() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await ws.send_text("one")
        await ws.send_text("two")
        await ws.close(WS_4000_APP, reason="done")

    async with connect(app) as client:
        assert await client.receive_text() == "one"
        assert await client.receive_text() == "two"
        with pytest.raises(WebSocketDisconnect) as info:
            await client.receive_text()
        assert (info.value.code, info.value.reason) == (WS_4000_APP, "done")
        with pytest.raises(WebSocketDisconnect):
            await client.send_text("too late")


async def test_the_app_receives_the_disconnect_after_its_own_close() -> None:
    disconnects: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await ws.close(WS_4000_APP)
        disconnects.append(dict(await ws.receive_raw()))

    async with connect(app) as client:
        with pytest.raises(WebSocketDisconnect):
            await client.receive_raw()
            await client.receive_raw()
    assert disconnects == [{"type": "websocket.disconnect", "code": WS_4000_APP, "reason": ""}]


async def test_close_before_accept_is_rejected_with_403() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await WebSocket(scope, receive, send).close()

    with pytest.raises(HandshakeRejected, match="HTTP 403") as info:
        async with connect(app):
            pytest.fail("the handshake was rejected: the block must not run")
    assert (info.value.status, info.value.body) == (403, b"")


@DENIAL
async def test_a_denial_response_carries_status_headers_and_body() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.send_denial_response(401, headers=[(b"www-authenticate", b"Bearer")], body=b"log in first")

    with pytest.raises(HandshakeRejected, match="HTTP 401") as info:
        async with connect(app):
            pass
    assert info.value.status == 401
    assert info.value.headers == [(b"www-authenticate", b"Bearer")]
    assert info.value.body == b"log in first"


@DENIAL
async def test_a_denial_response_in_several_parts_is_joined() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 429, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"slow ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"down"})

    with pytest.raises(HandshakeRejected) as info:
        async with connect(app):
            pass
    assert (info.value.status, info.value.body) == (429, b"slow down")


async def test_an_app_that_returns_without_replying_is_a_500() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    with pytest.raises(HandshakeRejected, match="HTTP 500"):
        async with connect(app):
            pass


async def test_an_app_error_before_accept_is_raised_in_the_test() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise LookupError("no such room")

    with pytest.raises(LookupError, match="no such room"):
        async with connect(app):
            pass
    with pytest.raises(HandshakeRejected, match="HTTP 500"):
        async with connect(app, raise_app_exceptions=False):
            pass


async def test_an_app_error_after_accept_is_raised_at_the_next_receive() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await ws.receive_text()
        raise KeyError("boom")

    async with connect(app) as client:
        await client.send_text("go")
        with pytest.raises(KeyError, match="boom"):
            await client.receive_text()

    async with connect(app, raise_app_exceptions=False) as client:
        await client.send_text("go")
        with pytest.raises(WebSocketDisconnect) as info:
            await client.receive_text()
        assert info.value.code == WS_1011_INTERNAL_ERROR


async def test_an_app_error_nobody_read_is_raised_on_exit() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await WebSocket(scope, receive, send).accept()
        raise ZeroDivisionError("late")

    with pytest.raises(ZeroDivisionError, match="late"):
        async with connect(app):
            await asyncio.sleep(0)


async def test_returning_while_open_reads_as_1006() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await WebSocket(scope, receive, send).accept()

    async with connect(app) as client:
        with pytest.raises(WebSocketDisconnect) as info:
            await client.receive_text()
        assert info.value.code == WS_1006_ABNORMAL_CLOSURE


async def test_a_silent_app_times_out_instead_of_hanging() -> None:
    async with connect(echo, timeout=0.05) as client:
        with pytest.raises(TimeoutError, match="sent nothing within 0.05s"):
            await client.receive_text()
        await client.send_text("still here")
        assert await client.receive_text(timeout=TIMEOUT) == "still here"


async def test_an_app_that_never_returns_after_the_close_times_out() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await WebSocket(scope, receive, send).accept()
        await asyncio.Event().wait()  # ignores the disconnect forever

    client = connect(app, timeout=0.05)
    with pytest.raises(TimeoutError, match="did not return"):
        async with client:
            pass


async def test_the_handshake_wait_is_bounded() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError, match="sent nothing"):
        async with connect(app, timeout=0.05):
            pass


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([{"type": "websocket.send", "text": "early"}], "Expected ASGI message 'websocket.accept'"),
        ([{"type": "websocket.accept"}, {"type": "websocket.accept"}], "but got 'websocket.accept'"),
        ([{"type": "websocket.accept"}, {"type": "websocket.send", "text": "a", "bytes": b"b"}], "exactly one"),
        ([{"type": "websocket.accept"}, {"type": "websocket.send", "text": b"x"}], "must be str"),
        ([{"type": "websocket.accept"}, {"type": "websocket.close", "code": 1006}], "1006"),
        ([{"type": "websocket.accept", "subprotocol": "nope"}], "did not offer"),
        ([{"type": "websocket.accept"}, {"type": "websocket.close"}, {"type": "websocket.send", "text": "x"}], "got"),
    ],
)
async def test_invalid_messages_from_a_raw_app_raise_app_protocol_error(
    messages: list[dict[str, Any]], error: str
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        for message in messages:
            await send(message)

    with pytest.raises(AppProtocolError, match=error):
        async with connect(app) as client:
            while True:
                await client.receive_raw()


async def test_send_after_the_client_left_raises_oserror_which_fastware_reads_as_1006() -> None:
    outcome: list[BaseException] = []
    left = asyncio.Event()

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await left.wait()
        try:
            await send({"type": "websocket.send", "text": "anyone?"})
        except ClientDisconnected as exc:
            outcome.append(exc)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await left.wait()
        try:
            await ws.send_text("anyone?")
        except WebSocketDisconnect as exc:
            outcome.append(exc)

    for target in (raw, app):
        async with connect(target) as client:
            closing = asyncio.create_task(client.close())
            await asyncio.sleep(0)  # close() has told the app; now let it send
            left.set()
            await closing
        left.clear()
    assert isinstance(outcome[0], OSError)
    assert isinstance(outcome[1], WebSocketDisconnect) and outcome[1].code == WS_1006_ABNORMAL_CLOSURE


async def test_client_checks_its_own_arguments() -> None:
    async with connect(echo) as client:
        with pytest.raises(TypeError, match="needs str"):
            await client.send_text(b"bytes")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="needs bytes"):
            await client.send_bytes("text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="1000-4999"):
            await client.close(999)
        with pytest.raises(ValueError, match=f"{CLOSE_REASON_MAX} bytes"):
            await client.close(1000, "x" * (CLOSE_REASON_MAX + 1))


async def test_an_exception_in_the_test_body_disconnects_the_app_with_1006() -> None:
    codes: list[int | None] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        async for _ in ws.iter_text():
            pass
        codes.append(ws.close_code)

    with pytest.raises(RuntimeError, match="test failed"):
        async with connect(app):
            raise RuntimeError("test failed")
    await asyncio.sleep(0)
    assert codes == [WS_1006_ABNORMAL_CLOSURE]


async def test_drives_a_starlette_app() -> None:
    async def endpoint(websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        name = websocket.path_params["name"]
        await websocket.send_text(f"hello {name}, {websocket.query_params['n']}")
        await websocket.close(code=WS_4000_APP)

    app = Starlette(routes=[WebSocketRoute("/hi/{name}", endpoint)])
    async with connect(app, "/hi/ann?n=1") as client:
        assert await client.receive_text() == "hello ann, 1"
        with pytest.raises(WebSocketDisconnect) as info:
            await client.receive_text()
        assert info.value.code == WS_4000_APP


# The client yields on every send and receive, and its timeouts hold on every path ----------


async def test_an_app_streaming_until_the_client_leaves_lets_the_test_run() -> None:
    # Each send of the app suspends, as a server's does: the test reads between its messages.
    sent: list[int] = []
    ends: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        try:
            for n in range(10_000):  # bounded, so a regression fails instead of hanging the suite
                await ws.send_text(str(n))
                sent.append(n)
        except WebSocketDisconnect as exc:
            ends.append(exc)

    async with connect(app) as client:
        assert [await client.receive_text() for _ in range(5)] == ["0", "1", "2", "3", "4"]
    assert len(sent) < 10_000
    assert [type(e) for e in ends] == [WebSocketDisconnect]


async def test_an_app_that_keeps_receiving_after_the_disconnect_is_stopped_within_the_timeout() -> None:
    calls = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal calls
        await receive()
        await send({"type": "websocket.accept"})
        # Ignores the disconnect it keeps getting, and swallows the first cancellation; bounded, so that a
        # client that never yields fails this test instead of hanging the suite.
        for _ in range(200_000):
            try:
                await receive()
            except asyncio.CancelledError:
                if calls < 0:
                    raise
                calls = -1
            else:
                calls += 1

    client = connect(app, timeout=0.2)
    await client.__aenter__()
    with pytest.raises(TimeoutError, match="did not return within 0.2s"):
        await client.close()
    task = client._task
    assert task is not None
    await asyncio.wait({task}, timeout=TIMEOUT)
    assert task.cancelled()
    assert calls == -1


async def test_a_receive_loop_after_the_disconnect_does_not_starve_the_test() -> None:
    gone = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await gone.wait()
        # Bounded by time, not by a count a fast machine gets through within the client's 0.2 s: a
        # regression (receive() never yielding) fails after 10 s rather than hangs.
        deadline = asyncio.get_running_loop().time() + 10
        while asyncio.get_running_loop().time() < deadline:
            await receive()

    async with connect(app, timeout=0.2) as client:
        client._client_disconnects(1000, "")
        gone.set()
        # The app spins on receive(), but yields: the test's own bounded wait still times out.
        with pytest.raises(TimeoutError, match="sent nothing within 0.2s"):
            await client.receive_raw()
        await client._stop_app()
