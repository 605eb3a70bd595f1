"""Each server's own way of saying the same thing, fed to WebSocket exactly as that server sends it.

The messages are copied from the servers' sources (see
/work/shared/reference/asgi-websocket.md §4 for where); the real-server matrix
in tests/servers/ shows the same on the wire.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from support import DENIAL, REASON_SINCE, SPEC_VERSION, FakeServer, make_scope, version_before

from fastware import State, WebSocket, WebSocketDisconnect
from fastware.errors import FrameTypeError, UnsupportedByServerError, UnsupportedByServerWarning

CONNECT = {"type": "websocket.connect"}


async def accepted(*incoming: Mapping[str, Any], **scope: Any) -> tuple[WebSocket, FakeServer]:
    server = FakeServer(CONNECT, *incoming)
    ws = WebSocket(make_scope(**scope), server.receive, server.send)
    await ws.accept()
    return ws, server


# Data frames ----------------------------------------------------------------

# hypercorn's WebsocketBuffer.to_message(): both keys, the unused one None.
HYPERCORN_TEXT = {"type": "websocket.receive", "bytes": None, "text": "héllo"}
HYPERCORN_BYTES = {"type": "websocket.receive", "bytes": b"\x00\xff", "text": None}
# uvicorn (all three implementations) and daphne: only the key in use.
ONE_KEY_TEXT = {"type": "websocket.receive", "text": "héllo"}
ONE_KEY_BYTES = {"type": "websocket.receive", "bytes": b"\x00\xff"}


@pytest.mark.parametrize("message", [HYPERCORN_TEXT, ONE_KEY_TEXT], ids=["hypercorn", "uvicorn-daphne"])
async def test_text_frame_read_as_text(message: Mapping[str, Any]) -> None:
    ws, _ = await accepted(message, message)
    assert await ws.receive_text() == "héllo"
    assert await ws.receive_text(timeout=1) == "héllo"  # the checked (slow) path as well as the fast one


@pytest.mark.parametrize("message", [HYPERCORN_BYTES, ONE_KEY_BYTES], ids=["hypercorn", "uvicorn-daphne"])
async def test_binary_frame_read_as_bytes(message: Mapping[str, Any]) -> None:
    ws, _ = await accepted(message, message)
    assert await ws.receive_bytes() == b"\x00\xff"
    assert await ws.receive_bytes(timeout=1) == b"\x00\xff"


@pytest.mark.parametrize("message", [HYPERCORN_BYTES, ONE_KEY_BYTES], ids=["hypercorn", "uvicorn-daphne"])
async def test_binary_frame_read_as_text_is_a_frame_type_error(message: Mapping[str, Any]) -> None:
    # Litestar turns this into "": here the None text of hypercorn's message is not mistaken for a value.
    ws, _ = await accepted(message)
    with pytest.raises(FrameTypeError, match="Expected a text frame, but got a binary frame"):
        await ws.receive_text()


async def test_hypercorn_empty_text_frame_is_empty_text() -> None:
    # An empty text frame: text "" with bytes None, not "no data".
    ws, _ = await accepted({"type": "websocket.receive", "bytes": None, "text": ""})
    assert await ws.receive_text() == ""


# Disconnects ------------------------------------------------------------------

DISCONNECTS = {
    # daphne: autobahn's remoteCloseCode, None for a close frame without a code.
    "daphne-no-code": ({"type": "websocket.disconnect", "code": None}, 1005, ""),
    # daphne, TCP lost: 1006, and never a reason.
    "daphne-lost": ({"type": "websocket.disconnect", "code": 1006}, 1006, ""),
    # hypercorn: 1006 for any client close (hypercorn #127), no reason key.
    "hypercorn": ({"type": "websocket.disconnect", "code": 1006}, 1006, ""),
    # uvicorn websockets: code and reason of the client's close frame.
    "uvicorn-websockets": ({"type": "websocket.disconnect", "code": 4002, "reason": "bye ✓"}, 4002, "bye ✓"),
    # uvicorn wsproto: wsproto's reason is None when the frame had none.
    "uvicorn-wsproto": ({"type": "websocket.disconnect", "code": 1000, "reason": None}, 1000, ""),
    # uvicorn websockets, app closed first: no reason key.
    "uvicorn-after-close": ({"type": "websocket.disconnect", "code": 1005}, 1005, ""),
    # A pre-2.5 server that leaves code out entirely.
    "no-code-key": ({"type": "websocket.disconnect"}, 1005, ""),
}


@pytest.mark.parametrize(("message", "code", "reason"), DISCONNECTS.values(), ids=DISCONNECTS.keys())
async def test_disconnect_read_with_spec_defaults(message: Mapping[str, Any], code: int, reason: str) -> None:
    ws, _ = await accepted(message)
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert (info.value.code, info.value.reason) == (code, reason)
    assert (ws.close_code, ws.close_reason) == (code, reason)
    # Asked again, the same answer, without another receive().
    with pytest.raises(WebSocketDisconnect) as again:
        await ws.receive_bytes()
    assert (again.value.code, again.value.reason) == (code, reason)


async def test_wsproto_close_reason_enum_code_is_read_as_an_int() -> None:
    # uvicorn --ws wsproto passes wsproto's CloseConnection.code through: an IntEnum member for known codes.
    from wsproto.frame_protocol import CloseReason

    ws, _ = await accepted({"type": "websocket.disconnect", "code": CloseReason.GOING_AWAY, "reason": ""})
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert info.value.code == 1001
    assert type(info.value.code) is int
    assert repr(info.value) == "WebSocketDisconnect(code=1001, reason='')"


async def test_disconnect_during_handshake_daphne() -> None:
    # daphne may deliver the disconnect before the app replied to connect (connect timeout, client gone).
    server = FakeServer(CONNECT, {"type": "websocket.disconnect", "code": None})
    ws = WebSocket(make_scope(), server.receive, server.send)
    assert await ws.receive_raw() == CONNECT
    assert (await ws.receive_raw())["type"] == "websocket.disconnect"
    assert ws.close_code == 1005
    # Whatever the send, the client is gone: the sender gets WebSocketDisconnect, as under Starlette.
    with pytest.raises(WebSocketDisconnect):
        await ws.accept()
    assert server.sent == []


# The peer vanishing: what each server's send() does --------------------------------


async def test_uvicorn_client_disconnected_becomes_websocket_disconnect() -> None:
    # uvicorn's own OSError subclass, raised from send() when the client is gone (ASGI 2.4).
    from uvicorn.protocols.utils import ClientDisconnected

    sends: list[Callable[[WebSocket], Awaitable[None]]] = [
        lambda ws: ws.send_text("x"),
        lambda ws: ws.send_bytes(b"x"),
        lambda ws: ws.send_json({"a": 1}),
    ]
    for send in sends:
        ws, server = await accepted()
        server.send_error = ClientDisconnected()
        with pytest.raises(WebSocketDisconnect) as info:
            await send(ws)
        assert (info.value.code, info.value.reason, ws.connection_state) == (1006, "", State.LOST)
        # Now known to be gone: a further send raises the same before it reaches the server.
        server.send_error = None
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.send_text("again")
        assert info.value.code == 1006
        assert server.types() == ["websocket.accept"]


async def test_close_while_the_client_vanished_is_a_no_op() -> None:
    # The client left, its disconnect not read yet: close() in the app's cleanup does not raise, and the
    # disconnect with the client's code can still be read.
    from uvicorn.protocols.utils import ClientDisconnected

    ws, server = await accepted({"type": "websocket.disconnect", "code": 4001, "reason": "bye"})
    server.send_error = ClientDisconnected()
    await ws.close(4000, reason="bye")
    assert (ws.connection_state, ws.close_code) == (State.CLOSED, 1006)
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert (info.value.code, info.value.reason) == (4001, "bye")
    assert (ws.connection_state, ws.close_code, ws.close_reason) == (State.DISCONNECTED, 4001, "bye")


async def test_close_after_connection_lost_is_a_no_op() -> None:
    from uvicorn.protocols.utils import ClientDisconnected

    ws, server = await accepted()
    server.send_error = ClientDisconnected()
    with pytest.raises(WebSocketDisconnect):
        await ws.send_text("x")
    await ws.close()  # the usual cleanup in a finally block must not raise
    assert server.types() == ["websocket.accept"]


async def test_send_after_received_disconnect_is_refused_before_the_server() -> None:
    # uvicorn would raise its RuntimeError("Unexpected ASGI message ... after sending 'websocket.close'"),
    # hypercorn and daphne would drop the message silently: fastware refuses first, by name.
    ws, server = await accepted({"type": "websocket.disconnect", "code": 1000})
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("x")
    assert info.value.code == 1000
    assert server.types() == ["websocket.accept"]


# Scopes -----------------------------------------------------------------------


def daphne_scope() -> dict[str, Any]:
    # daphne 4.2: asgi without spec_version, no scheme, http_version, extensions or state.
    scope = make_scope(asgi={"version": "3.0"})
    for key in ("scheme", "http_version", "extensions"):
        del scope[key]
    return scope


async def test_daphne_scope_declares_no_spec_version() -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(daphne_scope(), server.receive, server.send)
    assert ws.spec_version is None  # no claim: unknown, not "2.0"


async def test_daphne_accept_headers_sent_without_a_warning() -> None:
    # No declared version: fastware sends what the app asked for and warns for nothing (the policy's rule 3).
    server = FakeServer(CONNECT)
    ws = WebSocket(daphne_scope(), server.receive, server.send)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await ws.accept(headers=[(b"x-a", b"b")])
    assert server.sent == [{"type": "websocket.accept", "headers": [(b"x-a", b"b")]}]


async def test_daphne_close_reason_sent_without_a_warning() -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(daphne_scope(), server.receive, server.send)
    await ws.accept()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await ws.close(4001, reason="bye")
    assert server.sent[-1] == {"type": "websocket.close", "code": 4001, "reason": "bye"}


@DENIAL
async def test_daphne_denial_response_unsupported() -> None:
    server = FakeServer(CONNECT)
    ws = WebSocket(daphne_scope(), server.receive, server.send)
    with pytest.raises(UnsupportedByServerError, match="websocket.http.response"):
        await ws.send_denial_response(401)
    assert server.sent == []
    await ws.close()  # the documented fallback
    assert server.types() == ["websocket.close"]


@pytest.mark.parametrize(
    ("spec_version", "warned"), [(REASON_SINCE, False), (SPEC_VERSION, False), (version_before(REASON_SINCE), True)]
)
async def test_close_reason_by_spec_version(spec_version: str, warned: bool) -> None:
    # hypercorn reports 2.3, uvicorn 2.4: both carry the reason (since 2.3). Older: sent anyway, with a warning.
    server = FakeServer(CONNECT)
    ws = WebSocket(make_scope(asgi={"version": "3.0", "spec_version": spec_version}), server.receive, server.send)
    await ws.accept()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await ws.close(4001, reason="bye")
    assert server.sent[-1] == {"type": "websocket.close", "code": 4001, "reason": "bye"}
    assert [type(w.message) for w in caught] == ([UnsupportedByServerWarning] if warned else [])
