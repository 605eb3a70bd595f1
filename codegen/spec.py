"""Read the schema and turn it into plain objects the templates render.

Reads schema/asgi-websocket.schema.json; writes nothing. Every rule the
generated code enforces is derived here, once, from the schema's keywords and
its x- annotations, so templates only print what this module decided. A schema
this module does not understand raises SchemaError naming the place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schema" / "asgi-websocket.schema.json"
SCHEMA_REL = "schema/asgi-websocket.schema.json"

DIRECTIONS = ("send", "receive")


class SchemaError(Exception):
    """Raised when the schema breaks a convention the generator relies on."""


@dataclass(frozen=True)
class Constraint:
    """The checks on one value, as the schema states them."""

    kind: str  # "str", "bytes", "int", "bool", "headers"
    nullable: bool = False
    # int: allowed values as half-open ranges, or None for "any int".
    ranges: tuple[tuple[int, int], ...] | None = None
    min_value: int | None = None
    max_value: int | None = None
    utf8_max_bytes: int | None = None
    max_length: int | None = None
    # headers: the regex a name must match, and names that are forbidden.
    name_pattern: str | None = None
    forbidden_names: tuple[str, ...] = ()

    @property
    def python_type(self) -> str:
        base = {
            "str": "str",
            "bytes": "bytes",
            "int": "int",
            "bool": "bool",
            "headers": "Iterable[tuple[bytes, bytes]]",
        }[self.kind]
        return f"{base} | None" if self.nullable else base

    def describe(self) -> str:
        """Plain-words summary of the constraint, for the docs."""
        parts: list[str] = []
        if self.ranges is not None:
            spans = [f"{lo}" if hi - lo == 1 else f"{lo}-{hi - 1}" for lo, hi in self.ranges]
            parts.append("one of " + ", ".join(spans))
        elif self.min_value is not None or self.max_value is not None:
            parts.append(f"{self.min_value}-{self.max_value}")
        if self.utf8_max_bytes is not None:
            parts.append(f"at most {self.utf8_max_bytes} bytes as UTF-8")
        elif self.max_length is not None:
            parts.append(f"at most {self.max_length} characters")
        if self.name_pattern is not None:
            parts.append("names lowercase tokens")
        for name in self.forbidden_names:
            parts.append(f"no `{name}` header")
        return "; ".join(parts)


@dataclass(frozen=True)
class Key:
    """One key of a message."""

    name: str
    constraint: Constraint
    required: bool
    default_repr: str  # the default as Python source; "" when the key has none
    since: str
    direction: str
    description: str
    on_older_server: str | None = None  # "drop" or "error"
    must_be_offered: str | None = None  # scope key listing the allowed values

    @property
    def since_tuple(self) -> tuple[int, ...]:
        return version_tuple(self.since)


@dataclass(frozen=True)
class Method:
    """A WebSocket method generated for a message."""

    name: str
    positional: tuple[tuple[str, str], ...]  # (parameter, key)
    keyword: tuple[str, ...]  # keys that become keyword-only parameters
    summary: str = ""
    fixed_key: str | None = None  # receive methods: the key they read
    hot: bool = False


@dataclass(frozen=True)
class Message:
    """One ASGI message type."""

    type: str
    title: str
    description: str
    direction: str
    since: str
    keys: tuple[Key, ...]
    methods: tuple[Method, ...]
    extension: str | None = None
    exactly_one_of: tuple[str, ...] = ()

    @property
    def ident(self) -> str:
        """Python identifier of the message: websocket.http.response.start -> websocket_http_response_start."""
        return self.type.replace(".", "_")

    def key(self, name: str) -> Key:
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(name)


@dataclass(frozen=True)
class ScopeKey:
    name: str
    type_text: str
    required: bool
    default_text: str
    description: str
    since: str = "2.0"
    note: str = ""


@dataclass
class Spec:
    """Everything the templates need."""

    title: str
    description: str
    messages: list[Message] = field(default_factory=list)
    unions: dict[str, list[str]] = field(default_factory=dict)  # union title -> message titles
    scope: list[ScopeKey] = field(default_factory=list)
    scope_description: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def versions(self) -> list[str]:
        found = {m.since for m in self.messages} | {k.since for m in self.messages for k in m.keys}
        return sorted(found, key=version_tuple)

    @property
    def latest_version(self) -> str:
        return self.versions[-1]

    def by_direction(self, direction: str) -> list[Message]:
        return [m for m in self.messages if m.direction == direction]


def version_tuple(text: str) -> tuple[int, ...]:
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", text):
        raise SchemaError(f"not a spec version: {text!r}")
    return tuple(int(part) for part in text.split("."))


def load(path: Path = SCHEMA_PATH) -> Spec:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return analyse(raw)


def analyse(raw: dict[str, Any]) -> Spec:
    defs = raw.get("$defs")
    if not isinstance(defs, dict):
        raise SchemaError("the schema has no $defs")
    spec = Spec(title=raw.get("title", ""), description=raw.get("description", ""), raw=raw)
    for name, node in defs.items():
        props = node.get("properties", {})
        type_node = props.get("type", {})
        if isinstance(type_node.get("const"), str) and type_node["const"].startswith("websocket."):
            spec.messages.append(_message(name, node, defs))
        elif "oneOf" in node and "discriminator" in node:
            if node["discriminator"] != {"propertyName": "type"}:
                raise SchemaError(f"$defs/{name}: unions must be discriminated on 'type'")
            spec.unions[name] = [_ref_name(item) for item in node["oneOf"]]
    scope = defs.get("WebSocketScope")
    if scope is None:
        raise SchemaError("$defs/WebSocketScope is missing")
    spec.scope_description = scope.get("description", "")
    required = set(scope.get("required", ()))
    for name, node in scope["properties"].items():
        node = _deref(node, defs)
        spec.scope.append(
            ScopeKey(
                name=name,
                type_text=_type_text(node, defs),
                required=name in required,
                default_text=_default_text(node),
                description=node.get("description", ""),
                since=node.get("x-asgi-since", "2.0"),
                note=node.get("x-asgi-note", ""),
            )
        )
    titles = {m.title for m in spec.messages}
    for union, members in spec.unions.items():
        unknown = set(members) - titles
        if unknown:
            raise SchemaError(f"$defs/{union} refers to unknown messages {sorted(unknown)}")
        directions = {m.direction for m in spec.messages if m.title in members}
        if len(directions) != 1:
            raise SchemaError(f"$defs/{union} mixes directions {sorted(directions)}")
    return spec


def _ref_name(node: dict[str, Any]) -> str:
    ref = node.get("$ref", "")
    if not ref.startswith("#/$defs/"):
        raise SchemaError(f"expected a $ref to #/$defs/..., got {node!r}")
    return ref.removeprefix("#/$defs/")


def _deref(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Merge a $ref's target under the node's own keywords (2020-12 allows siblings)."""
    if "$ref" not in node:
        return node
    target = _deref(defs[_ref_name(node)], defs)
    merged = dict(target)
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return merged


