"""An in-memory WebSocket client that drives any ASGI application, no server needed.

::

    from fastware.testing import connect

    async with connect(app, "/chat/lobby?name=ann", headers={"origin": "https://example.com"}) as client:
        await client.send_text("hello")
        assert await client.receive_text() == "hello"
        await client.close(1000, "bye")

The client plays the server's part of ASGI as uvicorn does: it builds the
scope, answers the app's receive() and checks every message the app sends
(type, keys, order), so an app that works here sends nothing a real server
would refuse. Every wait is bounded by ``timeout``; an exception the app
raises is raised again in the test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

from fastware._generated import checks as _checks
from fastware._generated import metadata as _metadata
from fastware._state import INITIAL, LAST_PARTS, OPEN, SENDABLE, TRANSITIONS, State
from fastware.errors import (
    FrameTypeError,
    WebSocketDisconnect,
    WebSocketError,
    WebSocketTypeError,
    WebSocketValueError,
)
from fastware.types import ASGIApp

__all__ = ["DEFAULT_TIMEOUT", "AppProtocolError", "Client", "ClientDisconnected", "HandshakeRejected", "connect"]

HeadersArg = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]

#: Seconds any single wait of the client may take before it raises TimeoutError.
DEFAULT_TIMEOUT = 5.0

# The server side follows fastware's own state machine, generated from the schema: what the app's
# send() accepts in each state (SENDABLE), where each message leads (TRANSITIONS), the spec version
# the scope declares and the close reason's limit all come from there, so a spec change needs no edit here.
_HANDSHAKE = TRANSITIONS[(INITIAL, "websocket.connect")]
_SPEC_VERSION: str = _metadata.SPEC_VERSION
_CLOSE_KEYS: dict[str, Any] = _metadata.MESSAGES.get("websocket.close", {}).get("keys", {})
#: The most UTF-8 bytes a close reason may have (the schema's limit on websocket.close's reason).
CLOSE_REASON_MAX_BYTES: int | None = _CLOSE_KEYS.get("reason", {}).get("limits", {}).get("utf8_max_bytes")
# Put on the app's outbox when the app task ends: nothing follows it.
_APP_DONE: dict[str, Any] = {"type": "fastware.testing.app_done"}


class HandshakeRejected(WebSocketError, RuntimeError):
    """The app refused the handshake: close() before accept() (403), a denial response, or no reply (500).

    ``status`` is the HTTP status a server would answer; ``headers`` and
    ``body`` are those of a denial response (empty otherwise).
    """

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b"") -> None:
        super().__init__(status, headers, body)
        self.status: int = status
        self.headers: list[tuple[bytes, bytes]] = headers or []
        self.body: bytes = body

    def __str__(self) -> str:
        text = f"The app rejected the WebSocket handshake with HTTP {self.status}"
        return f"{text}: {self.body[:200]!r}" if self.body else text


class AppProtocolError(WebSocketError, RuntimeError):
    """The app sent an ASGI message that is invalid, or not allowed at this point of the connection.

    Raised inside the app's send(), as uvicorn raises RuntimeError there.
    """


class ClientDisconnected(OSError):
    """Raised by the app's send() once the client has gone, as ASGI 2.4 asks of servers."""


