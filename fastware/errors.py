"""Errors raised by fastware.

Misuse of the API and protocol violations raise one of these, before anything
is sent, so a server never sees an invalid ASGI message::

    WebSocketError
    ├── WebSocketStateError (RuntimeError)      call not allowed in this state
    ├── WebSocketTypeError (TypeError)          an argument of the wrong type
    │   └── FrameTypeError                      a text frame where bytes were expected, or the reverse
    ├── WebSocketValueError (ValueError)        a value the protocol forbids
    │   └── InvalidJSONError                    a frame that is not valid JSON
    ├── UnsupportedByServerError (RuntimeError) the server's spec version or extensions cannot carry it
    └── ServerProtocolError (RuntimeError)      the server sent something the ASGI spec forbids

    WebSocketDisconnect                         the connection is gone (not an error of the app)

Each also subclasses the builtin that code written for Starlette already catches.
"""

from __future__ import annotations

__all__ = [
    "FrameTypeError",
    "InvalidJSONError",
    "ServerProtocolError",
    "UnsupportedByServerError",
    "WebSocketDisconnect",
    "WebSocketError",
    "WebSocketStateError",
    "WebSocketTypeError",
    "WebSocketValueError",
]


class WebSocketDisconnect(Exception):
    """Raised when the connection is closed: by the client, by the server, or lost.

    ``code`` is the close code of the ASGI websocket.disconnect message, as the
    server reported it (1005 when the client's close frame had none, 1006 when
    the connection dropped), and defaults to 1000 (normal closure) when the
    message carries no code; ``reason`` is the close reason, ``""`` when there
    was none. Application code may raise it too.
    """

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason or ""

    def __str__(self) -> str:
        if self.reason:
            return f"WebSocket disconnected with code {self.code}: {self.reason}"
        return f"WebSocket disconnected with code {self.code}"

    def __repr__(self) -> str:
        return f"WebSocketDisconnect(code={self.code!r}, reason={self.reason!r})"


class WebSocketError(Exception):
    """Base class of the errors fastware raises for misuse and protocol violations."""


class WebSocketStateError(WebSocketError, RuntimeError):
    """Raised when a call is not allowed in the connection's current state.

    For example: sending or receiving before ``accept()``, ``accept()`` twice,
    sending after ``close()`` or after the client disconnected.
    """

    def __init__(self, action: str, state: str, hint: str) -> None:
        super().__init__(action, state, hint)
        self.action = action
        self.state = state
        self.hint = hint

    def __str__(self) -> str:
        return f"Cannot {self.action} in state {self.state}: {self.hint}"


class WebSocketTypeError(WebSocketError, TypeError):
    """Raised when an argument has the wrong Python type, such as ``send_text(b"x")``."""


class FrameTypeError(WebSocketTypeError):
    """Raised when the next message is a binary frame and text was asked for, or the reverse."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(expected, got)
        self.expected = expected
        self.got = got

    def __str__(self) -> str:
        return f"Expected a {self.expected} frame, but got a {self.got} frame"


class WebSocketValueError(WebSocketError, ValueError):
    """Raised when a value is one the protocol forbids, such as close code 1006."""


class InvalidJSONError(WebSocketValueError):
    """Raised by ``receive_json()`` when the frame is not valid JSON."""


class UnsupportedByServerError(WebSocketError, RuntimeError):
    """Raised when the server cannot carry what was asked.

    Either its ``scope["asgi"]["spec_version"]`` predates a key whose meaning
    would be lost, or it does not offer an extension such as
    ``websocket.http.response``.
    """


class ServerProtocolError(WebSocketError, RuntimeError):
    """Raised when the server sends a message the ASGI spec forbids."""
