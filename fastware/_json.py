"""The default JSON codec: orjson encodes, msgspec decodes, under the standard library's rules.

Chosen by measurement (benchmarks/json_codecs.py, docs/json.md): orjson is the fastest encoder
whose behaviour can be steered (what it does not know reaches a hook, so sets, bytes and
datetimes are refused as the stdlib refuses them; msgspec and pydantic-core encode those
silently), and msgspec the fastest decoder that keeps integers beyond 64 bits exact (orjson
turns them into floats).

:func:`dumps` gives what ``json.dumps(value, ensure_ascii=False, separators=(",", ":"),
allow_nan=False)`` gives, or the same error class, with the differences docs/json.md lists:

- a float between 1e-10 and 1e-4 is spelled as orjson spells it (``1e-6``, ``0.00001``), the stdlib
  writes ``1e-06`` and ``1e-05``: the same number;
- enum members are sent as their value, UUIDs as their canonical string, pydantic models as their
  ``model_dump(mode="json")`` (the stdlib refuses all three); dataclasses as their fields;
- a string with a lone surrogate is refused (``ValueError``): it cannot be sent as UTF-8;
- nesting deeper than 254 levels is refused (``ValueError``), as is a circular reference.

orjson writes NaN and infinity as ``null`` and refuses what the stdlib accepts in a few cases
(integers beyond 64 bits, keys that are not strings, subclasses of containers). So the common
case runs in orjson alone, and :func:`_plain`, an exact Python rendering of the stdlib's rules,
decides the rest: it runs when orjson refuses a value, and when the output holds a ``null`` that
pydantic-core cannot prove to be a ``None``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
import pydantic
import pydantic_core

__all__ = ["MAX_DEPTH", "adapter", "dumps", "dumps_text", "loads", "validator"]

#: Levels of nested arrays and objects orjson encodes; deeper values are refused.
MAX_DEPTH = 254

_orjson_dumps = orjson.dumps
_Fragment = orjson.Fragment
# Subclasses, dataclasses and datetimes reach _default instead of orjson's own rendering, which
# differs from the stdlib's (an OrderedDict's order, a namedtuple) or encodes what it refuses.
_OPTIONS = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_to_json = pydantic_core.to_json
_BaseModel = pydantic.BaseModel


class _NeedsPlain(Exception):
    """Raised by _default for a value only _plain renders exactly."""


def _model_fragment(model: pydantic.BaseModel) -> orjson.Fragment:
    # Encoded on its own: NaN in a field is caught here, whatever the model's ser_json_inf_nan says.
    return _Fragment(dumps(model.model_dump(mode="json")))


def _default(value: Any) -> Any:
    """orjson's hook: the values its fast path may carry, rendered as the stdlib (or fastware) does."""
    if isinstance(value, str):
        return str.__str__(value)  # the characters, as the stdlib reads them, not a __str__ override
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, _BaseModel):
        return _model_fragment(value)
    raise _NeedsPlain


def _surely_finite(value: Any) -> bool:
    """Whether ``value`` surely has no NaN or infinity: pydantic-core writes them as bare tokens."""
    try:
        out = _to_json(value, inf_nan_mode="constants", fallback=_judge_fallback)
    except Exception:
        return False
    return b"NaN" not in out and b"Infinity" not in out


def _judge_fallback(value: Any) -> Any:
    return None  # only values orjson took reach here (e.g. a model's Fragment): already checked


