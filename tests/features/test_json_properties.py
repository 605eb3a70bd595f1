"""The default JSON codec against the standard library, over generated values (hypothesis).

The reference is ``json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)``
with fastware's documented extensions as its ``default`` hook (docs/json.md). For every value the
default encoder gives the same text, or the same error class, or one of the documented differences:

- a float between 1e-10 and 1e-4 is spelled differently (``1e-6`` for ``1e-06``): the same number;
- a lone surrogate is refused with ValueError (the reference writes a str that cannot go out as UTF-8);
- more than 254 levels of nesting are refused with ValueError.

send_json sends exactly that text, in a text frame or as UTF-8 in a binary frame, on the C fast
path and on the Python methods alike. The decoder reads what the stdlib reads, the same values,
except what strict JSON refuses (NaN, Infinity, numbers beyond a float, lone surrogates, a BOM,
UTF-16 or UTF-32).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import json
import math
import re
import uuid
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support import FakeServer, make_scope

from fastware import InvalidJSONError, WebSocket, WebSocketTypeError, WebSocketValueError, _json

pytestmark = pytest.mark.anyio

_REFERENCE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


# Values: JSON's own, the stdlib's extras (subclasses, tuples, non-str keys), fastware's extensions,
# and values no JSON encoder takes.


class Text(str):
    def __str__(self) -> str:
        return "not what is sent"


class Number(int):
    pass


class Real(float):
    pass


class Items(dict[Any, Any]):
    """A dict subclass whose items() differs from its storage: the stdlib sends items()."""

    def items(self) -> Any:
        return [(key, [value]) for key, value in super().items()]


class Reversed(list[Any]):
    def __iter__(self) -> Any:
        return reversed(list(super().__iter__()))


Point = collections.namedtuple("Point", "x y")


class Colour(enum.Enum):
    RED = "red"
    NUMBER = 7
    HALF = 0.5


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class Pair:
    left: Any
    right: Any = None


class Model(pydantic.BaseModel):
    name: str
    score: float = 1.5
    tags: list[str] = []
    extra: Any = None


surrogate_text = st.text(st.characters(exclude_categories=()), max_size=6)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: beyond 64 bits too
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and infinity too
    | st.floats(min_value=1e-10, max_value=1e-3)
    | st.text(max_size=8)
    | surrogate_text
    | st.builds(Text, st.text(max_size=4))
    | st.builds(Number, st.integers())
    | st.builds(Real, st.floats())
    | st.sampled_from([Colour.RED, Colour.NUMBER, Colour.HALF, Level.LOW])
    | st.builds(uuid.UUID, st.uuids().map(str))
)
not_json = st.sampled_from([{1, 2}, b"bytes", object(), datetime.date(2024, 1, 2), 1j, frozenset(), Ellipsis])
keys = (
    st.text(max_size=4) | st.integers() | st.floats() | st.booleans() | st.none() | st.builds(Text, st.text(max_size=3))
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=4), children, max_size=4)
        | st.dictionaries(keys, children, max_size=4)
        | st.dictionaries(st.text(max_size=3), children, max_size=3).map(collections.OrderedDict)
        | st.dictionaries(st.text(max_size=3), children, max_size=3).map(Items)
        | st.lists(children, max_size=3).map(Reversed)
        | st.builds(Point, children, children)
        | st.builds(Pair, children, children)
        | st.builds(Model, name=st.text(max_size=4), score=st.floats(), extra=children)
    )


json_values = st.recursive(scalars, _containers, max_leaves=10)
any_values = st.recursive(scalars | not_json, _containers, max_leaves=10)


def _extensions(value: Any) -> Any:
    """fastware's documented extensions, as the reference's default hook."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_REFERENCE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_extensions)