def _types(node: dict[str, Any]) -> tuple[str, bool]:
    """The JSON type of a node and whether null is allowed."""
    types = node.get("type")
    if isinstance(types, str):
        types = [types]
    if not types:
        raise SchemaError(f"a key has no type: {node!r}")
    nullable = "null" in types
    rest = [t for t in types if t != "null"]
    if len(rest) != 1:
        raise SchemaError(f"a key must have one non-null type, got {types!r}")
    return rest[0], nullable


def _int_ranges(node: dict[str, Any]) -> tuple[tuple[int, int], ...] | None:
    """Allowed integers as half-open ranges, from minimum/maximum and a `not` of ranges."""
    if "not" not in node:
        return None
    lo, hi = node.get("minimum"), node.get("maximum")
    if lo is None or hi is None:
        raise SchemaError("an integer with `not` needs minimum and maximum")
    holes = node["not"].get("anyOf", [node["not"]])
    allowed = [(lo, hi + 1)]
    for hole in holes:
        if set(hole) - {"minimum", "maximum", "const"}:
            raise SchemaError(f"unsupported hole in an integer range: {hole!r}")
        h_lo = hole.get("minimum", hole.get("const"))
        h_hi = hole.get("maximum", hole.get("const"))
        cut: list[tuple[int, int]] = []
        for a, b in allowed:
            if h_hi < a or h_lo >= b:
                cut.append((a, b))
                continue
            if a < h_lo:
                cut.append((a, h_lo))
            if h_hi + 1 < b:
                cut.append((h_hi + 1, b))
        allowed = cut
    return tuple(allowed)


def _constraint(node: dict[str, Any], defs: dict[str, Any]) -> Constraint:
    node = _deref(node, defs)
    json_type, nullable = _types(node)
    if json_type == "string":
        binary = node.get("format") == "binary"
        utf8 = node.get("x-utf8-max-bytes")
        if utf8 is not None and node.get("maxLength") not in (None, utf8):
            raise SchemaError("maxLength and x-utf8-max-bytes must agree")
        return Constraint(
            kind="bytes" if binary else "str",
            nullable=nullable,
            utf8_max_bytes=utf8,
            max_length=node.get("maxLength"),
        )
    if json_type == "integer":
        return Constraint(
            kind="int",
            nullable=nullable,
            ranges=_int_ranges(node),
            min_value=node.get("minimum"),
            max_value=node.get("maximum"),
        )
    if json_type == "boolean":
        return Constraint(kind="bool", nullable=nullable)
    if json_type == "array":
        pair = _deref(node.get("items", {}), defs)
        prefix = pair.get("prefixItems", [])
        if len(prefix) != 2 or not all(p.get("format") == "binary" for p in prefix):
            raise SchemaError("an array key must be headers: pairs of byte strings")
        name = prefix[0]
        forbidden = ()
        if "not" in name:
            forbidden = (name["not"]["const"],)
        return Constraint(
            kind="headers",
            nullable=nullable,
            name_pattern=name.get("pattern"),
            forbidden_names=forbidden,
        )
    raise SchemaError(f"unsupported key type {json_type!r}")


