"""Every value type the schema may use is generated with its checks: rendered from an edited schema
and run in process, each check accepting what the schema allows and refusing the rest by name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import ROOT

from codegen import render
from codegen.spec import analyse
from fastware.errors import WebSocketTypeError, WebSocketValueError

KEYS: dict[str, dict[str, Any]] = {
    "mode": {"type": "string", "enum": ["fast", "safe"]},
    "tag": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
    "blob": {"type": ["string", "null"], "format": "binary", "maxLength": 4, "pattern": "^ab"},
    "count": {"type": "integer", "minimum": 1},
    "ratio": {"type": "number", "minimum": 0, "maximum": 1},
    "names": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
    "params": {"type": "object", "additionalProperties": {"type": "string"}},
    "limits": {
        "type": "object",
        "properties": {
            "size": {"type": "integer", "maximum": 10},
            "label": {"type": ["string", "null"]},
            "inner": {"type": "object", "properties": {"on": {"type": "boolean"}}, "required": ["on"]},
        },
        "required": ["size"],
    },
}


@pytest.fixture(scope="module")
def checks() -> dict[str, Any]:
    schema = json.loads((ROOT / "schema" / "asgi-websocket.schema.json").read_text(encoding="utf-8"))
    props = schema["$defs"]["WebSocketClose"]["properties"]
    for name, node in KEYS.items():
        props[name] = {**node, "x-asgi-direction": "send", "x-asgi-since": "2.0"}
    source = render.render("checks.py.jinja", analyse(schema))
    namespace: dict[str, Any] = {"__name__": "drill_checks"}
    exec(compile(source, "<generated checks>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize(
    ("key", "value", "result"),
    [
        ("mode", "safe", "safe"),
        ("tag", "abc", "abc"),
        ("blob", bytearray(b"ab"), b"ab"),
        ("count", 1, 1),
        ("ratio", 1, 1.0),
        ("names", ("a", "b"), ["a", "b"]),
        ("params", {"a": "1"}, {"a": "1"}),
        ("limits", {"size": 3}, {"size": 3}),
        (
            "limits",
            {"size": 3, "label": None, "inner": {"on": True}},
            {"size": 3, "label": None, "inner": {"on": True}},
        ),
    ],
)
def test_allowed_values_pass(checks: dict[str, Any], key: str, value: Any, result: Any) -> None:
    assert checks[f"websocket_close_{key}"](value) == result


@pytest.mark.parametrize(
    ("key", "value", "error", "words"),
    [
        ("mode", "slow", WebSocketValueError, "'mode' may not be 'slow'; allowed: fast, safe"),
        ("mode", 1, WebSocketTypeError, "'mode' must be str"),
        ("tag", "ABC", WebSocketValueError, "'tag' 'ABC' does not match '^[a-z]+$'"),
        ("tag", "a", WebSocketValueError, "'tag' is 1 characters; at least 2 are needed"),
        ("tag", "abcdef", WebSocketValueError, "'tag' is 6 characters; at most 5 are allowed"),
        ("blob", b"abcde", WebSocketValueError, "'blob' is 5 bytes; at most 4 are allowed"),
        ("blob", b"xy", WebSocketValueError, "'blob' b'xy' does not match"),
        ("count", 0, WebSocketValueError, "'count' may not be 0; the least allowed is 1"),
        ("count", True, WebSocketTypeError, "'count' must be int"),
        ("ratio", 1.5, WebSocketValueError, "'ratio' may not be 1.5; allowed: 0-1"),
        ("ratio", "1", WebSocketTypeError, "'ratio' must be a number"),
        ("names", "ab", WebSocketTypeError, "'names' must be an iterable of str"),
        ("names", ["a", 1], WebSocketTypeError, "'names': every item must be str"),
        ("names", ["a", "b", "c"], WebSocketValueError, "'names' is 3 items; at most 2 are allowed"),
        ("params", {"a": 1}, WebSocketTypeError, "'params' must map str to str, got 'a': 1"),
        ("limits", {}, WebSocketValueError, "websocket.close 'limits' needs 'size'"),
        ("limits", {"size": 11}, WebSocketValueError, "websocket.close 'limits'.size may not be 11"),
        ("limits", {"size": 1, "x": 1}, WebSocketValueError, "'limits' has no key 'x'; its keys: size, label, inner"),
        ("limits", {"size": 1, "inner": {}}, WebSocketValueError, "websocket.close 'limits'.inner needs 'on'"),
        ("limits", {"size": 1, "inner": {"on": 1}}, WebSocketTypeError, "'limits'.inner.on must be bool"),
    ],
)
def test_refused_values_are_named(
    checks: dict[str, Any], key: str, value: Any, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as info:
        checks[f"websocket_close_{key}"](value)
    assert words in str(info.value)


def test_the_message_check_runs_every_key(checks: dict[str, Any]) -> None:
    checks["check_websocket_close"]({"type": "websocket.close", "mode": "fast", "limits": {"size": 1}})
    with pytest.raises(WebSocketValueError, match="'mode' may not be 'x'"):
        checks["check_websocket_close"]({"type": "websocket.close", "mode": "x"})


def test_every_generated_file_builds_with_these_types(tmp_path: Any) -> None:
    # The whole generator (models by datamodel-code-generator, methods, docs, ruff) takes every type.
    from codegen.build import build

    (tmp_path / "schema").mkdir()
    schema = json.loads((ROOT / "schema" / "asgi-websocket.schema.json").read_text(encoding="utf-8"))
    for name, node in KEYS.items():
        schema["$defs"]["WebSocketClose"]["properties"][name] = {
            **node,
            "x-asgi-direction": "send",
            "x-asgi-since": "2.0",
        }
    (tmp_path / "schema" / "asgi-websocket.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    (tmp_path / "pyproject.toml").write_bytes((ROOT / "pyproject.toml").read_bytes())
    outputs = build(tmp_path)
    for rel, text in outputs.items():
        if rel.endswith(".py"):
            compile(text, rel, "exec")
    methods = outputs["generated/methods.py"]
    assert "mode: Literal['fast', 'safe'] | None = None" in methods.replace('"', "'")
    assert "params: Mapping[str, str] | None = None" in methods
    assert "names: Iterable[str] | None = None" in methods
    models = outputs["generated/models.py"]
    assert "class Limits(ASGIModel):" in models  # a nested object is a model of its own
    assert "mode: Literal['fast', 'safe'] | None = None" in models.replace('"', "'")  # an enum is a Literal
