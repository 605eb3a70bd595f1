"""The WebSocket connection an ASGI application talks to.

The message methods (accept, close, send_text, send_bytes, receive_text,
receive_bytes, and the denial-response messages) are generated from the schema
into fastware._generated.methods; this module adds what the schema cannot say:
the state machine, the connection details of the scope, JSON, iteration and
the raw escape hatches.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from json.encoder import c_make_encoder as _c_make_encoder  # type: ignore[attr-defined]
from json.encoder import encode_basestring as _encode_basestring  # type: ignore[attr-defined]
from typing import Any, Literal

from fastware import _validation
from fastware._generated import checks as _checks
from fastware._generated import metadata as _metadata
from fastware._generated.methods import WebSocketMethods
from fastware._state import DATA_RECEIVE_STATES, HINTS, TRANSITIONS, State
from fastware.errors import (
    InvalidJSONError,
    ServerProtocolError,
    UnsupportedByServerError,
    WebSocketDisconnect,
    WebSocketStateError,
    WebSocketTypeError,
    WebSocketValueError,
)

__all__ = ["State", "WebSocket", "WebSocketDisconnect"]

Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
JSONMode = Literal["text", "binary"]

# The reference: compact, UTF-8 kept, NaN refused, circular references detected.
_json_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
# Its C encoder, built once: JSONEncoder.encode() builds a new one on every call (about half its time).
_json_markers: dict[int, Any] = {}  # ids of the containers being encoded: the circular-reference check
_json_c_encode = (
    _c_make_encoder(_json_markers, _json_encoder.default, _encode_basestring, None, ":", ",", False, False, False)
    if _c_make_encoder is not None
    else None
)


def _json_dumps(data: Any) -> str | bytes:
    """Encode ``data`` exactly as ``_json_encoder.encode`` does, with the C encoder built once."""
    if _json_c_encode is not None:
        try:
            return "".join(_json_c_encode(data, 0))
        except Exception:
            # A failed call leaves its markers behind; the reference encoder raises the true error
            # (or succeeds, if another thread's markers made a false circular-reference error).
            _json_markers.clear()
    return _json_encoder.encode(data)


_json_loads: Callable[[str | bytes], Any] = json.loads

# The close code of a websocket.disconnect that carries none: the schema's default, read once here.
_NO_CODE: int = _metadata.MESSAGES["websocket.disconnect"]["keys"]["code"]["default"]

# Messages that answer websocket.connect; sending one first receives the connect.
_HANDSHAKE_REPLIES = frozenset({"websocket.accept", "websocket.close", "websocket.http.response.start"})


def _parse_spec_version(scope: Mapping[str, Any]) -> tuple[int, ...]:
    """scope["asgi"]["spec_version"] as an int tuple; ASGI says "2.0" when it is missing."""
    text = (scope.get("asgi") or {}).get("spec_version") or "2.0"
    try:
        return tuple(int(part) for part in text.split("."))
    except (AttributeError, ValueError):
        raise ServerProtocolError(f"scope['asgi']['spec_version'] is not a version: {text!r}") from None


class WebSocket(WebSocketMethods):
    """A WebSocket connection, wrapping an ASGI ``(scope, receive, send)``.

    Args:
        scope: The connection scope; its ``type`` must be ``"websocket"``.
        receive: The ASGI receive callable.
        send: The ASGI send callable.
        validate: Validate the scope and every message, both ways, against the
            generated pydantic models (slower; for development and untrusted servers).
        json_dumps: Encoder for send_json(), returning str or bytes (e.g. orjson.dumps).
        json_loads: Decoder for receive_json(), taking str or bytes (e.g. orjson.loads).
    """

    __slots__ = (
        "_close_code",
        "_close_reason",
        "_headers",
        "_json_dumps",
        "_json_loads",
        "_open",
        "_receive",
        "_scope",
        "_send",
        "_spec_version",
        "_state",
        "_subprotocol",
    )

    def __init__(
        self,
        scope: Mapping[str, Any],
        receive: Receive,
        send: Send,
        *,
        validate: bool = False,
        json_dumps: Callable[[Any], str | bytes] | None = None,
        json_loads: Callable[[str | bytes], Any] | None = None,
    ) -> None:
        if scope.get("type") != "websocket":
            raise WebSocketValueError(f"WebSocket needs a 'websocket' scope, but got type {scope.get('type')!r}")
        if validate:
            _validation.validate_scope(scope)
            # Checking inside the callables keeps validated mode on the same fast path as the default.
            receive = _validation.validating_receive(receive)
            send = _validation.validating_send(send)
        self._scope = scope
        self._receive = receive
        self._send = send
        self._spec_version = _parse_spec_version(scope)
        self._json_dumps = json_dumps or _json_dumps
        self._json_loads = json_loads or _json_loads
        self._headers: dict[str, str] | None = None
        self._close_code: int | None = None
        self._close_reason: str | None = None
        self._subprotocol: str | None = None
        self._set_state(State.CONNECTING)

    # Connection details -------------------------------------------------

    @property
    def scope(self) -> Mapping[str, Any]:
        """The ASGI connection scope."""
        return self._scope

    @property
    def state(self) -> State:
        """Where the connection is in its life; see fastware.State."""
        return self._state

    @property
    def path_params(self) -> dict[str, Any]:
        """Path parameters a router put in ``scope["path_params"]``; empty when there are none."""
        return self._scope.get("path_params") or {}

    @property
    def headers(self) -> dict[str, str]:
        """The request headers, Latin-1 decoded; names keep the case the server gave, the first value wins."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for name, value in self._scope.get("headers") or ():
                headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
            self._headers = headers
        return self._headers

    @property
    def query_string(self) -> str:
        """The raw query string, Latin-1 decoded, percent-escapes kept; "" when the scope has none."""
        return (self._scope.get("query_string") or b"").decode("latin-1")

    @property
    def spec_version(self) -> tuple[int, ...]:
        """The server's ASGI spec version, from the scope (2.0 when it does not say)."""
        return self._spec_version

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol chosen in accept(), if any."""
        return self._subprotocol

    @property
    def close_code(self) -> int | None:
        """The close code of the disconnect, once one was received (1006 if the connection was lost)."""
        return self._close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason of the disconnect, once one was received ("" when there was none)."""
        return self._close_reason

    # State machine (hooks of the generated methods) -----------------------

    def _set_state(self, state: State) -> None:
        self._state = state
        # The hot path reads this flag, not the enum.
        self._open = state is State.CONNECTED

    async def _send_message(self, message: dict[str, Any]) -> None:
        msg_type = message["type"]
        if self._state is State.CONNECTING and msg_type in _HANDSHAKE_REPLIES:
            # As in Starlette: replying to the handshake first reads websocket.connect.
            self._apply_received(await self._receive())
        state = self._state
        if msg_type == "websocket.close" and state in (State.CLOSED, State.DISCONNECTED):
            return  # close() is idempotent: the connection is already closing or gone.
        next_state = TRANSITIONS.get((state, msg_type))
        if next_state is None:
            raise WebSocketStateError(f"send {msg_type!r}", state.name, HINTS[state])
        try:
            await self._send(message)
        except OSError:
            raise self._connection_lost() from None
        if msg_type == "websocket.accept":
            self._subprotocol = message.get("subprotocol")
        elif msg_type == "websocket.http.response.body" and not message.get("more_body"):
            next_state = State.CLOSED
        self._set_state(next_state)

    def _connection_lost(self) -> WebSocketDisconnect:
        # The server's send() raised OSError (ASGI 2.4): the peer is gone.
        self._close_code, self._close_reason = 1006, ""
        self._set_state(State.DISCONNECTED)
        return WebSocketDisconnect(1006)

    def _disconnected(self) -> WebSocketDisconnect:
        """The exception for a receive once the disconnect is known: its code, or the schema's default."""
        code = self._close_code
        return WebSocketDisconnect(_NO_CODE if code is None else code, self._close_reason)

    def _apply_received(self, message: Message) -> None:
        """Apply the transition of a received message (validated mode checked it in receive())."""
        msg_type = message.get("type")
        next_state = TRANSITIONS.get((self._state, msg_type))  # type: ignore[arg-type]
        if next_state is None:
            raise ServerProtocolError(
                f"Unexpected ASGI message {msg_type!r} from the server in state {self._state.name}"
            )
        if msg_type == "websocket.disconnect":
            self._close_code, self._close_reason = _checks.read_websocket_disconnect(message)
        self._set_state(next_state)

    def _after_receive(self, message: Message) -> None:
        self._apply_received(message)
        if self._state is State.DISCONNECTED:
            raise self._disconnected()

    async def _wait(self, timeout: float | None) -> Message:
        if timeout is None:
            return await self._receive()
        # Cancelling an ASGI receive() loses no message: servers queue them. asyncio.timeout, not
        # wait_for: wait_for wraps receive() in a new Task, about 3x the cost per call.
        async with asyncio.timeout(timeout):
            return await self._receive()

    async def _receive_message(self, timeout: float | None) -> Message:
        state = self._state
        if state is State.DISCONNECTED:
            raise self._disconnected()
        if state not in DATA_RECEIVE_STATES:
            raise WebSocketStateError("receive data", state.name, HINTS[state])
        message = await self._wait(timeout)
        self._after_receive(message)
        return message

    # Raw access ----------------------------------------------------------

    async def receive_raw(self, *, timeout: float | None = None) -> Message:
        """Receive the next ASGI message as the server gave it, any type, tracking state.

        Unlike the other receive methods it returns websocket.connect and
        websocket.disconnect instead of raising; once the disconnect has been
        received, a further call raises WebSocketDisconnect at once.
        """
        if self._state is State.DISCONNECTED:
            raise self._disconnected()
        message = await self._wait(timeout)
        self._apply_received(message)
        return message

    async def _receive_data(self, *, timeout: float | None = None) -> Message:
        """Receive the next data message (websocket.receive) as a dict; raise WebSocketDisconnect on a disconnect."""
        return await self._receive_message(timeout)

    # Denial response ------------------------------------------------------

    async def send_denial_response(
        self, status: int, *, headers: Iterable[tuple[bytes, bytes]] = (), body: bytes = b""
    ) -> None:
        """Reject the handshake with an HTTP response (the ASGI Websocket Denial Response extension).

        Raises UnsupportedByServerError when the server does not offer the
        extension; close() before accept() is the fallback (the server answers 403).
        """
        if "websocket.http.response" not in (self._scope.get("extensions") or {}):
            raise UnsupportedByServerError(
                "This server does not offer the websocket.http.response extension; "
                "call close() before accept() to reject with HTTP 403 instead"
            )
        body = _checks.websocket_http_response_body_body(body)  # checked before anything is sent
        await self._send_http_response_start(status, headers=headers)
        await self._send_http_response_body(body)

    # JSON -----------------------------------------------------------------

    async def send_json(self, data: Any, *, mode: JSONMode = "text") -> None:
        """Send ``data`` as JSON in a text frame, or a binary frame with ``mode="binary"``."""
        if mode != "text" and mode != "binary":
            raise WebSocketValueError(f'send_json() mode must be "text" or "binary", not {mode!r}')
        try:
            payload = self._json_dumps(data)
        except TypeError as exc:
            raise WebSocketTypeError(f"send_json() cannot encode {type(data).__name__} as JSON: {exc}") from exc
        except ValueError as exc:
            raise WebSocketValueError(f"send_json() cannot encode {type(data).__name__} as JSON: {exc}") from exc
        if mode == "text":
            await self.send_text(payload if payload.__class__ is str else payload.decode())  # type: ignore[union-attr]
        else:
            await self.send_bytes(payload.encode() if payload.__class__ is str else payload)  # type: ignore[union-attr, arg-type]

    async def receive_json(self, *, mode: JSONMode = "text", timeout: float | None = None) -> Any:
        """Receive a text frame (or a binary one with ``mode="binary"``) and decode it as JSON."""
        if mode == "text":
            data: str | bytes = await self.receive_text(timeout=timeout)
        elif mode == "binary":
            data = await self.receive_bytes(timeout=timeout)
        else:
            raise WebSocketValueError(f'receive_json() mode must be "text" or "binary", not {mode!r}')
        try:
            return self._json_loads(data)
        except ValueError as exc:
            raise InvalidJSONError(f"receive_json() got a {mode} frame that is not valid JSON: {exc}") from exc

    # Iteration ------------------------------------------------------------

    async def iter_text(self) -> AsyncIterator[str]:
        """Yield text messages until the client disconnects; close_code and close_reason tell how."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            pass

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Yield binary messages until the client disconnects; close_code and close_reason tell how."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            pass

    async def iter_json(self, *, mode: JSONMode = "text") -> AsyncIterator[Any]:
        """Yield decoded JSON messages until the client disconnects; close_code and close_reason tell how."""
        try:
            while True:
                yield await self.receive_json(mode=mode)
        except WebSocketDisconnect:
            pass

    def __repr__(self) -> str:
        return f"<WebSocket {self._scope.get('path', '')!r} {self._state.name}>"
