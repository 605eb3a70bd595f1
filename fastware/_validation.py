"""Validated mode: check the scope and messages against the generated pydantic models.

The models (and pydantic's validators for them) are loaded on first use, so
the default mode never pays for importing them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from fastware.errors import ServerProtocolError, WebSocketValueError


@cache
def _validators() -> dict[str, Callable[[Any], Any]]:
    from fastware._generated import models

    return {
        "scope": models.WebSocketScope.model_validate,
        "incoming": models.ReceiveMessage.model_validate,
        "outgoing": models.SendMessage.model_validate,
    }


def _describe(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors is None:
        return str(exc)
    parts = []
    for error in errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _run(kind: str, value: Mapping[str, Any], error: type[Exception], what: str) -> None:
    from pydantic import ValidationError

    try:
        _validators()[kind](value)
    except ValidationError as exc:
        raise error(f"{what} {value.get('type')!r} is invalid: {_describe(exc)}") from exc


def validate_scope(scope: Mapping[str, Any]) -> None:
    _run("scope", scope, ServerProtocolError, "scope of type")


def validate_incoming(message: Mapping[str, Any]) -> None:
    _run("incoming", message, ServerProtocolError, "message from the server")


def validate_outgoing(message: Mapping[str, Any]) -> None:
    _run("outgoing", message, WebSocketValueError, "message")