def dumps(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON, under the stdlib's rules (see the module docstring)."""
    try:
        out = _orjson_dumps(value, _default, _OPTIONS)
    except TypeError:
        # orjson refused it, or _default wanted the exact rendering: _plain raises the stdlib's error or gives it.
        return _orjson_dumps(_plain(value))
    if out.find(b"null") >= 0 and not _surely_finite(value):
        # orjson writes NaN as null: the exact rendering tells (it raises ValueError for one).
        return _orjson_dumps(_plain(value))
    return out


def dumps_text(value: Any) -> str:
    """:func:`dumps` as ``str``, for a text frame. (WebSocket.send_json inlines its first lines.)"""
    try:
        text = _orjson_dumps(value, _default, _OPTIONS).decode()
    except TypeError:
        return plain_text(value)
    # Searching the str: "in" on bytes costs several times as much here.
    return checked_text(value, text) if "null" in text else text


def plain_text(value: Any) -> str:
    """The exact rendering, for a value orjson refused."""
    return _orjson_dumps(_plain(value)).decode()


def checked_text(value: Any, text: str) -> str:
    """``text``, orjson's rendering of ``value`` that holds a ``null``, unless one of them is a NaN."""
    return text if _surely_finite(value) else plain_text(value)


def _float_key(key: float) -> str:
    if key != key or key in (float("inf"), float("-inf")):
        raise ValueError("Out of range float values are not JSON compliant: " + repr(key))
    return float.__repr__(key)


def _key(key: Any) -> str:
    """A dict key as the stdlib writes it (json.encoder's C encoder, in the same order of checks)."""
    if isinstance(key, str):
        return _text(key)
    if isinstance(key, float):
        return _float_key(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _text(value: str) -> str:
    value = str.__str__(value)
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"a str holds a lone surrogate ({value[exc.start]!r} at {exc.start}): it cannot be sent as UTF-8"
            ) from None
    return value


_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def _plain(value: Any, depth: int = 0, markers: set[int] | None = None) -> Any:
    """``value`` rebuilt of what orjson encodes exactly as the stdlib would, or the stdlib's error.

    Mirrors json.encoder's C encoder: str, int, float, list or tuple, dict (through ``items()``
    when it is a subclass), then the default hook; with fastware's extensions and limits.
    """
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, int):
        number = int.__int__(value)
        if _INT64_MIN <= number <= _UINT64_MAX:
            return number
        return _Fragment(int.__repr__(number))  # beyond 64 bits: written as the stdlib writes it
    if isinstance(value, float):
        real = float.__float__(value)
        if real != real or real in (float("inf"), float("-inf")):
            raise ValueError("Out of range float values are not JSON compliant: " + repr(real))
        return real
    if isinstance(value, (list, tuple, dict)) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        if depth >= MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
        if markers is None:
            markers = set()
        marker = id(value)
        if marker in markers:
            raise ValueError("Circular reference detected")
        markers.add(marker)
        try:
            # Loops, not comprehensions: one Python frame per level keeps 254 levels far from the recursion limit.
            if isinstance(value, (list, tuple)):
                array = []
                for item in value:
                    array.append(_plain(item, depth + 1, markers))
                return array
            if isinstance(value, dict):
                items: Any = value.items()
            else:
                items = [(field.name, getattr(value, field.name)) for field in dataclasses.fields(value)]
            pairs = []
            for key, item in items:
                pairs.append((_key(key), _plain(item, depth + 1, markers)))
            result = dict(pairs)
            if len(result) == len(pairs):
                return result
            # Two keys became one string ({1: "a", "1": "b"}): the stdlib writes both, and so must we.
            members = b",".join(_orjson_dumps(k) + b":" + _orjson_dumps(v) for k, v in pairs)
            return _Fragment(b"{" + members + b"}")
        finally:
            markers.discard(marker)
    if isinstance(value, enum.Enum):
        return _plain(value.value, depth, markers)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, _BaseModel):
        return _model_fragment(value)
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


#: The decoder itself, which WebSocket calls directly (no Python frame around it); on an error it
#: asks diagnose() for the words.
decode: Callable[[str | bytes], Any] = msgspec.json.Decoder().decode


def loads(data: str | bytes) -> Any:
    """Decode strict JSON (RFC 8259) from ``str`` or UTF-8 ``bytes``; integers stay exact.

    Raises ValueError, saying where the text went wrong.
    """
    try:
        return decode(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError(diagnose(data, exc)) from None


def diagnose(data: str | bytes, exc: BaseException) -> str:
    """Why ``data`` is refused: the stdlib's words and position where it refuses it too."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    try:
        json.loads(data)
    except json.JSONDecodeError as reference:
        return str(reference)
    except (ValueError, RecursionError):
        pass
    # The stdlib would take it (NaN, Infinity, 1e400, a lone surrogate, a BOM, UTF-16): strict JSON does not.
    return f"{exc} (strict JSON: no NaN, Infinity or out-of-range numbers, no lone surrogates, UTF-8 only)"


# Typed payloads -----------------------------------------------------------

_adapters: dict[Any, pydantic.TypeAdapter[Any]] = {}
# Type forms that cannot be hashed (an Annotated whose metadata is unhashable), by id; the form is
# kept alive beside its adapter so the id cannot be reused. Bounded: a form built per call would grow it.
_adapters_by_id: dict[int, tuple[Any, pydantic.TypeAdapter[Any]]] = {}
_BY_ID_LIMIT = 256


def adapter(model: Any) -> pydantic.TypeAdapter[Any]:
    """The TypeAdapter of ``model``, built once per type (building one costs far more than a message)."""
    try:
        return _adapters[model]
    except KeyError:
        built = _adapters[model] = pydantic.TypeAdapter(model)
        return built
    except TypeError:  # unhashable
        entry = _adapters_by_id.get(id(model))
        if entry is None or entry[0] is not model:
            if len(_adapters_by_id) >= _BY_ID_LIMIT:
                _adapters_by_id.clear()
            entry = _adapters_by_id[id(model)] = (model, pydantic.TypeAdapter(model))
        return entry[1]


#: model -> the function that validates a frame's text or bytes as it (see validator()).
validators: dict[Any, Callable[[str | bytes], Any]] = {}


def validator(model: Any) -> Callable[[str | bytes], Any]:
    """``TypeAdapter(model).validate_json``, built once; pydantic-core's own when it is built.

    pydantic-core's SchemaValidator.validate_json skips the Python layer of TypeAdapter's (its
    keyword handling); a deferred or plugin-wrapped validator keeps TypeAdapter's.
    """
    built = adapter(model)
    core = built.validator
    validate: Callable[[str | bytes], Any] = (
        core.validate_json if isinstance(core, pydantic_core.SchemaValidator) else built.validate_json
    )
    try:
        validators[model] = validate
    except TypeError:  # unhashable: adapter() keeps it by identity, and this stays a lookup there
        pass
    return validate