def connect(
    app: ASGIApp,
    url: str = "/",
    *,
    headers: HeadersArg | None = None,
    subprotocols: Iterable[str] = (),
    scope: Mapping[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    raise_app_exceptions: bool = True,
) -> Client:
    """Open a WebSocket to ``app`` at ``url`` ("/path?query", or "ws://host/path?query").

    Use the result as ``async with connect(...) as client:``; entering it runs the
    handshake and raises HandshakeRejected when the app refuses it.

    Args:
        app: Any ASGI 3 application.
        url: The path and query string to connect to; a ``ws://`` or ``wss://`` URL also sets host and scheme.
        headers: Request headers, as a mapping or (name, value) pairs; names are lowercased.
        subprotocols: The subprotocols the client offers, in order of preference.
        scope: Keys to add to or override in the scope (for example ``state`` or ``path_params``).
        timeout: Seconds each wait of the client may take before it raises TimeoutError.
        raise_app_exceptions: Raise in the test an exception that ends the app; when False,
            the client sees what a server would show instead (HTTP 500 or close code 1011).
    """
    return Client(
        app,
        _build_scope(url, headers, subprotocols, scope),
        timeout=timeout,
        raise_app_exceptions=raise_app_exceptions,
    )


class Client:
    """One WebSocket connection to an ASGI app, made by connect()."""

    def __init__(
        self,
        app: ASGIApp,
        scope: dict[str, Any],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        raise_app_exceptions: bool = True,
    ) -> None:
        self.scope = scope
        self.timeout = timeout
        self.raise_app_exceptions = raise_app_exceptions
        self.subprotocol: str | None = None
        #: The extra headers of the app's websocket.accept.
        self.accept_headers: list[tuple[bytes, bytes]] = []
        #: Set once the connection is closed, by either side.
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._app = app
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # what the app will receive
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # what the app sent
        self._server_state: State = _HANDSHAKE
        self._client_gone = False  # the client closed first: the app's sends now fail
        self._disconnect: dict[str, Any] | None = None  # the websocket.disconnect the app got
        self._task: asyncio.Task[None] | None = None
        self._app_done = False
        self._stopping = False  # the app is being cancelled
        self._app_error_reported = False
        self._response: tuple[int, list[tuple[bytes, bytes]], list[bytes]] | None = None

    # Handshake and teardown ----------------------------------------------

    async def __aenter__(self) -> Client:
        self._inbox.put_nowait({"type": "websocket.connect"})
        self._task = asyncio.create_task(self._run_app())
        try:
            message = await self._next()
            # A denial response ends with its last body part.
            while message["type"] == "websocket.http.response.start" or message.get("more_body"):
                message = await self._next()
        except BaseException:
            await self._stop_app()
            raise
        if message["type"] == "websocket.accept":
            self.subprotocol = message.get("subprotocol")
            self.accept_headers = list(message.get("headers") or [])
            return self
        await self._stop_app()
        raise self._rejection(message)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            await self.close()
        else:
            # The test failed: tell the app the connection dropped, give it a moment to end, keep the test's error.
            self._client_disconnects(1006, "")
            self._client_gone = True
            if self._task is not None:
                await asyncio.wait({self._task}, timeout=min(self.timeout, 1.0))
            await self._stop_app()

    def _rejection(self, message: dict[str, Any]) -> BaseException:
        if message["type"] == "websocket.close":
            return HandshakeRejected(403)
        if message["type"] == "websocket.http.response.body":
            assert self._response is not None
            status, headers, body = self._response
            return HandshakeRejected(status, headers, b"".join(body))
        # The app ended without replying: uvicorn and hypercorn answer 500.
        return self._app_exception() or HandshakeRejected(500)

    # Sending ----------------------------------------------------------------

    async def send_text(self, data: str) -> None:
        """Send a text frame to the app."""
        if not isinstance(data, str):
            raise WebSocketTypeError(f"send_text() needs str, not {type(data).__name__}")
        self._send({"type": "websocket.receive", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary frame to the app."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise WebSocketTypeError(f"send_bytes() needs bytes, not {type(data).__name__}")
        self._send({"type": "websocket.receive", "bytes": bytes(data)})

    async def send_json(self, data: Any, *, mode: Literal["text", "binary"] = "text") -> None:
        """Send ``data`` as JSON in a text frame, or a binary one with ``mode="binary"``."""
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            await self.send_text(text)
        elif mode == "binary":
            await self.send_bytes(text.encode())
        else:
            raise WebSocketValueError(f'send_json() mode must be "text" or "binary", not {mode!r}')

    async def send_raw(self, message: Mapping[str, Any]) -> None:
        """Give the app any message a server may send it, such as one a newer spec version added.

        Its type must be one the schema says the app receives; the client does
        not check its keys, so a test can also act out a server that breaks them.
        """
        msg_type = message.get("type")
        if _metadata.MESSAGES.get(str(msg_type), {}).get("direction") != "receive":
            receives = ", ".join(t for t, m in _metadata.MESSAGES.items() if m["direction"] == "receive")
            raise WebSocketValueError(f"send_raw() needs a message the app receives ({receives}), not {msg_type!r}")
        self._send(dict(message))

    def _send(self, message: dict[str, Any]) -> None:
        if self.close_code is not None:
            raise WebSocketDisconnect(self.close_code, self.close_reason)
        self._inbox.put_nowait(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with ``code`` and ``reason``, then wait for the app to return.

        Codes 1005 and 1006 are allowed, to act out a close without a code and a
        lost connection. Raises TimeoutError if the app does not return within
        ``timeout``, and the app's exception if it raised one.
        """
        if not isinstance(code, int) or not 1000 <= code <= 4999:
            raise WebSocketValueError(f"close code must be an int in 1000-4999, not {code!r}")
        if CLOSE_REASON_MAX_BYTES is not None and len(reason.encode()) > CLOSE_REASON_MAX_BYTES:
            raise WebSocketValueError(f"close reason must be at most {CLOSE_REASON_MAX_BYTES} bytes as UTF-8")
        self._client_disconnects(code, reason)
        self._client_gone = True
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=self.timeout)
        if not done:
            await self._stop_app()
            raise TimeoutError(f"the app did not return within {self.timeout}s after the client closed")
        error = self._app_exception()
        if error is not None:
            raise error

    def _client_disconnects(self, code: int, reason: str) -> None:
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        if self._disconnect is None:
            self._disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
            self._inbox.put_nowait(self._disconnect)

    # Receiving --------------------------------------------------------------

    async def receive_raw(self, *, timeout: float | None = None) -> dict[str, Any]:
        """The next message the app sent (websocket.send or websocket.close), as the dict it sent.

        Raises WebSocketDisconnect once the connection is closed and nothing is left to read.
        """
        message = await self._next(timeout)
        if message["type"] == "websocket.close":
            code, reason = message.get("code") or 1000, message.get("reason") or ""
            self.close_code, self.close_reason = code, reason
        return message

    async def receive_text(self, *, timeout: float | None = None) -> str:
        """Receive the next message, which must be a text frame; raise WebSocketDisconnect if the app closed."""
        message = await self._receive_data(timeout)
        if message.get("text") is None:
            raise FrameTypeError("text", "binary")
        text: str = message["text"]
        return text

    async def receive_bytes(self, *, timeout: float | None = None) -> bytes:
        """Receive the next message, which must be a binary frame; raise WebSocketDisconnect if the app closed."""
        message = await self._receive_data(timeout)
        if message.get("bytes") is None:
            raise FrameTypeError("binary", "text")
        data: bytes = message["bytes"]
        return data

    async def receive_json(self, *, mode: Literal["text", "binary"] = "text", timeout: float | None = None) -> Any:
        """Receive a text frame (a binary one with ``mode="binary"``) and decode it as JSON."""
        if mode == "text":
            data: str | bytes = await self.receive_text(timeout=timeout)
        elif mode == "binary":
            data = await self.receive_bytes(timeout=timeout)
        else:
            raise WebSocketValueError(f'receive_json() mode must be "text" or "binary", not {mode!r}')
        return json.loads(data)

    async def _receive_data(self, timeout: float | None) -> dict[str, Any]:
        message = await self.receive_raw(timeout=timeout)
        if message["type"] == "websocket.close":
            raise WebSocketDisconnect(self.close_code or 1000, self.close_reason)
        return message

    async def _next(self, timeout: float | None = None) -> dict[str, Any]:
        """The app's next message; every wait bounded, the app's end turned into an exception."""
        if self._outbox.empty() and self._app_done:
            raise self._ended()
        timeout = self.timeout if timeout is None else timeout
        try:
            message = await asyncio.wait_for(self._outbox.get(), timeout)
        except TimeoutError:
            raise TimeoutError(f"the app sent nothing within {timeout}s") from None
        if message is _APP_DONE:
            self._app_done = True
            if self._server_state is _HANDSHAKE:
                return message  # __aenter__ turns it into HandshakeRejected(500) or the app's error
            raise self._ended()
        return message

    def _ended(self) -> BaseException:
        """What a read raises once the app has returned and everything it sent was read."""
        error = self._app_exception()
        if error is not None:
            return error
        if self.close_code is None:
            # Returned without websocket.close: no close frame (1006), or a crash a server reports as 1011.
            task = self._task
            failed = task is not None and not task.cancelled() and task.exception() is not None
            self.close_code, self.close_reason = (1011, "") if failed else (1006, "")
        return WebSocketDisconnect(self.close_code, self.close_reason)

    def _app_exception(self) -> BaseException | None:
        """The exception the app ended with, once, if the test should see it."""
        task = self._task
        if task is None or not task.done() or task.cancelled() or self._app_error_reported:
            return None
        error = task.exception()
        if error is None or not self.raise_app_exceptions or isinstance(error, (WebSocketDisconnect, OSError)):
            # An app that lets the disconnect escape, or a send after the client left, did nothing wrong.
            return None
        self._app_error_reported = True
        return error

    # The server side: what the app's receive() and send() do -----------------

    async def _run_app(self) -> None:
        try:
            await self._app(self.scope, self._app_receive, self._app_send)
        finally:
            self._outbox.put_nowait(_APP_DONE)

    async def _stop_app(self) -> None:
        task = self._task
        if task is None or task.done():
            return
        # From now on the app's receive() and send() raise CancelledError too: an app that swallows one
        # cancellation and calls them again still ends.
        self._stopping = True
        task.cancel()
        await asyncio.wait({task}, timeout=self.timeout)

    async def _app_receive(self) -> dict[str, Any]:
        # Always a real suspension, as a server's receive() is: an app that keeps calling receive()
        # (after the disconnect, say) cannot starve the test, whose waits then time out as they should.
        await asyncio.sleep(0)
        if self._stopping:
            raise asyncio.CancelledError
        if self._disconnect is not None and self._inbox.empty():
            return dict(self._disconnect)  # a receive after the disconnect gets it again, never hangs
        return await self._inbox.get()

    async def _app_send(self, message: dict[str, Any]) -> None:
        # A suspension on every send, as a server's write does: an app that streams until the client
        # leaves lets the test run between its messages.
        await asyncio.sleep(0)
        if self._stopping:
            raise asyncio.CancelledError
        msg_type = message.get("type") if isinstance(message, Mapping) else None
        state = self._server_state
        if state is OPEN and self._client_gone:
            raise ClientDisconnected(f"the client has disconnected; cannot send {msg_type!r}")
        next_state = TRANSITIONS.get((state, msg_type)) if isinstance(msg_type, str) else None
        if next_state is None or msg_type not in SENDABLE[state]:
            expected = " or ".join(repr(t) for t in SENDABLE[state]) or "nothing more"
            raise AppProtocolError(f"Expected ASGI message {expected}, but got {msg_type!r} (connection {state.name})")
        assert isinstance(msg_type, str)
        self._check(message)
        # Side effects a server has for some messages; any other message (a new one) just moves the state.
        handler = getattr(self, "_on_" + msg_type.removeprefix("websocket.").replace(".", "_"), None)
        if handler is not None:
            handler(message)
        last = LAST_PARTS.get(msg_type)
        if last is not None and not message.get(last[0]):
            next_state = last[1]
        self._server_state = next_state
        self._outbox.put_nowait(dict(message))

    def _check(self, message: Mapping[str, Any]) -> None:
        try:
            _checks.MESSAGE_CHECKS[message["type"]](message)
        except WebSocketError as exc:
            raise AppProtocolError(f"The app sent an invalid {message['type']!r}: {exc}") from exc
        text = message.get("text")
        if text is not None and not isinstance(text, str):
            raise AppProtocolError(f"websocket.send 'text' must be str, not {type(text).__name__}")

    def _on_accept(self, message: Mapping[str, Any]) -> None:
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and subprotocol not in self.scope["subprotocols"]:
            raise AppProtocolError(
                f"The app accepted subprotocol {subprotocol!r}, which the client did not offer "
                f"(offered: {self.scope['subprotocols']!r})"
            )

    def _on_close(self, message: Mapping[str, Any]) -> None:
        if self._server_state is OPEN:
            # The client answers the close frame at once; the app then receives the disconnect.
            code, reason = message.get("code") or 1000, message.get("reason") or ""
            self._client_disconnects(code, reason)

    def _on_http_response_start(self, message: Mapping[str, Any]) -> None:
        if "websocket.http.response" not in (self.scope.get("extensions") or {}):
            raise AppProtocolError("websocket.http.response.start needs the websocket.http.response extension")
        self._response = (message["status"], list(message.get("headers") or []), [])

    def _on_http_response_body(self, message: Mapping[str, Any]) -> None:
        assert self._response is not None
        self._response[2].append(bytes(message.get("body") or b""))

    # Connection details -------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once either side has closed the connection."""
        return self.close_code is not None

    def __repr__(self) -> str:
        return f"<fastware.testing.Client {self.scope['path']!r} {self._server_state.name}>"


def _build_scope(
    url: str, headers: HeadersArg | None, subprotocols: Iterable[str], overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in ("", "ws", "wss"):
        raise WebSocketValueError(f"connect() needs a path or a ws:// or wss:// URL, not {url!r}")
    scheme = parts.scheme or "ws"
    host = parts.hostname or "testserver"
    port = parts.port or (443 if scheme == "wss" else 80)
    raw_path = quote(parts.path or "/", safe="/%!$&'()*+,;=:@~")
    offered = list(subprotocols)
    if any(not isinstance(p, str) for p in offered):
        raise WebSocketTypeError(f"subprotocols must be str, got {offered!r}")
    request_headers = [
        (b"host", (parts.netloc or host).encode("latin-1")),
        (b"connection", b"Upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-key", base64.b64encode(os.urandom(16))),
    ]
    if offered:
        request_headers.append((b"sec-websocket-protocol", ", ".join(offered).encode("latin-1")))
    extra = _encode_headers(headers)
    if any(name == b"host" for name, _ in extra):
        del request_headers[0]
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": _SPEC_VERSION},
        "http_version": "1.1",
        "scheme": scheme,
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("ascii"),
        "query_string": quote(parts.query, safe="&=+%/:;,@!$'()*?~").encode("ascii"),
        "root_path": "",
        "headers": request_headers + extra,
        "client": ("testclient", 50000),
        "server": (host, port),
        "subprotocols": offered,
        "extensions": {"websocket.http.response": {}},
        "state": {},
    }
    scope.update(overrides or {})
    return scope


def _encode_headers(headers: HeadersArg | None) -> list[tuple[bytes, bytes]]:
    if headers is None:
        return []
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    encoded = []
    for name, value in pairs:
        name_b = name if isinstance(name, bytes) else name.encode("latin-1")
        value_b = value if isinstance(value, bytes) else value.encode("latin-1")
        encoded.append((name_b.lower(), value_b))
    return encoded