def _depth(value: Any) -> int:
    """Levels of nesting, counted afresh inside a model (encoded on its own); without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, pydantic.BaseModel):
            continue
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, (list, tuple)):
            children = list(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            children = [getattr(item, f.name) for f in dataclasses.fields(item)]
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((child, level + 1) for child in children)
    return deepest


def reference(value: Any) -> tuple[str, str]:
    """("ok", text) or (error class, message): the stdlib, plus the documented differences."""
    try:
        text = _REFERENCE.encode(value)
        text.encode()  # a lone surrogate cannot go out as UTF-8: refused (documented)
    except (TypeError, ValueError) as exc:
        return _kind(exc), str(exc)
    except RecursionError as exc:
        return "ValueError", str(exc)
    if _depth(value) > _json.MAX_DEPTH:
        return "ValueError", "too deep (documented)"
    return "ok", text


def ours(value: Any) -> tuple[str, str]:
    try:
        text = _json.dumps_text(value)
    except (TypeError, ValueError) as exc:
        return _kind(exc), str(exc)
    assert _json.dumps(value) == text.encode(), "text and binary modes give the same JSON"
    return "ok", text


def _kind(exc: BaseException) -> str:
    return "TypeError" if isinstance(exc, TypeError) else "ValueError"


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _respell_numbers(text: str) -> str:
    # The documented difference: 1e-06 and 1e-6, 1e-05 and 0.00001 are the same float.
    return _NUMBER.sub(lambda m: repr(float(m.group())) if "e" in m.group() or "." in m.group() else m.group(), text)


def assert_same(value: Any) -> None:
    expected, got = reference(value), ours(value)
    if expected[0] == "ok" and got[0] == "ok" and expected[1] != got[1]:
        assert _respell_numbers(got[1]) == _respell_numbers(expected[1]), (value, expected, got)
        assert json.loads(got[1]) == json.loads(expected[1])
    else:
        assert got[0] == expected[0], (value, expected, got)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
@example({"a": None, "b": float("nan")})  # orjson writes NaN as null: refused all the same
@example({"a": None, "s": "NaN Infinity"})  # null, and the words, but no NaN: sent
@example({1: "a", "1": "b"})  # two keys that become one string: both sent, as the stdlib does
@example([2**64, -(2**63) - 1, 2**63])
@example({"m": Model(name="x", score=float("inf"))})
@example(Items(a=1))
@example("\ud800")
def test_the_default_encoder_gives_the_reference_text(value: Any) -> None:
    assert_same(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_values)
def test_the_default_encoder_refuses_what_the_reference_refuses(value: Any) -> None:
    assert_same(value)


def _nested(depth: int, leaf: Any = 1) -> Any:
    for n in range(depth):
        leaf = [leaf] if n % 2 else {"k": leaf}
    return leaf


@pytest.mark.parametrize("depth", [1, 253, 254, 255, 600, 5000])
def test_nesting_up_to_254_levels_is_sent_deeper_is_refused(depth: int) -> None:
    for leaf in (1, None, float("nan"), 2**70, Pair(1)):
        assert_same(_nested(depth, leaf))


def test_a_circular_reference_is_refused_as_the_stdlib_does() -> None:
    loop: list[Any] = [1]
    loop.append({"again": loop})
    pair = Pair(1)
    pair.right = [pair]
    for value in (loop, pair, {"x": loop}):
        assert ours(value)[0] == "ValueError"
    assert "Circular reference detected" in ours(loop)[1]


# send_json puts exactly that text on the wire, on both paths and in both modes.


class PythonMethodsWebSocket(WebSocket):
    """fastware as where its C fast path is not built: the generated async defs."""

    __slots__ = ()


for _name in ("send_text", "send_bytes", "receive_text", "receive_bytes"):
    _method = getattr(WebSocket, _name)
    setattr(PythonMethodsWebSocket, _name, getattr(_method, "__wrapped__", _method))


async def _send_both_ways(cls: type[WebSocket], value: Any) -> tuple[Any, Any]:
    outcomes = []
    for mode in ("text", "binary"):
        server = FakeServer()
        ws = cls(make_scope(), server.receive, server.send)
        server.push({"type": "websocket.connect"})
        await ws.accept()
        try:
            await ws.send_json(value, mode=mode)  # type: ignore[arg-type]
        except (WebSocketTypeError, WebSocketValueError) as exc:
            assert server.types() == ["websocket.accept"], "nothing is sent"
            outcomes.append(_kind(exc))
        else:
            outcomes.append(server.sent[-1]["text" if mode == "text" else "bytes"])
    return outcomes[0], outcomes[1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_values)
async def test_send_json_sends_that_text_on_every_path_and_in_both_modes(value: Any) -> None:
    expected = ours(value)
    for cls in (WebSocket, PythonMethodsWebSocket):
        text, binary = await _send_both_ways(cls, value)
        if expected[0] == "ok":
            assert (text, binary) == (expected[1], expected[1].encode())
        else:
            assert text == binary == expected[0]


# The decoder: the same values as the stdlib, on whatever text it is given.

json_texts = (
    st.text(max_size=12)
    | st.from_regex(r"\A\s*-?\d{1,40}(\.\d{1,20})?([eE][-+]?\d{1,3})?\s*\Z")
    | st.from_regex(r'\A"(\\u[dD][89abAB][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|[a-z])*"\Z')
    | st.sampled_from(["NaN", "[Infinity]", "-Infinity", "1e400", "[1,]", "{nope", '{"a":1,"a":2}', "\ufeff[1]"])
    | json_values.map(lambda v: json.dumps(v, default=_extensions))
)


def _has_non_finite_or_surrogate(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return any(_has_non_finite_or_surrogate(k) or _has_non_finite_or_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_non_finite_or_surrogate(v) for v in value)
    return False


def _same(a: Any, b: Any) -> bool:
    """Equal, with floats compared bit for bit (-0.0 is not 0.0) and types kept (1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a.hex() == b.hex()
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=500, deadline=None)
@given(json_texts, st.booleans())
def test_the_default_decoder_reads_what_the_stdlib_reads(text: str, as_bytes: bool) -> None:
    data: str | bytes = text.encode("utf-8", "surrogatepass") if as_bytes else text
    try:
        expected: Any = ("ok", json.loads(data))
    except (ValueError, RecursionError):
        expected = ("error",)
    try:
        got: Any = ("ok", _json.loads(data))
    except ValueError as exc:
        got = ("error",)
        assert str(exc), "the error says what is wrong"
    if expected[0] == "ok" and got[0] == "error":
        # Strict JSON, documented: no NaN or Infinity (nor numbers beyond a float), no lone surrogate, UTF-8 without a BOM.
        assert _has_non_finite_or_surrogate(expected[1]) or text.lstrip().startswith("\ufeff") or "\\u" in text, text
    else:
        assert got[0] == expected[0], (text, expected, got)
        if got[0] == "ok":
            assert _same(got[1], expected[1]), (text, expected, got)


