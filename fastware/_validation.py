"""Validated mode, and parsing of ASGI dicts into the generated message models.

Validated mode wraps the server's ``receive`` and ``send`` so that every
message is checked on its way in or out, and the WebSocket's fast path stays
as it is. A message is checked with a pydantic-core validator built once per
message type from that type's generated model: the model's own field schemas,
run over the dict without building a model instance (building one costs more
than the whole budget of validated mode), followed by the model's generated
whole-message check (close-code holes, the UTF-8 byte limit, exactly one of
bytes and text). So the rules are the models' rules, at a fraction of the cost.

Scalars are checked strictly (a str where bytes belong is an error, not a
conversion); sequences are not, because ASGI lets servers send a header pair
as a list or a tuple. The models and their validators are built on first use,
so the default mode never pays for importing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import SchemaValidator, core_schema

from fastware.errors import ServerProtocolError, WebSocketError, WebSocketTypeError, WebSocketValueError

if TYPE_CHECKING:
    from fastware._base_model import ASGIModel
    from fastware._generated.unions import ReceiveMessage

Message = Mapping[str, Any]
Check = Callable[[Message], None]

# Core-schema types whose lax mode converts values (str <-> bytes, "1" -> 1, 1 -> True).
_SCALARS = frozenset({"str", "bytes", "int", "float", "bool"})


def _strict_scalars(schema: Any) -> Any:
    """A copy of a pydantic core schema in which every scalar is strict and sequences stay lax."""
    if isinstance(schema, list):
        return [_strict_scalars(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict_scalars(value) if key != "cls" else value for key, value in schema.items()}
    kind = out.get("type")
    if isinstance(kind, str) and kind in _SCALARS:
        out["strict"] = True
    return out


def _fields_schema(model: type[ASGIModel]) -> Mapping[str, Any]:
    schema: Mapping[str, Any] = model.__pydantic_core_schema__
    while schema["type"] != "model-fields":
        schema = schema["schema"]
    return schema


def _dict_validator(model: type[ASGIModel], check: Check | None) -> Callable[[Any], Any]:
    """Validate an ASGI dict against the model's fields and its whole-message check, without building the model."""
    fields: dict[str, Any] = {}
    for name, field in _fields_schema(model)["fields"].items():
        inner = field["schema"]
        required = inner["type"] != "default"
        if not required:
            inner = inner["schema"]  # defaults are the model's business; a missing key is fine
        key = field.get("validation_alias", name)
        fields[key] = core_schema.typed_dict_field(_strict_scalars(inner), required=required)
    # Keys the schema does not know are allowed by ASGI: ignored, not copied.
    schema: Any = core_schema.typed_dict_schema(fields, extra_behavior="ignore")
    if check is not None:
        # Run inside pydantic-core: one call per message instead of two.
        schema = core_schema.no_info_after_validator_function(check, schema)
    return SchemaValidator(schema, core_schema.CoreConfig(title=model.__name__)).validate_python


@cache
def _models() -> dict[str, type[ASGIModel]]:
    from fastware._generated.unions import MODELS

    return MODELS


@cache
def _dict_validators(union: str) -> dict[str, Callable[[Any], Any]]:
    """Message type -> its dict validator, for the messages of one direction's union."""
    from fastware._generated.checks import MESSAGE_CHECKS

    members = _union(union)
    return {
        msg_type: _dict_validator(model, MESSAGE_CHECKS.get(msg_type))
        for msg_type, model in _models().items()
        if model in members
    }


@cache
def _model_validator(union: str) -> SchemaValidator:
    """A validator of the named union (or of one model) that returns model instances."""
    from fastware._generated import unions

    if union == "WebSocketScope":
        return SchemaValidator(_strict_scalars(unions.WebSocketScope.__pydantic_core_schema__))
    members = {msg_type: model for msg_type, model in _models().items() if union == "Message" or model in _union(union)}
    choices = {msg_type: _strict_scalars(model.__pydantic_core_schema__) for msg_type, model in members.items()}
    schema = core_schema.tagged_union_schema(choices, discriminator="type")
    return SchemaValidator(schema, core_schema.CoreConfig(title=union))


def _union(name: str) -> tuple[type[Any], ...]:
    from typing import get_args

    from fastware._generated import unions

    return get_args(get_args(getattr(unions, name))[0])


