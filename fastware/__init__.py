"""fastware: a typed, validated, fast WebSocket API for ASGI applications.

The ASGI WebSocket protocol is written down once, as a JSON Schema
(schema/asgi-websocket.schema.json); the message models, the WebSocket message
methods and the reference docs are generated from it.
"""

from fastware._state import State
from fastware.errors import (
    FrameTypeError,
    InvalidJSONError,
    ServerProtocolError,
    UnexpectedMessageError,
    UnsupportedByServerError,
    UnsupportedByServerWarning,
    WebSocketDisconnect,
    WebSocketError,
    WebSocketStateError,
    WebSocketTypeError,
    WebSocketValueError,
)
from fastware.types import Message, Receive, Scope, Send
from fastware.websocket import WebSocket

__all__ = [
    "FrameTypeError",
    "InvalidJSONError",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "ServerProtocolError",
    "State",
    "UnexpectedMessageError",
    "UnsupportedByServerError",
    "UnsupportedByServerWarning",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketError",
    "WebSocketStateError",
    "WebSocketTypeError",
    "WebSocketValueError",
]
