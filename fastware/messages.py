"""The ASGI WebSocket messages and the connection scope, as validated pydantic models.

Every model is generated from schema/asgi-websocket.schema.json, one per
message type, and named after the schema's title for it::

    from fastware import messages

    message = messages.parse({"type": "websocket.receive", "text": "hi"})
    assert isinstance(message, messages.WebSocketReceive) and message.text == "hi"
    messages.to_asgi(messages.WebSocketClose(code=4000, reason="bye"))
    # {"type": "websocket.close", "code": 4000, "reason": "bye"}

- ``ReceiveMessage`` and ``SendMessage`` are the discriminated unions of each
  direction (told apart by ``type``), ``Message`` the union of both; any of them
  works with ``pydantic.TypeAdapter``.
- ``parse()`` turns a raw ASGI dict into its model. Scalars must have their
  exact ASGI type (``bytes`` for a ``bytes`` key, never a str to convert); an
  invalid message raises ``pydantic.ValidationError`` whose location names the
  message type and the key, for example ``websocket.receive.bytes``.
- ``to_asgi()`` (or the model's own ``to_asgi()``) gives back the dict a
  server expects: ASGI key names (``bytes``, not the attribute ``bytes_``) and
  only the keys that were set, so defaults stay the server's business.
- ``MODELS`` maps each message type to its model.

``messages.WebSocketDisconnect`` is the *message* a server sends when the
client leaves; the exception an application catches is
``fastware.WebSocketDisconnect``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastware import _validation
from fastware._base_model import ASGIModel
from fastware._generated import unions as _unions
from fastware._generated.unions import *  # noqa: F403 - the generated models and unions are this module's API

# Both in forms pyright understands: a star import beside a named import of the same names, or
# a computed __all__, leave type checkers seeing variables instead of types.
__all__ = ["ASGIModel", "parse", "parse_scope", "to_asgi"]
__all__ += _unions.__all__


def parse(message: Mapping[str, Any]) -> _unions.Message:
    """The model of a raw ASGI message of either direction, chosen by its ``type``.

    Raises:
        pydantic.ValidationError: The message breaks the schema: an unknown or
            missing ``type``, a missing key, a value of the wrong type or out of
            range. Each error's location is ``(message type, key)``.
    """
    model: _unions.Message = _validation.parse(message)
    return model


def parse_scope(scope: Mapping[str, Any]) -> _unions.WebSocketScope:
    """The model of a WebSocket connection scope; pydantic.ValidationError names the key."""
    model: _unions.WebSocketScope = _validation.parse(scope, "WebSocketScope")
    return model


def to_asgi(message: ASGIModel) -> dict[str, Any]:
    """The ASGI dict of a model: ASGI key names, only the keys that were set, ``type`` always present."""
    if not isinstance(message, ASGIModel):
        raise TypeError(f"to_asgi() takes a model from fastware.messages, not {type(message).__name__}")
    return message.to_asgi()