def _default_repr(node: dict[str, Any], constraint: Constraint) -> str:
    """A key's default as Python source; "" when it has none."""
    if "x-default-bytes" in node:
        return repr(node["x-default-bytes"].encode("latin-1"))
    if "default" in node:
        return repr(node["default"])
    if constraint.nullable or constraint.kind == "headers":
        return "None"
    return ""


def _message(name: str, node: dict[str, Any], defs: dict[str, Any]) -> Message:
    where = f"$defs/{name}"
    direction = node.get("x-asgi-direction")
    if direction not in DIRECTIONS:
        raise SchemaError(f"{where}: x-asgi-direction must be one of {DIRECTIONS}")
    msg_type = node["properties"]["type"]["const"]
    required = set(node.get("required", ()))
    if "type" not in required:
        raise SchemaError(f"{where}: 'type' must be required")
    keys: list[Key] = []
    for key_name, key_node in node["properties"].items():
        if key_name == "type":
            continue
        merged = _deref(key_node, defs)
        for annotation in ("x-asgi-since", "x-asgi-direction"):
            if annotation not in merged:
                raise SchemaError(f"{where}/{key_name}: {annotation} is missing")
        if merged["x-asgi-direction"] != direction:
            raise SchemaError(f"{where}/{key_name}: direction differs from its message's")
        constraint = _constraint(key_node, defs)
        default_repr = _default_repr(merged, constraint)
        on_older = merged.get("x-asgi-on-older-server")
        since = merged["x-asgi-since"]
        if direction == "send" and version_tuple(since) > (2, 0) and on_older not in ("drop", "error"):
            raise SchemaError(f"{where}/{key_name}: a key newer than 2.0 needs x-asgi-on-older-server")
        keys.append(
            Key(
                name=key_name,
                constraint=constraint,
                required=key_name in required,
                default_repr=default_repr,
                since=since,
                direction=direction,
                description=merged.get("description", ""),
                on_older_server=on_older,
                must_be_offered=merged.get("x-must-be-offered"),
            )
        )
    exactly_one: tuple[str, ...] = ()
    if "oneOf" in node:
        branches = node["oneOf"]
        exactly_one = tuple(b["required"][0] for b in branches)
        if any(len(b.get("required", ())) != 1 for b in branches):
            raise SchemaError(f"{where}: an object-level oneOf must require one key per branch")
    key_names = [k.name for k in keys]
    methods = tuple(_method(where, m, direction, keys) for m in node.get("x-fastware-methods", ()))
    for method in methods:
        if method.fixed_key is not None and method.fixed_key not in key_names:
            raise SchemaError(f"{where}: method {method.name} reads unknown key {method.fixed_key!r}")
    return Message(
        type=msg_type,
        title=node.get("title", name),
        description=node.get("description", ""),
        direction=direction,
        since=node.get("x-asgi-since", "2.0"),
        keys=tuple(keys),
        methods=methods,
        extension=node.get("x-asgi-extension"),
        exactly_one_of=exactly_one,
    )


def _method(where: str, raw: dict[str, Any], direction: str, keys: list[Key]) -> Method:
    names = {k.name for k in keys}
    if direction == "receive":
        return Method(name=raw["name"], positional=(), keyword=(), summary=raw.get("summary", ""), fixed_key=raw["key"])
    positional = tuple(raw.get("positional", {}).items())
    omit = set(raw.get("omit", ()))
    for _, key in positional:
        if key not in names:
            raise SchemaError(f"{where}: method {raw['name']} maps unknown key {key!r}")
    used = {key for _, key in positional} | omit
    keyword = tuple(k.name for k in keys if k.name not in used)
    for key in keys:
        if key.name in keyword and key.required:
            raise SchemaError(f"{where}: required key {key.name!r} must be positional in {raw['name']}")
    return Method(
        name=raw["name"],
        positional=positional,
        keyword=keyword,
        summary=raw.get("summary", ""),
        hot=bool(raw.get("hot")),
    )


def _type_text(node: dict[str, Any], defs: dict[str, Any]) -> str:
    types = node.get("type")
    if isinstance(types, str):
        types = [types]
    if types is None and "const" in node:
        return f"`{json.dumps(node['const'])}`"
    words = []
    for t in types or []:
        if t == "string":
            words.append("bytes" if node.get("format") == "binary" else "str")
        elif t == "array" and "prefixItems" in node:
            inner = ", ".join(_type_text(_deref(p, defs), defs) for p in node["prefixItems"])
            words.append(f"[{inner}]")
        elif t == "array":
            items = _deref(node.get("items", {}), defs)
            words.append(f"list of {_type_text(items, defs)}")
        else:
            words.append({"integer": "int", "boolean": "bool", "object": "dict", "null": "None"}[t])
    return " | ".join(words)


def _default_text(node: dict[str, Any]) -> str:
    if "default" in node:
        return f"`{node['default']!r}`"
    return ""
