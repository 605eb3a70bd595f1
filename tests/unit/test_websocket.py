"""WebSocket against an in-memory server: every message it sends is checked against the schema."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from support import (
    ACCEPT_HEADERS_SINCE,
    CLOSE_REASON_MAX,
    DENIAL,
    REASON_SINCE,
    REFUSED_CLOSE_CODES,
    FakeServer,
    make_scope,
    utf8_text,
    version_before,
)

from fastware import (
    FrameTypeError,
    InvalidJSONError,
    ServerProtocolError,
    State,
    UnsupportedByServerError,
    UnsupportedByServerWarning,
    WebSocket,
    WebSocketDisconnect,
    WebSocketError,
    WebSocketStateError,
    WebSocketTypeError,
    WebSocketValueError,
)

CONNECT = {"type": "websocket.connect"}
WS_1000_NORMAL_CLOSURE = 1000
WS_1001_GOING_AWAY = 1001
WS_1005_NO_STATUS = 1005
WS_1006_ABNORMAL = 1006


def text(value: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": value}


def binary(value: bytes) -> dict[str, Any]:
    return {"type": "websocket.receive", "bytes": value}


def disconnect(code: int = WS_1000_NORMAL_CLOSURE, reason: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "websocket.disconnect", "code": code}
    if reason is not None:
        message["reason"] = reason
    return message


def make(*incoming: dict[str, Any], **scope: Any) -> tuple[WebSocket, FakeServer]:
    server = FakeServer(*incoming)
    return WebSocket(make_scope(**scope), server.receive, server.send), server


async def accepted(*incoming: dict[str, Any], **scope: Any) -> tuple[WebSocket, FakeServer]:
    ws, server = make(CONNECT, *incoming, **scope)
    await ws.accept()
    server.sent.clear()
    return ws, server


# Connection details ---------------------------------------------------------


def test_headers_keep_case_and_first_value_wins() -> None:
    ws, _ = make(headers=[(b"X-Token", b"a"), (b"x-token", b"b"), (b"X-Token", b"c"), (b"host", b"h")])
    assert ws.headers == {"X-Token": "a", "x-token": "b", "host": "h"}


def test_headers_decode_latin1() -> None:
    ws, _ = make(headers=[(b"x-name", "caf\u00e9".encode("latin-1"))])
    assert ws.headers["x-name"] == "caf\u00e9"


def test_query_string_is_raw_latin1_with_escapes_kept() -> None:
    ws, _ = make(query_string=b"a=1&b=%20x&c=\xe9")
    assert ws.query_string == "a=1&b=%20x&c=\u00e9"


@pytest.mark.parametrize("scope", [{}, {"query_string": None}])
def test_query_string_missing_or_none_is_empty(scope: dict[str, Any]) -> None:
    full = make_scope()
    full.pop("query_string")
    full.update(scope)
    ws = WebSocket(full, FakeServer().receive, FakeServer().send)
    assert ws.query_string == ""


def test_path_params_default_empty_and_from_scope() -> None:
    assert make()[0].path_params == {}
    assert make(path_params={"room": "x"})[0].path_params == {"room": "x"}


def test_wrong_scope_type_is_refused() -> None:
    with pytest.raises(WebSocketValueError, match="'websocket' scope, but got type 'http'"):
        WebSocket({"type": "http"}, FakeServer().receive, FakeServer().send)


def test_spec_version_is_none_when_the_server_declares_none() -> None:
    assert make(asgi={"version": "3.0"})[0].spec_version is None
    assert make(asgi={"version": "3.0", "spec_version": "2.4"})[0].spec_version == (2, 4)


def test_bad_spec_version_is_a_server_error() -> None:
    with pytest.raises(ServerProtocolError, match="not a version: 'two'"):
        make(asgi={"spec_version": "two"})


# accept ---------------------------------------------------------------------


async def test_accept_reads_connect_then_sends_accept() -> None:
    ws, server = make(CONNECT)
    await ws.accept()
    assert server.sent == [{"type": "websocket.accept"}]
    assert ws.connection_state is State.CONNECTED


async def test_accept_after_connect_read_by_receive_raw() -> None:
    ws, server = make(CONNECT)
    assert await ws.receive_raw() == CONNECT
    assert ws.connection_state is State.HANDSHAKE
    await ws.accept()
    assert server.types() == ["websocket.accept"]


async def test_accept_subprotocol_offered() -> None:
    ws, server = make(CONNECT, subprotocols=["v1", "v2"])
    await ws.accept("v2")
    assert server.sent == [{"type": "websocket.accept", "subprotocol": "v2"}]
    assert ws.subprotocol == "v2"


async def test_accept_subprotocol_not_offered_sends_nothing() -> None:
    ws, server = make(CONNECT, subprotocols=["v1"])
    with pytest.raises(WebSocketValueError, match="'v9' is not one the client offered"):
        await ws.accept("v9")
    assert server.sent == []


async def test_accept_subprotocol_bytes_is_type_error() -> None:
    ws, server = make(CONNECT, subprotocols=["x"])
    with pytest.raises(TypeError, match="'subprotocol' must be str, not bytes"):
        await ws.accept(subprotocol=b"x")  # type: ignore[arg-type]
    assert server.sent == []


async def test_accept_headers_sent_in_order() -> None:
    ws, server = make(CONNECT)
    await ws.accept(headers=[(b"x-a", b"1"), (b"set-cookie", b"s=1")])
    assert server.sent == [{"type": "websocket.accept", "headers": [(b"x-a", b"1"), (b"set-cookie", b"s=1")]}]


@pytest.mark.parametrize(
    ("headers", "error", "match"),
    [
        ([(b"X-Upper", b"1")], WebSocketValueError, "must be a lowercase token"),
        ([(b":status", b"1")], WebSocketValueError, "must be a lowercase token"),
        ([(b"sec-websocket-protocol", b"x")], WebSocketValueError, "may not be set here"),
        ([("x-a", "1")], WebSocketTypeError, "must be bytes"),
        ([(b"x-a",)], WebSocketTypeError, r"must be a \(name, value\) pair"),
        (b"x-a: 1", WebSocketTypeError, "must be an iterable of"),
    ],
)
async def test_accept_bad_headers_send_nothing(headers: Any, error: type[Exception], match: str) -> None:
    ws, server = make(CONNECT)
    with pytest.raises(error, match=match):
        await ws.accept(headers=headers)
    assert server.sent == []
    assert ws.connection_state is State.CONNECTING


async def test_accept_headers_sent_with_a_warning_to_an_older_server() -> None:
    older = version_before(ACCEPT_HEADERS_SINCE)
    ws, server = make(CONNECT, asgi={"version": "3.0", "spec_version": older})
    with pytest.warns(
        UnsupportedByServerWarning,
        match=rf"'headers' needs ASGI spec {ACCEPT_HEADERS_SINCE}; this server declares {older}",
    ):
        await ws.accept(headers=[(b"x-a", b"1")])
    assert server.sent == [{"type": "websocket.accept", "headers": [(b"x-a", b"1")]}]


async def test_accept_twice_is_a_state_error() -> None:
    ws, server = await accepted()
    with pytest.raises(WebSocketStateError, match="Cannot send 'websocket.accept' in state CONNECTED"):
        await ws.accept()
    assert server.sent == []


async def test_first_message_not_connect_is_a_server_error() -> None:
    ws, server = make(text("early"))
    with pytest.raises(ServerProtocolError, match="Unexpected ASGI message 'websocket.receive'"):
        await ws.accept()
    assert server.sent == []


# send -----------------------------------------------------------------------


async def test_send_text_bytes_json() -> None:
    ws, server = await accepted()
    await ws.send_text("h\u00e9")
    await ws.send_bytes(b"\x00\xff")
    await ws.send_json({"a": [1, "\u00e9"]})
    await ws.send_json([1], mode="binary")
    assert server.sent == [
        {"type": "websocket.send", "text": "h\u00e9"},
        {"type": "websocket.send", "bytes": b"\x00\xff"},
        {"type": "websocket.send", "text": '{"a":[1,"\u00e9"]}'},
        {"type": "websocket.send", "bytes": b"[1]"},
    ]


async def test_send_bytes_accepts_bytearray_and_memoryview() -> None:
    ws, server = await accepted()
    await ws.send_bytes(bytearray(b"ab"))  # type: ignore[arg-type]
    await ws.send_bytes(memoryview(b"cd"))  # type: ignore[arg-type]
    assert [m["bytes"] for m in server.sent] == [b"ab", b"cd"]
    assert all(type(m["bytes"]) is bytes for m in server.sent)


@pytest.mark.parametrize(
    ("method", "value", "match"),
    [
        ("send_text", b"x", "'text' must be str, not bytes"),
        ("send_text", None, "'text' must be str, not NoneType"),
        ("send_bytes", "x", "'bytes' must be bytes, not str"),
        ("send_bytes", 3, "'bytes' must be bytes, not int"),
    ],
)
async def test_send_wrong_type_is_type_error(method: str, value: Any, match: str) -> None:
    ws, server = await accepted()
    with pytest.raises(TypeError, match=match):
        await getattr(ws, method)(value)
    assert server.sent == []


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ({1, 2}, TypeError, "cannot encode set as JSON"),
        (object(), TypeError, "cannot encode object as JSON"),
        (float("nan"), ValueError, "cannot encode float as JSON"),
    ],
)
async def test_send_json_unencodable(data: Any, error: type[Exception], match: str) -> None:
    ws, server = await accepted()
    with pytest.raises(error, match=match):
        await ws.send_json(data)
    assert server.sent == []


async def test_send_json_bad_mode() -> None:
    ws, server = await accepted()
    with pytest.raises(WebSocketValueError, match='mode must be "text" or "binary", not \'bson\''):
        await ws.send_json({}, mode="bson")  # type: ignore[arg-type]
    assert server.sent == []


@pytest.mark.parametrize("method", ["send_text", "send_bytes", "send_json"])
async def test_send_before_accept_is_a_state_error(method: str) -> None:
    ws, server = make(CONNECT)
    value = b"x" if method == "send_bytes" else "x"
    with pytest.raises(WebSocketStateError, match="Cannot send 'websocket.send' in state CONNECTING: call accept"):
        await getattr(ws, method)(value)
    assert server.sent == []


async def test_send_after_close_is_a_state_error() -> None:
    ws, server = await accepted()
    await ws.close()
    with pytest.raises(WebSocketStateError, match="in state CLOSED: close\\(\\) was already called"):
        await ws.send_text("late")
    assert server.types() == ["websocket.close"]


async def test_send_after_disconnect_raises_the_disconnect() -> None:
    # As a sender under Starlette sees it (the server's OSError there), but with the client's own code.
    ws, server = await accepted(disconnect(WS_1001_GOING_AWAY))
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_bytes(b"late")
    assert info.value.code == WS_1001_GOING_AWAY
    assert server.sent == []


async def test_send_oserror_becomes_disconnect_1006() -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(make_scope(), server.receive, server.send)
    await ws.accept()
    server.send_error = ConnectionResetError("peer gone")
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("x")
    assert (info.value.code, ws.connection_state, ws.close_code) == (WS_1006_ABNORMAL, State.LOST, WS_1006_ABNORMAL)
    with pytest.raises(WebSocketDisconnect):
        await ws.send_text("again")


# close ----------------------------------------------------------------------


async def test_close_defaults_to_1000() -> None:
    ws, server = await accepted()
    await ws.close()
    assert server.sent == [{"type": "websocket.close", "code": WS_1000_NORMAL_CLOSURE}]
    assert ws.connection_state is State.CLOSED


async def test_close_with_reason() -> None:
    ws, server = await accepted()
    await ws.close(4001, reason="bye \u00e9")
    assert server.sent == [{"type": "websocket.close", "code": 4001, "reason": "bye \u00e9"}]


async def test_close_reason_sent_with_a_warning_to_an_older_server() -> None:
    ws, server = await accepted(asgi={"version": "3.0", "spec_version": version_before(REASON_SINCE)})
    with pytest.warns(UnsupportedByServerWarning, match=rf"websocket.close 'reason' needs ASGI spec {REASON_SINCE}"):
        await ws.close(4001, reason="bye")
    assert server.sent == [{"type": "websocket.close", "code": 4001, "reason": "bye"}]


async def test_close_twice_sends_one_close() -> None:
    ws, server = await accepted()
    await ws.close(4000)
    await ws.close(4001)
    assert server.sent == [{"type": "websocket.close", "code": 4000}]


async def test_close_before_accept_rejects_handshake() -> None:
    ws, server = make(CONNECT)
    await ws.close()
    assert server.sent == [{"type": "websocket.close", "code": WS_1000_NORMAL_CLOSURE}]
    assert ws.connection_state is State.CLOSED


async def test_close_after_disconnect_is_a_no_op() -> None:
    ws, server = await accepted(disconnect())
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_bytes()
    await ws.close()
    assert server.sent == []


@pytest.mark.parametrize("code", REFUSED_CLOSE_CODES)
async def test_close_code_an_endpoint_may_not_send(code: int) -> None:
    ws, server = await accepted()
    with pytest.raises(WebSocketValueError, match=f"'code' may not be {code}"):
        await ws.close(code)
    assert server.sent == []
    assert ws.connection_state is State.CONNECTED


@pytest.mark.parametrize("code", ["4001", 4001.0, True, None])
async def test_close_code_wrong_type(code: Any) -> None:
    ws, server = await accepted()
    with pytest.raises(TypeError, match="'code' must be int"):
        await ws.close(code)
    assert server.sent == []


async def test_close_reason_over_the_utf8_byte_limit() -> None:
    ws, server = await accepted()
    over, fits = utf8_text(CLOSE_REASON_MAX + 1), utf8_text(CLOSE_REASON_MAX)
    assert len(over) <= CLOSE_REASON_MAX  # fewer characters than the limit: bytes are counted
    with pytest.raises(
        WebSocketValueError, match=f"is {CLOSE_REASON_MAX + 1} bytes as UTF-8; at most {CLOSE_REASON_MAX}"
    ):
        await ws.close(reason=over)
    await ws.close(reason=fits)
    assert server.sent == [{"type": "websocket.close", "code": 1000, "reason": fits}]


async def test_close_reason_lone_surrogate() -> None:
    ws, server = await accepted()
    with pytest.raises(WebSocketValueError, match="cannot be encoded as UTF-8"):
        await ws.close(reason="\ud800")
    assert server.sent == []


# receive --------------------------------------------------------------------


async def test_receive_text_bytes_json() -> None:
    ws, _ = await accepted(text("a"), binary(b"b"), text('{"c": 1}'), binary(b"[2]"))
    assert await ws.receive_text() == "a"
    assert await ws.receive_bytes() == b"b"
    assert await ws.receive_json() == {"c": 1}
    assert await ws.receive_json(mode="binary") == [2]


async def test_receive_text_on_binary_frame() -> None:
    ws, _ = await accepted(binary(b"x"))
    with pytest.raises(FrameTypeError, match="Expected a text frame, but got a binary frame"):
        await ws.receive_text()


async def test_receive_bytes_on_text_frame() -> None:
    ws, _ = await accepted(text("x"))
    with pytest.raises(FrameTypeError, match="Expected a binary frame, but got a text frame"):
        await ws.receive_bytes()


async def test_receive_json_invalid() -> None:
    ws, _ = await accepted(text("{not json"))
    with pytest.raises(InvalidJSONError, match="text frame that is not valid JSON: Expecting property name"):
        await ws.receive_json()
    assert isinstance(InvalidJSONError("x"), ValueError)


@pytest.mark.parametrize("method", ["receive_text", "receive_bytes", "receive_json", "_receive_data"])
async def test_receive_before_accept_is_a_state_error(method: str) -> None:
    ws, _ = make(CONNECT)
    with pytest.raises(WebSocketStateError, match="Cannot receive data in state CONNECTING: call accept"):
        await getattr(ws, method)()


async def test_disconnect_raises_with_code_and_reason() -> None:
    ws, _ = await accepted(disconnect(4001, "gone"))
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert (info.value.code, info.value.reason) == (4001, "gone")
    assert (ws.close_code, ws.close_reason, ws.connection_state) == (4001, "gone", State.DISCONNECTED)


@pytest.mark.parametrize("method", ["receive_text", "receive_bytes", "receive_json", "receive_raw", "_receive_data"])
async def test_receive_after_disconnect_raises_at_once(method: str) -> None:
    ws, server = await accepted(disconnect(4002, "x"))
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()
    assert server.incoming.empty()
    # Nothing is queued: a wait would hang until the fake's timeout, a raise is immediate.
    with pytest.raises(WebSocketDisconnect) as info:
        await asyncio.wait_for(getattr(ws, method)(), 1)
    assert (info.value.code, info.value.reason) == (4002, "x")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "websocket.disconnect"}, (WS_1005_NO_STATUS, "")),
        ({"type": "websocket.disconnect", "code": None}, (WS_1005_NO_STATUS, "")),  # daphne
        ({"type": "websocket.disconnect", "code": 1001, "reason": None}, (WS_1001_GOING_AWAY, "")),
    ],
)
async def test_disconnect_defaults(message: dict[str, Any], expected: tuple[int, str]) -> None:
    ws, _ = await accepted(message)
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_bytes()
    assert (info.value.code, info.value.reason) == expected


async def test_receive_raw_returns_messages_as_received() -> None:
    ws, _ = await accepted(text("a"), disconnect(1001))
    assert await ws.receive_raw() == text("a")
    assert await ws.receive_raw() == disconnect(1001)
    assert ws.connection_state is State.DISCONNECTED


async def test_receive_data_returns_message_and_raises_on_disconnect() -> None:
    ws, _ = await accepted(binary(b"a"), disconnect(4003))
    assert await ws._receive_data() == binary(b"a")
    with pytest.raises(WebSocketDisconnect) as info:
        await ws._receive_data()
    assert info.value.code == 4003


async def test_receive_after_own_close_drains_to_disconnect() -> None:
    ws, _ = await accepted(text("in flight"), disconnect(1000))
    await ws.close()
    assert await ws.receive_text() == "in flight"
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ({"type": "websocket.receive"}, "neither bytes nor text"),
        ({"type": "websocket.receive", "bytes": b"x", "text": "x"}, "both bytes and text"),
        ({"type": "websocket.receive", "text": 5}, "'text' must be str, not int"),
        ({"type": "websocket.connect"}, "Unexpected ASGI message 'websocket.connect'"),
        ({"type": "http.request"}, "Unexpected ASGI message 'http.request'"),
    ],
)
async def test_malformed_server_messages(message: dict[str, Any], match: str) -> None:
    ws, _ = await accepted(message)
    with pytest.raises(ServerProtocolError, match=match):
        await ws.receive_text()


async def test_hypercorn_style_receive_with_both_keys_one_none() -> None:
    ws, _ = await accepted(
        {"type": "websocket.receive", "bytes": None, "text": "t"},
        {"type": "websocket.receive", "bytes": b"b", "text": None},
    )
    assert await ws.receive_text() == "t"
    assert await ws.receive_bytes() == b"b"


async def test_timeout_raises_builtin_timeout_error_and_loses_nothing() -> None:
    ws, server = await accepted()
    with pytest.raises(TimeoutError):
        await ws.receive_text(timeout=0.01)
    server.push(text("later"))
    assert await ws.receive_text(timeout=5) == "later"


# denial response ------------------------------------------------------------


@DENIAL
async def test_denial_response() -> None:
    ws, server = make(CONNECT)
    await ws.send_denial_response(401, headers=[(b"www-authenticate", b"Bearer")], body=b"no")
    assert server.sent == [
        {"type": "websocket.http.response.start", "status": 401, "headers": [(b"www-authenticate", b"Bearer")]},
        {"type": "websocket.http.response.body", "body": b"no", "more_body": False},
    ]
    assert ws.connection_state is State.CLOSED


@DENIAL
async def test_denial_response_without_extension() -> None:
    ws, server = make(CONNECT, extensions={})
    with pytest.raises(UnsupportedByServerError, match="needs the 'websocket.http.response' extension"):
        await ws.send_denial_response(403)
    assert server.sent == []


@DENIAL
async def test_denial_response_after_accept_is_a_state_error() -> None:
    ws, server = await accepted()
    with pytest.raises(WebSocketStateError, match="websocket.http.response.start' in state CONNECTED"):
        await ws.send_denial_response(403)
    assert server.sent == []


@DENIAL
@pytest.mark.parametrize(
    ("status", "error"), [(99, WebSocketValueError), (600, WebSocketValueError), ("403", TypeError)]
)
async def test_denial_response_bad_status(status: Any, error: type[Exception]) -> None:
    ws, server = make(CONNECT)
    with pytest.raises(error, match="'status'"):
        await ws.send_denial_response(status)
    assert server.sent == []


# errors ---------------------------------------------------------------------


def test_websocket_disconnect_public_api() -> None:
    assert WebSocketDisconnect().code == WS_1000_NORMAL_CLOSURE
    assert WebSocketDisconnect(4001).code == 4001
    assert WebSocketDisconnect(code=4001, reason="r").reason == "r"
    assert WebSocketDisconnect().reason == ""
    assert str(WebSocketDisconnect(4001, "r")) == "WebSocket disconnected with code 4001: r"
    assert str(WebSocketDisconnect(1001)) == "WebSocket disconnected with code 1001"


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (WebSocketStateError, RuntimeError),
        (WebSocketTypeError, TypeError),
        (FrameTypeError, TypeError),
        (WebSocketValueError, ValueError),
        (InvalidJSONError, ValueError),
        (UnsupportedByServerError, RuntimeError),
        (ServerProtocolError, RuntimeError),
    ],
)
def test_errors_share_a_base_and_a_builtin(error: type[Exception], builtin: type[Exception]) -> None:
    assert issubclass(error, WebSocketError)
    assert issubclass(error, builtin)


def test_the_warning_becomes_an_error_under_pytest_w(tmp_path: Any) -> None:
    # The spelling the docs give: pytest -W error::fastware.UnsupportedByServerWarning.
    (tmp_path / "test_old_server.py").write_text(
        "import asyncio\n"
        "from fastware import WebSocket\n"
        "def test_headers():\n"
        "    async def receive(): return {'type': 'websocket.connect'}\n"
        "    async def send(m): pass\n"
        "    scope = {'type': 'websocket', 'asgi': {'spec_version': '2.0'}, 'path': '/', 'headers': []}\n"
        "    asyncio.run(WebSocket(scope, receive, send).accept(headers=[(b'x-a', b'1')]))\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::fastware.UnsupportedByServerWarning",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    assert "UnsupportedByServerWarning: websocket.accept 'headers' needs ASGI spec" in done.stdout
