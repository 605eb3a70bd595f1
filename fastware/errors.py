"""Errors raised by fastware.

Misuse of the API and protocol violations raise one of these, before anything
is sent, so a server never sees an invalid ASGI message::

    WebSocketError
    ├── WebSocketStateError (RuntimeError)      call not allowed in this state
    ├── WebSocketTypeError (TypeError)          an argument of the wrong type
    │   ├── FrameTypeError                      a text frame where bytes were expected, or the reverse
    │   └── UnexpectedMessageError              another message type where a data message was expected
    ├── WebSocketValueError (ValueError)        a value the protocol forbids
    │   └── InvalidJSONError                    a frame that is not valid JSON
    │       └── PayloadValidationError          ... or that does not validate as receive_json(model=...)'s type
    ├── UnsupportedByServerError (RuntimeError) the server's spec version or extensions cannot carry it
    └── ServerProtocolError (RuntimeError)      the server sent something the ASGI spec forbids

    WebSocketDisconnect                         the connection is gone (not an error of the app)
    UnsupportedByServerWarning (UserWarning)    sent, but the server's declared spec version predates it

Each also subclasses the builtin that code written for Starlette already catches.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FrameTypeError",
    "InvalidJSONError",
    "PayloadValidationError",
    "ServerProtocolError",
    "UnexpectedMessageError",
    "UnsupportedByServerError",
    "UnsupportedByServerWarning",
    "WebSocketDisconnect",
    "WebSocketError",
    "WebSocketStateError",
    "WebSocketTypeError",
    "WebSocketValueError",
]


class WebSocketDisconnect(Exception):
    """Raised when the connection is closed: by the client, by the server, or lost.

    ``code`` is the WebSocket close code (1005 when the client sent none, 1006
    when the connection dropped without a close frame); ``reason`` the close
    reason, ``""`` when there was none. Application code may raise it too.
    """

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason: str = reason or ""

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
    sending after ``close()``. A send after the client has left raises
    WebSocketDisconnect instead, as code written for Starlette expects.
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


class UnexpectedMessageError(WebSocketTypeError):
    """Raised by a receive method when the next message is of another type than the one it reads.

    For example ``receive_text()`` when the server delivers a ``websocket.pong``:
    the message was consumed (its state change applied); ``receive_raw()`` returns
    every type as it comes.
    """

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(expected, got)
        self.expected = expected
        self.got = got

    def __str__(self) -> str:
        return f"Received {self.got} while waiting for {self.expected}"


class WebSocketValueError(WebSocketError, ValueError):
    """Raised when a value is one the protocol forbids, such as close code 1006."""


class InvalidJSONError(WebSocketValueError):
    """Raised by ``receive_json()`` when the frame is not valid JSON."""


class PayloadValidationError(InvalidJSONError):
    """Raised by ``receive_json(model=T)`` when the frame is not valid JSON for ``T``.

    ``model`` is ``T``, ``errors`` pydantic's list of errors (``ValidationError.errors()``,
    without URLs); the pydantic ``ValidationError`` is the ``__cause__``. The frame was read,
    so the connection stays usable: the next receive gets the next message.
    """

    def __init__(self, model: Any, errors: list[Any], mode: str) -> None:
        super().__init__(model, errors, mode)
        self.model = model
        self.errors = errors
        self.mode = mode

    @property
    def model_name(self) -> str:
        """``T``'s name: the class name, or the repr of a type form such as ``list[Message]``."""
        name = getattr(self.model, "__name__", None)
        return name if isinstance(name, str) and isinstance(self.model, type) else repr(self.model)

    def __str__(self) -> str:
        count = len(self.errors)
        first = self.errors[0] if self.errors else {}
        where = ".".join(str(part) for part in first.get("loc", ())) or "(the whole frame)"
        return (
            f"receive_json() got a {self.mode} frame that does not validate as {self.model_name}: "
            f"{count} error{'s' if count != 1 else ''}, the first at {where}: {first.get('msg', '')}"
        )


class UnsupportedByServerError(WebSocketError, RuntimeError):
    """Raised, before anything is sent, when the server cannot carry what was asked.

    Either its declared ``scope["asgi"]["spec_version"]`` predates a message (a
    server rejects an unknown message type) or a key the schema marks ``error``,
    or it does not offer an extension such as ``websocket.http.response``.
    """


class UnsupportedByServerWarning(UserWarning):
    """Warned when the app sends a key the server's declared spec version predates.

    The key is sent anyway: ASGI says unknown keys must not cause an error, so a
    server that does not know it ignores it, and one that declares too old a
    version (many do) still carries it. Turn it into an error in tests with
    ``-W error::fastware.UnsupportedByServerWarning``. A scope without
    ``spec_version`` makes no claim, and nothing is warned.
    """


class ServerProtocolError(WebSocketError, RuntimeError):
    """Raised when the server sends a message the ASGI spec forbids."""
