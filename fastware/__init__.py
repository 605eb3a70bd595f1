"""fastware: a typed, validated, fast WebSocket API for ASGI applications.

The ASGI WebSocket protocol is written down once, as a JSON Schema
(schema/asgi-websocket.schema.json); the message models, the WebSocket message
methods and the reference docs are generated from it.
"""

from fastware._state import State
from fastware.datastructures import URL, Address, QueryParams, StateNamespace
from fastware.errors import (
    FrameTypeError,
    InvalidJSONError,
    PayloadValidationError,
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

#: The lifecycle enum of ``WebSocket.connection_state``; ``State`` is the same class.
ConnectionState = State

__all__ = [
    "URL",
    "Address",
    "ConnectionState",
    "FrameTypeError",
    "InvalidJSONError",
    "QueryParams",
    "Message",
    "PayloadValidationError",
    "Receive",
    "Scope",
    "Send",
    "ServerProtocolError",
    "State",
    "StateNamespace",
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