@pytest.mark.parametrize(
    ("data", "where"),
    [("{nope", "line 1 column 2 (char 1)"), ('[1,\n  "a" "b"]', "line 2 column 7 (char 10)"), (b"[1,", "char 3")],
)
def test_invalid_json_says_where(data: str | bytes, where: str) -> None:
    with pytest.raises(ValueError, match=re.escape(where)):
        _json.loads(data)


@pytest.mark.parametrize(
    "data", ["NaN", "[Infinity]", "1e400", '"\\ud800"', b"\xef\xbb\xbf[1]", "[1]".encode("utf-16")]
)
async def test_receive_json_refuses_what_strict_json_refuses(data: str | bytes) -> None:
    server = FakeServer()
    ws = WebSocket(make_scope(), server.receive, server.send)
    server.push({"type": "websocket.connect"})
    await ws.accept()
    mode = "text" if isinstance(data, str) else "binary"
    key = "text" if isinstance(data, str) else "bytes"
    server.push({"type": "websocket.receive", key: data})
    server.push({"type": "websocket.receive", "text": "[2]"})
    with pytest.raises(InvalidJSONError, match="strict JSON|not valid JSON"):
        await ws.receive_json(mode=mode)  # type: ignore[arg-type]
    assert await ws.receive_json() == [2], "the connection stays usable"


def test_big_integers_stay_exact_both_ways() -> None:
    for number in (2**64, -(2**63) - 1, 10**40, -(10**100)):
        assert _json.loads(str(number)) == number
        assert _json.loads(_json.dumps({"n": number})) == {"n": number}
