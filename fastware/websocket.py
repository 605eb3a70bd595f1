"""The WebSocket connection an ASGI application talks to.

The message methods (accept, close, send_text, send_bytes, receive_text,
receive_bytes, and the denial-response messages) are generated from the schema
into fastware._generated.methods; this module adds what the schema cannot say:
the state machine, the connection details of the scope, JSON, iteration and
the raw escape hatches.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Literal, TypeVar, overload

import orjson
import pydantic

from fastware import _accel, _json, _servers, _validation
from fastware._accel import _as_coroutine_function
from fastware._generated import checks as _checks
from fastware._generated import metadata as _metadata
from fastware._generated.methods import WebSocketMethods, _receive_text_other
from fastware._state import (
    CONNECTION_LOST,
    DATA_RECEIVE_STATES,
    GONE_STATES,
    HANDSHAKE_REPLIES,
    HINTS,
    LAST_PARTS,
    NO_OPS,
    TRANSITIONS,
    State,
)
from fastware.datastructures import URL, Address, QueryParams, StateNamespace, parse_cookies
from fastware.errors import (
    InvalidJSONError,
    PayloadValidationError,
    ServerProtocolError,
    WebSocketDisconnect,
    WebSocketStateError,
    WebSocketTypeError,
    WebSocketValueError,
)
from fastware.types import Send

__all__ = ["ConnectionState", "State", "WebSocket", "WebSocketDisconnect"]

#: The lifecycle enum under a name no Starlette user confuses with ``ws.state``.
ConnectionState = State

# Internal: what fastware reads from a message. The public aliases are in fastware.types.
Message = Mapping[str, Any]
# Wider than fastware.types.Receive: a receive typed with asgiref's TypedDict events returns a Mapping too.
Receive = Callable[[], Awaitable[Message]]
JSONMode = Literal["text", "binary"]
_T = TypeVar("_T")

# The default codec's common case, which send_json runs inline (fastware/_json.py).
_orjson_dumps = orjson.dumps
_json_default = _json._default
_JSON_OPTIONS = _json._OPTIONS
_VALIDATORS = _json.validators  # receive_json(model=T): T -> its validate_json, built once


def _receive_json_then(ws: WebSocket, message: Message, error: Exception | None = None) -> Any:
    """receive_json() on the C fast path for what it does not take: a message other than a text frame
    (read as receive_text() reads it, then decoded), or the ``error`` its decoder raised."""
    if error is not None:
        raise _invalid_json(ws, message["text"], error, "text") from error
    text = _receive_text_other(ws, message)  # the other frame type, a disconnect: as receive_text()
    try:
        return ws._json_loads(text)
    except (ValueError, RecursionError) as exc:
        raise _invalid_json(ws, text, exc, "text") from exc


def _invalid_json(ws: WebSocket, data: str | bytes, exc: BaseException, mode: str) -> InvalidJSONError:
    # The default decoder's own words lack the position at times: diagnose() gives the stdlib's.
    why = _json.diagnose(data, exc) if ws._json_loads is _json.decode else exc
    return InvalidJSONError(f"receive_json() got a {mode} frame that is not valid JSON: {why}")


async def _raise(error: Exception) -> None:
    """An awaitable that raises ``error``: what an ``async def`` does with an error in its body."""
    raise error


def _encode_error(data: Any, exc: Exception) -> WebSocketTypeError | WebSocketValueError:
    """The named error for a value the encoder refused: a TypeError stays one, the others are value errors."""
    what = f"send_json() cannot encode {type(data).__name__} as JSON: {exc}"
    return WebSocketTypeError(what) if isinstance(exc, TypeError) else WebSocketValueError(what)


def _as_text(payload: Any) -> str:
    """A json_dumps result as exact ``str`` for a text frame (a str subclass, or UTF-8 bytes)."""
    if isinstance(payload, str):
        return str.__str__(payload)
    if isinstance(payload, (bytes, bytearray, memoryview)):
        try:
            return bytes(payload).decode()
        except UnicodeDecodeError as exc:
            raise WebSocketValueError(f"send_json(): json_dumps returned bytes that are not UTF-8: {exc}") from None
    raise WebSocketTypeError(f"send_json(): json_dumps must return str or bytes, not {type(payload).__name__}")


def _as_bytes(payload: Any) -> bytes:
    """A json_dumps result as exact ``bytes`` for a binary frame."""
    if isinstance(payload, str):
        try:
            return str.encode(payload)
        except UnicodeEncodeError as exc:
            raise WebSocketValueError(f"send_json(): the JSON text cannot be encoded as UTF-8: {exc}") from None
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    raise WebSocketTypeError(f"send_json(): json_dumps must return str or bytes, not {type(payload).__name__}")


# The close code of a websocket.disconnect that carries none: the schema's default, read once here.
_NO_CODE: int = _metadata.MESSAGES["websocket.disconnect"]["keys"]["code"]["default"]


def _parse_spec_version(scope: Mapping[str, Any]) -> tuple[int, ...] | None:
    """scope["asgi"]["spec_version"] as an int tuple; None when the server makes no claim.

    ASGI reads a missing version as "2.0", but the servers that leave it out (daphne,
    Starlette's TestClient) are not 2.0 servers: fastware treats it as unknown, sends
    what the app asks for and warns for nothing.
    """
    text = (scope.get("asgi") or {}).get("spec_version")
    if text is None:
        return None
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
        json_dumps: Encoder for send_json(), returning str or bytes, instead of the default
            (orjson under the standard library's rules; see docs/json.md).
        json_loads: Decoder for receive_json(), taking str or bytes, instead of the default
            (msgspec, strict JSON). receive_json(model=...) always parses with pydantic.

    Several tasks may use one connection (one of them receiving): each call acts on the
    state as it is when awaited, and a state once left is never entered again. A send
    moves the state when it starts, so a close() in progress refuses other tasks' sends
    (WebSocketStateError) and makes a second close() a no-op, before the server sees
    them; a cancelled accept() or close() counts as sent. Once the client is gone, every
    send raises WebSocketDisconnect (1006 while only a failed send told, state LOST, until
    the disconnect with the client's code is received) and close() does nothing. See
    "One connection, several tasks" in docs/guide.md.
    """

    __slots__ = (
        "_close_code",
        "_close_reason",
        "_headers",
        "_json_dumps",
        "_json_loads",
        "_namespace",
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
        self._json_dumps = json_dumps  # None: the default codec (fastware._json)
        self._json_loads = json_loads or _json.decode
        self._headers: dict[str, str] | None = None
        self._namespace: StateNamespace | None = None
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
    def connection_state(self) -> State:
        """Where the connection is in its life: a member of fastware.ConnectionState (fastware.State)."""
        return self._state

    @property
    def state(self) -> StateNamespace:
        """A per-connection namespace, as Starlette's ``websocket.state``: ``ws.state.user = "ann"``.

        Backed by ``scope["state"]`` as in Starlette (created when missing), so it
        reads the lifespan state the server copied into this connection, and a
        framework's WebSocket over the same scope shares it. Where the scope cannot
        hold it (a read-only mapping) it is a dict of this WebSocket's own.
        """
        if self._namespace is None:
            scope = self._scope
            store: MutableMapping[str, Any] | None = None
            if isinstance(scope, MutableMapping):
                store = scope.get("state")
                if store is None:
                    store = scope["state"] = {}
            self._namespace = StateNamespace(store)
        return self._namespace

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
    def query_params(self) -> QueryParams:
        """The query string parsed as Starlette does: ``ws.query_params["k"]`` (last value), ``.getlist("k")``."""
        return QueryParams(self._scope.get("query_string") or b"")

    @property
    def url(self) -> URL:
        """The URL the client connected to (``ws://host/path?query``), a str with ``.path``, ``.query``..."""
        return URL.from_scope(self._scope)

    @property
    def client(self) -> Address | None:
        """The client's ``(host, port)`` from the scope, None when the server does not say."""
        client = self._scope.get("client")
        if client is None:
            return None
        host, port = client[0], client[1]
        # granian gives the port as a str (the spec says int).
        return Address(host, int(port) if isinstance(port, str) and port.isdigit() else port)

    @property
    def cookies(self) -> dict[str, str]:
        """The request's cookies, from every ``Cookie`` header, parsed as Starlette parses them."""
        return parse_cookies(
            [value.decode("latin-1") for name, value in self._scope.get("headers") or () if name.lower() == b"cookie"]
        )

    @property
    def spec_version(self) -> tuple[int, ...] | None:
        """The server's declared ASGI spec version, from the scope; None when it declares none."""
        return self._spec_version

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol chosen in accept(), if any."""
        return self._subprotocol

    @property
    def close_code(self) -> int | None:
        """The close code of the disconnect, once one was received.

        1006 while the connection is known lost only by a failed send; the code of the
        websocket.disconnect replaces it when that is received, and is never overwritten.
        """
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
        if self._state is State.CONNECTING and msg_type in HANDSHAKE_REPLIES:
            # As in Starlette: replying to the handshake first reads websocket.connect.
            self._apply_received(await self._receive())
        state = self._state
        if (state, msg_type) in NO_OPS:
            return  # close() is idempotent: the connection is already closing, or the client is gone.
        if state in GONE_STATES:
            raise self._disconnected()  # what a sender gets when the client left, whichever task saw it first
        next_state = TRANSITIONS.get((state, msg_type))
        if next_state is None:
            raise WebSocketStateError(f"send {msg_type!r}", state.name, HINTS[state])
        if msg_type == "websocket.accept":
            self._subprotocol = message.get("subprotocol")
            if message.get("headers"):
                _servers.warn_lost(self._scope, self._send, "websocket.accept 'headers'")
        elif msg_type in LAST_PARTS and not message.get(LAST_PARTS[msg_type][0]):
            next_state = LAST_PARTS[msg_type][1]  # e.g. the last body part ends a denial response
        # The transition applies before the server's send() is awaited: another task sees a close in
        # progress at once (and sends nothing after it), and a send that is cancelled, or that finishes
        # after another task received the disconnect, cannot move the state back.
        self._set_state(next_state)
        try:
            await self._send(message)
        except OSError:
            lost = self._connection_lost()
            if msg_type == "websocket.close":
                return  # the client is gone: nothing is left to close
            raise lost from None

    def _connection_lost(self) -> WebSocketDisconnect:
        # The server's send() raised OSError (ASGI 2.4): the client is gone. Until its websocket.disconnect
        # is received, 1006 stands in for its code; a code already received is kept.
        if self._state is not State.DISCONNECTED:
            self._close_code, self._close_reason = 1006, ""
            self._set_state(CONNECTION_LOST[self._state])
        return self._disconnected()

    def _disconnected(self) -> WebSocketDisconnect:
        """The exception for a receive once the disconnect is known: its code, or the schema's default."""
        code = self._close_code
        return WebSocketDisconnect(_NO_CODE if code is None else code, self._close_reason)

    def _apply_received(self, message: Message) -> None:
        """Apply the transition of a received message (validated mode checked it in receive())."""
        try:
            msg_type = message.get("type")
        except AttributeError:
            raise ServerProtocolError(
                f"The server's receive() returned {type(message).__name__}, not an ASGI message (a mapping)"
            ) from None
        next_state = TRANSITIONS.get((self._state, msg_type))  # type: ignore[arg-type]
        if next_state is None:
            raise ServerProtocolError(
                f"Unexpected ASGI message {msg_type!r} from the server in state {self._state.name}"
            )
        if msg_type == "websocket.disconnect":
            # The real code replaces the 1006 a failed send put in its place.
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

    # JSON -----------------------------------------------------------------

    def send_json(self, data: Any, *, mode: JSONMode = "text") -> Awaitable[None]:
        """Send ``data`` as JSON in a text frame, or a binary frame with ``mode="binary"``.

        The default encoder writes what ``json.dumps(data, ensure_ascii=False,
        separators=(",", ":"), allow_nan=False)`` writes, and also takes pydantic models,
        dataclasses, enums and UUIDs (docs/json.md lists every difference).

        Awaitable like an ``async def`` (errors are raised when it is awaited, and the state is
        checked then), but it returns send_text's or send_bytes's own awaitable: one coroutine
        frame fewer per message.
        """
        dumps = self._json_dumps
        try:
            if mode == "text":
                if dumps is None:
                    # _json.dumps_text inlined: one Python call fewer per message.
                    try:
                        text = _orjson_dumps(data, _json_default, _JSON_OPTIONS).decode()
                    except TypeError:
                        text = _json.plain_text(data)
                    else:
                        if "null" in text:
                            text = _json.checked_text(data, text)
                    return self.send_text(text)
                payload: Any = dumps(data)
                return self.send_text(payload if payload.__class__ is str else _as_text(payload))
            if mode == "binary":
                payload = _json.dumps(data) if dumps is None else dumps(data)
                return self.send_bytes(payload if payload.__class__ is bytes else _as_bytes(payload))
            error: Exception = WebSocketValueError(f'send_json() mode must be "text" or "binary", not {mode!r}')
        except (WebSocketTypeError, WebSocketValueError) as exc:
            error = exc
        except (TypeError, ValueError, RecursionError) as exc:
            error = _encode_error(data, exc)
            error.__cause__ = exc
        return _raise(error)

    # send_json(data) in C when fastware._speedups is built and no json_dumps was given: orjson
    # encodes, the text is checked for NaN as above when it holds a null, and send_text's message
    # is sent without its Python frame; any other case runs the method above.
    send_json = _accel.hot_encode(
        _as_coroutine_function(send_json),
        WebSocketMethods.send_text,
        "send_text",
        "_json_dumps",
        _orjson_dumps,
        (_json_default, _JSON_OPTIONS),
        b"null",
        _json.checked_text,
    )

    @overload
    async def receive_json(
        self, *, mode: JSONMode = "text", timeout: float | None = None, model: None = None
    ) -> Any: ...

    @overload
    async def receive_json(self, *, mode: JSONMode = "text", timeout: float | None = None, model: type[_T]) -> _T: ...

    @overload
    async def receive_json(self, *, mode: JSONMode = "text", timeout: float | None = None, model: Any) -> Any: ...

    async def receive_json(self, *, mode: JSONMode = "text", timeout: float | None = None, model: Any = None) -> Any:
        """Receive a text frame (or a binary one with ``mode="binary"``) and decode it as JSON.

        With ``model=T`` (anything pydantic's ``TypeAdapter`` takes: a model, a dataclass, a
        TypedDict, ``list[...]``, a discriminated union), the frame is validated as ``T`` straight
        from its text or bytes, in one pass, and the ``T`` returned; a frame that does not
        validate raises PayloadValidationError, and the connection stays usable.
        """
        # Checked before receiving, so a wrong argument loses no message.
        validate = None
        if model is not None:
            try:
                validate = _VALIDATORS[model]
            except (KeyError, TypeError):  # not built yet, or an unhashable type form
                validate = _json.validator(model)
        if mode == "text":
            data: str | bytes = await (self.receive_text() if timeout is None else self.receive_text(timeout=timeout))
        elif mode == "binary":
            data = await self.receive_bytes(timeout=timeout)
        else:
            raise WebSocketValueError(f'receive_json() mode must be "text" or "binary", not {mode!r}')
        if validate is not None:
            try:
                return validate(data)
            except pydantic.ValidationError as exc:
                raise PayloadValidationError(model, exc.errors(include_url=False), mode) from exc
        try:
            return self._json_loads(data)
        except (ValueError, RecursionError) as exc:
            raise _invalid_json(self, data, exc, mode) from exc

    # receive_json() with no arguments, in C when fastware._speedups is built: the Step awaits the
    # server's receive(), reads a text frame as receive_text() does and calls self._json_loads on it;
    # any other message, or the decoder's error, goes to _receive_json_then.
    receive_json = _accel.hot_receive(
        receive_json, _receive_json_then, "websocket.receive", "text", str, "bytes", "_json_loads"
    )

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

    @overload
    def iter_json(self, *, mode: JSONMode = "text", model: None = None) -> AsyncIterator[Any]: ...

    @overload
    def iter_json(self, *, mode: JSONMode = "text", model: type[_T]) -> AsyncIterator[_T]: ...

    @overload
    def iter_json(self, *, mode: JSONMode = "text", model: Any) -> AsyncIterator[Any]: ...

    async def iter_json(self, *, mode: JSONMode = "text", model: Any = None) -> AsyncIterator[Any]:
        """Yield decoded JSON messages (validated as ``model``, if given) until the client disconnects.

        close_code and close_reason tell how it ended. A frame that is not JSON, or does not
        validate, is raised (InvalidJSONError, PayloadValidationError) and ends the loop.
        """
        if model is not None:
            _json.validator(model)  # a wrong model fails at the first step, before any message is read
        try:
            if mode == "text" and model is None:
                while True:
                    yield await self.receive_json()  # the C fast path takes no arguments
            while True:
                yield await self.receive_json(mode=mode, model=model)
        except WebSocketDisconnect:
            pass

    def __repr__(self) -> str:
        return f"<WebSocket {self._scope.get('path', '')!r} {self._state.name}>"