def describe(exc: ValidationError, skip: int = 0) -> str:
    """A ValidationError in one line: each failing key and what is wrong with it.

    ``skip`` leaves out the first parts of each location (a union's tag, named elsewhere).
    """
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"][skip:])
        # A generated check's own error already names the message and the key.
        cause = error.get("ctx", {}).get("error")
        text = str(cause) if isinstance(cause, WebSocketError) else error["msg"]
        parts.append(f"{where!r}: {text}" if where else text)
    return "; ".join(parts)


def _refuse(message: Any, validators: Mapping[str, Any], error: type[WebSocketError], what: str) -> WebSocketError:
    """The error for a message that has no validator: not a dict, or a type this direction does not have."""
    if not isinstance(message, Mapping):
        return error(f"{what} must be a dict, not {type(message).__name__}")
    return error(f"{what} has type {message.get('type')!r}; expected one of {', '.join(validators)}")


def _checker(union: str, error: type[WebSocketError], what: str) -> Callable[[Any], None]:
    validators = _dict_validators(union)

    def check(message: Any) -> None:
        try:
            validate = validators[message["type"]]
        except (KeyError, TypeError):
            raise _refuse(message, validators, error, what) from None
        try:
            validate(message)
        except ValidationError as exc:
            raise error(f"{what} {message['type']!r} is invalid: {describe(exc)}") from exc
        except WebSocketError as exc:  # a check's TypeError, which pydantic does not wrap
            if isinstance(exc, error):
                raise
            raise error(f"{what} {message['type']!r} is invalid: {exc}") from exc

    return check


# Validated mode ------------------------------------------------------------


def validate_scope(scope: Mapping[str, Any]) -> None:
    """Validate a connection scope against WebSocketScope; ServerProtocolError names the key."""
    try:
        _model_validator("WebSocketScope").validate_python(scope)
    except ValidationError as exc:
        raise ServerProtocolError(f"scope of type {scope.get('type')!r} is invalid: {describe(exc)}") from exc


def validate_incoming(message: Message) -> None:
    """Validate a message from the server; ServerProtocolError names its type and the key."""
    _incoming()(message)


def validate_outgoing(message: Message) -> None:
    """Validate a message before it is sent; WebSocketValueError names its type and the key."""
    _outgoing()(message)


@cache
def _incoming() -> Callable[[Any], None]:
    return _checker("ReceiveMessage", ServerProtocolError, "message from the server")


@cache
def _outgoing() -> Callable[[Any], None]:
    return _checker("SendMessage", WebSocketValueError, "message")


def validating_receive(receive: Callable[[], Awaitable[Message]]) -> Callable[[], Awaitable[Message]]:
    """The server's receive, validating every message it returns."""
    check = _incoming()

    async def receive_validated() -> Message:
        message = await receive()
        check(message)
        return message

    return receive_validated


def validating_send(send: Callable[[Message], Awaitable[None]]) -> Callable[[Message], Awaitable[None]]:
    """The server's send, validating every message before handing it over."""
    check = _outgoing()

    # A plain def returning the server's awaitable: no extra coroutine frame per message.
    def send_validated(message: Message) -> Awaitable[None]:
        check(message)
        return send(message)

    return send_validated


# Models -----------------------------------------------------------------------


def parse(message: Mapping[str, Any], union: str = "Message") -> Any:
    """The model of a raw ASGI message; pydantic's ValidationError names the type and the key."""
    return _model_validator(union).validate_python(message)


def parse_incoming(message: Message) -> ReceiveMessage:
    """The model of a message the server gave; ServerProtocolError names the type and the key."""
    try:
        model: ReceiveMessage = parse(message, "ReceiveMessage")
        return model
    except ValidationError as exc:
        msg_type = message.get("type") if isinstance(message, Mapping) else None
        if msg_type in _dict_validators("ReceiveMessage"):
            raise ServerProtocolError(f"message from the server {msg_type!r} is invalid: {describe(exc, 1)}") from exc
        raise ServerProtocolError(f"message from the server is invalid: {describe(exc)}") from exc


def outgoing_values(message: Any) -> dict[str, Any]:
    """The ASGI keys and values of a message model for send_message(), refusing what would be lost."""
    if type(message) not in _models().values():
        raise WebSocketTypeError(
            f"send_message() takes a message model from fastware.messages, such as "
            f"WebSocketClose(code=1000), not {type(message).__name__}"
        )
    extra = message.model_extra
    if extra:
        # The generated methods carry only the schema's keys; an unknown one would be dropped silently.
        raise WebSocketValueError(
            f"send_message(): {message.type} has no key {sorted(extra)[0]!r}; only the schema's keys can be sent"
        )
    return {key: getattr(message, name) for key, name in message._asgi_keys}
