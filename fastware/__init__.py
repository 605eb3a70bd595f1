"""fastware: a typed, validated, fast WebSocket API for ASGI applications.

The ASGI WebSocket protocol is written down once, as a JSON Schema
(schema/asgi-websocket.schema.json); the message models, the WebSocket message
methods and the reference docs are generated from it.
"""

from fastware._accel import SPEEDUPS, Speedups
from fastware._state import State
from fastware.errors import (
    FrameTypeError,
    InvalidJSONError,
    ServerProtocolError,
    UnsupportedByServerError,
    WebSocketDisconnect,
    WebSocketError,
    WebSocketStateError,
    WebSocketTypeError,
    WebSocketValueError,
)
from fastware.websocket import WebSocket

__all__ = [
    "SPEEDUPS",
    "FrameTypeError",
    "InvalidJSONError",
    "ServerProtocolError",
    "Speedups",
    "State",
    "UnsupportedByServerError",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketError",
    "WebSocketStateError",
    "WebSocketTypeError",
    "WebSocketValueError",
]
