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
class Field:
    """One property of a nested object key."""

    name: str
    constraint: Constraint
    required: bool


# The Python type of each kind of value; a kind not here is refused by _constraint.
PYTHON_TYPES = {
    "str": "str",
    "bytes": "bytes",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "headers": "Iterable[tuple[bytes, bytes]]",
    "str_list": "Iterable[str]",
    "str_map": "Mapping[str, str]",
    "object": "Mapping[str, Any]",
}
# What a check of each kind returns, and what a reader of an incoming value tests with isinstance().
RETURN_TYPES = {
    "headers": "list[tuple[bytes, bytes]]",
    "str_list": "list[str]",
    "str_map": "dict[str, str]",
    "object": "dict[str, Any]",
}
READ_TYPES = {"headers": "list", "str_list": "list", "str_map": "dict", "object": "dict"}


@dataclass(frozen=True)
class Constraint:
    """The checks on one value, as the schema states them."""

    kind: str  # a key of PYTHON_TYPES
    nullable: bool = False
    # int: allowed values as half-open ranges, or None for "any int".
    ranges: tuple[tuple[int, int], ...] | None = None
    min_value: int | float | None = None
    max_value: int | float | None = None
    utf8_max_bytes: int | None = None
    max_length: int | None = None
    min_length: int | None = None
    # str and bytes: a regex the whole value must match (bytes: its Latin-1 decoding, as a bytes regex).
    pattern: str | None = None
    # str, bytes, int, float: the only values allowed.
    enum: tuple[Any, ...] | None = None
    # headers: the regex a name must match, and names that are forbidden.
    name_pattern: str | None = None
    forbidden_names: tuple[str, ...] = ()
    # object: its properties, each checked by its own function.
    fields: tuple[Field, ...] = ()

    @property
    def python_type(self) -> str:
        if self.enum is not None and self.kind == "str":
            base = "Literal[" + ", ".join(repr(v) for v in self.enum) + "]"
        else:
            base = PYTHON_TYPES[self.kind]
        return f"{base} | None" if self.nullable else base

    @property
    def return_type(self) -> str:
        return RETURN_TYPES.get(self.kind, self.kind)

    @property
    def read_type(self) -> str:
        return READ_TYPES.get(self.kind, self.kind)

    def describe(self) -> str:
        """Plain-words summary of the constraint, for the docs."""
        parts: list[str] = []
        if self.enum is not None:
            parts.append("one of " + ", ".join(repr(v) for v in self.enum))
        if self.ranges is not None:
            spans = [f"{lo}" if hi - lo == 1 else f"{lo}-{hi - 1}" for lo, hi in self.ranges]
            parts.append("one of " + ", ".join(spans))
        elif self.min_value is not None and self.max_value is not None:
            parts.append(f"{self.min_value}-{self.max_value}")
        elif self.min_value is not None:
            parts.append(f"at least {self.min_value}")
        elif self.max_value is not None:
            parts.append(f"at most {self.max_value}")
        unit = {"bytes": "bytes", "str_list": "items", "str_map": "items"}.get(self.kind, "characters")
        if self.min_length is not None:
            parts.append(f"at least {self.min_length} {unit}")
        if self.utf8_max_bytes is not None:
            parts.append(f"at most {self.utf8_max_bytes} bytes as UTF-8")
        elif self.max_length is not None:
            parts.append(f"at most {self.max_length} {unit}")
        if self.pattern is not None:
            parts.append(f"matches `{self.pattern}`")
        if self.name_pattern is not None:
            parts.append("names lowercase tokens")
        for name in self.forbidden_names:
            parts.append(f"no `{name}` header")
        for f in self.fields:
            inner = f.constraint.describe()
            parts.append(f"`{f.name}`: {f.constraint.python_type}" + (f" ({inner})" if inner else ""))
        return "; ".join(parts)

    def limits(self) -> dict[str, Any]:
        """The numbers and rules of the constraint, for metadata (test oracles read these)."""
        out: dict[str, Any] = {}
        for name in ("min_value", "max_value", "utf8_max_bytes", "max_length", "min_length", "pattern", "enum"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.ranges is not None:
            out["ranges"] = self.ranges
        return out


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
    on_older_server: str | None = None  # "warn" or "error"
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
    fixed_key: str | None = None  # receive methods: the key they read; None: they return the model
    hot: bool = False
    then: str | None = None  # a second message type this method sends after its own, as the last part
    then_keyword: tuple[str, ...] = ()  # that message's keys, keyword-only parameters


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
    on_older_server: str = "error"  # when the server's declared spec version predates the message
    transitions: tuple[tuple[str, str], ...] = ()  # (state, next state)
    answers_connect: bool = False
    idempotent_in: tuple[str, ...] = ()
    last_part: tuple[str, str] | None = None  # (boolean key, state when it is false)
    in_data_receive: str = "unexpected"  # incoming only: "data", "disconnect" or "unexpected"
    example: str = ""  # Python source of the schema's first example, "" when it gives none

    @property
    def ident(self) -> str:
        """Python identifier of the message: websocket.http.response.start -> websocket_http_response_start."""
        return self.type.replace(".", "_")

    @property
    def short_name(self) -> str:
        """The type without the 'websocket.' prefix, as an identifier: the default method names use it."""
        return self.type.removeprefix("websocket.").replace(".", "_")

    @property
    def since_tuple(self) -> tuple[int, ...]:
        return version_tuple(self.since)

    def key(self, name: str) -> Key:
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(name)


@dataclass(frozen=True)
class State:
    """One state of the connection's state machine."""

    name: str
    description: str
    hint: str
    role: str | None = None  # "initial", "open" or "final"
    receives_data: bool = False
    gone: bool = False  # the client is known gone: a send raises WebSocketDisconnect
    connection_lost: str = ""  # where a failed send leads; "" for the state itself


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
    states: list[State] = field(default_factory=list)
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

    def message(self, msg_type: str) -> Message:
        for message in self.messages:
            if message.type == msg_type:
                return message
        raise KeyError(msg_type)

    def role(self, role: str) -> State:
        return next(s for s in self.states if s.role == role)

    def sendable(self, state: str) -> list[Message]:
        """The outgoing messages allowed in a state, in schema order."""
        return [m for m in self.by_direction("send") if any(s == state for s, _ in m.transitions)]


def version_tuple(text: str) -> tuple[int, ...]:
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", text):
        raise SchemaError(f"not a spec version: {text!r}")
    return tuple(int(part) for part in text.split("."))


def load(path: Path = SCHEMA_PATH) -> Spec:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return analyse(raw)


ROLES = ("initial", "open", "final")
IN_DATA_RECEIVE = ("data", "disconnect", "unexpected")


def analyse(raw: dict[str, Any]) -> Spec:
    defs = raw.get("$defs")
    if not isinstance(defs, dict):
        raise SchemaError("the schema has no $defs")
    spec = Spec(title=raw.get("title", ""), description=raw.get("description", ""), raw=raw)
    spec.states = _states(raw.get("x-fastware-states"))
    state_names = [s.name for s in spec.states]
    for name, node in defs.items():
        props = node.get("properties", {})
        type_node = props.get("type", {})
        if isinstance(type_node.get("const"), str) and type_node["const"].startswith("websocket."):
            spec.messages.append(_message(name, node, defs, state_names))
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
    for m in spec.messages:
        if not any(m.title in members for members in spec.unions.values()):
            raise SchemaError(
                f"{m.type} ($defs/{m.title}) is in no union: add it to the oneOf of its direction's union"
            )
        if m.direction == "send" and not any(method.then is None for method in m.methods):
            raise SchemaError(f"{m.type}: an outgoing message needs a method that sends it alone (x-fastware-methods)")
        for method in m.methods:
            if method.then is not None:
                target = next((t for t in spec.messages if t.type == method.then), None)
                if target is None or target.direction != "send":
                    raise SchemaError(
                        f"{m.type}: method {method.name} `then` names no outgoing message: {method.then!r}"
                    )
    _check_machine(spec)
    return spec


def _states(raw: Any) -> list[State]:
    if not isinstance(raw, dict) or not raw:
        raise SchemaError("x-fastware-states (at the root) must map each state's name to its hint and role")
    states: list[State] = []
    for name, node in raw.items():
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise SchemaError(f"x-fastware-states: {name!r} must be an UPPER_CASE identifier")
        if not isinstance(node.get("hint"), str) or not node["hint"]:
            raise SchemaError(f"x-fastware-states/{name}: a state needs the hint a refused call gives")
        role = node.get("role")
        if role is not None and role not in ROLES:
            raise SchemaError(f"x-fastware-states/{name}: role must be one of {ROLES}, not {role!r}")
        states.append(
            State(
                name,
                node.get("description", ""),
                node["hint"],
                role,
                bool(node.get("receives-data")),
                bool(node.get("gone")),
                node.get("connection-lost", ""),
            )
        )
    names = [s.name for s in states]
    for state in states:
        if state.connection_lost and state.connection_lost not in names:
            raise SchemaError(
                f"x-fastware-states/{state.name}: connection-lost names unknown state {state.connection_lost!r}"
            )
    for role in ROLES:
        holders = [s.name for s in states if s.role == role]
        if len(holders) != 1:
            raise SchemaError(f"x-fastware-states: exactly one state must have role {role!r}, got {holders}")
    return states


def _check_machine(spec: Spec) -> None:
    """The state machine is whole: the initial state is left by a received message, and every state is reached."""
    initial = spec.role("initial").name
    edges = [(s, to) for m in spec.messages for s, to in m.transitions]
    edges += [(s, m.last_part[1]) for m in spec.messages if m.last_part is not None for s, _ in m.transitions]
    edges += [(s.name, s.connection_lost) for s in spec.states if s.connection_lost]
    reached, frontier = {initial}, [initial]
    while frontier:
        here = frontier.pop()
        for s, to in edges:
            if s == here and to not in reached:
                reached.add(to)
                frontier.append(to)
    # No state is ever entered again once left: the machine is acyclic apart from staying put.
    forward = {(a, b) for a, b in edges if a != b}
    for state in spec.states:
        seen: set[str] = set()
        todo = [b for a, b in forward if a == state.name]
        while todo:
            here = todo.pop()
            if here == state.name:
                raise SchemaError(f"x-fastware-states: {state.name} can be entered again after it is left")
            if here not in seen:
                seen.add(here)
                todo.extend(b for a, b in forward if a == here)
    unreached = [s.name for s in spec.states if s.name not in reached]
    if unreached:
        raise SchemaError(f"x-fastware-states: no message leads to {unreached}; remove them or add transitions")
    if not any(m.direction == "receive" and s == initial for m in spec.messages for s, _ in m.transitions):
        raise SchemaError(f"no incoming message leaves the initial state {initial}")
    final = spec.role("final").name
    for m in spec.messages:
        if m.in_data_receive == "disconnect" and any(to != final for _, to in m.transitions):
            raise SchemaError(f"{m.type}: x-fastware-in-data-receive 'disconnect' needs every transition to {final}")
        if m.answers_connect and not m.transitions:
            raise SchemaError(f"{m.type}: a message that answers the connect needs a transition")


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


def _types(node: dict[str, Any], where: str) -> tuple[str, bool]:
    """The JSON type of a node and whether null is allowed."""
    types = node.get("type")
    if isinstance(types, str):
        types = [types]
    if not types and "enum" in node:
        kinds = {type(v) for v in node["enum"] if v is not None}
        names = {str: "string", int: "integer", float: "number", bool: "boolean"}
        if len(kinds) != 1 or next(iter(kinds)) not in names:
            raise SchemaError(f"{where}: an enum without a type must list values of one type")
        types = [names[next(iter(kinds))]] + (["null"] if None in node["enum"] else [])
    if not types:
        raise SchemaError(f"{where}: the key has no type")
    nullable = "null" in types
    rest = [t for t in types if t != "null"]
    if len(rest) != 1:
        raise SchemaError(f"{where}: a key must have one non-null type, got {types!r}")
    return rest[0], nullable


def _int_ranges(node: dict[str, Any], where: str) -> tuple[tuple[int, int], ...] | None:
    """Allowed integers as half-open ranges, from minimum/maximum and a `not` of ranges."""
    if "not" not in node:
        return None
    lo, hi = node.get("minimum"), node.get("maximum")
    if lo is None or hi is None:
        raise SchemaError(f"{where}: an integer with `not` needs minimum and maximum")
    holes = node["not"].get("anyOf", [node["not"]])
    allowed = [(lo, hi + 1)]
    for hole in holes:
        if set(hole) - {"minimum", "maximum", "const"}:
            raise SchemaError(f"{where}: unsupported hole in an integer range: {hole!r}")
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


# Keywords the generator turns into checks, per JSON type; any other validation keyword is refused,
# so a constraint is never silently left unchecked. Annotations (description, x-..., default) are free.
_CHECKED = {
    "string": {"format", "maxLength", "minLength", "pattern", "enum", "x-utf8-max-bytes", "not", "const"},
    "integer": {"minimum", "maximum", "enum", "not"},
    "number": {"minimum", "maximum", "enum"},
    "boolean": set(),
    "array": {"items", "prefixItems", "minItems", "maxItems"},
    "object": {"properties", "required", "additionalProperties"},
}
_VALIDATION = {
    "format", "maxLength", "minLength", "pattern", "enum", "not", "const", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "items", "prefixItems", "minItems", "maxItems",
    "uniqueItems", "contains", "properties", "required", "additionalProperties", "patternProperties",
    "propertyNames", "minProperties", "maxProperties", "oneOf", "anyOf", "allOf", "if", "then", "else",
    "dependentRequired", "dependentSchemas", "x-utf8-max-bytes",
}  # fmt: skip


def _constraint(node: dict[str, Any], defs: dict[str, Any], where: str) -> Constraint:
    node = _deref(node, defs)
    json_type, nullable = _types(node, where)
    if json_type not in _CHECKED:
        raise SchemaError(f"{where}: unsupported key type {json_type!r}")
    unchecked = sorted((set(node) & _VALIDATION) - _CHECKED[json_type])
    if unchecked:
        raise SchemaError(f"{where}: the generator cannot check {unchecked} on a {json_type}")
    enum = node.get("enum")
    if enum is not None:
        enum = tuple(v for v in enum if v is not None)
    if json_type == "string":
        binary = node.get("format") == "binary"
        if node.get("format") not in (None, "binary"):
            raise SchemaError(f"{where}: string format {node['format']!r} is not checked; only 'binary' is known")
        utf8 = node.get("x-utf8-max-bytes")
        if utf8 is not None and node.get("maxLength") not in (None, utf8):
            raise SchemaError(f"{where}: maxLength and x-utf8-max-bytes must agree")
        if utf8 is not None and binary:
            raise SchemaError(f"{where}: x-utf8-max-bytes is for text; use maxLength on bytes")
        if "not" in node or "const" in node:
            raise SchemaError(f"{where}: `not` and `const` are only supported on header names")
        if enum is not None and binary:
            enum = tuple(v.encode("latin-1") for v in enum)
        return Constraint(
            kind="bytes" if binary else "str",
            nullable=nullable,
            utf8_max_bytes=utf8,
            max_length=node.get("maxLength"),
            min_length=node.get("minLength"),
            pattern=node.get("pattern"),
            enum=enum,
        )
    if json_type in ("integer", "number"):
        return Constraint(
            kind="int" if json_type == "integer" else "float",
            nullable=nullable,
            ranges=_int_ranges(node, where),
            min_value=node.get("minimum"),
            max_value=node.get("maximum"),
            enum=enum,
        )
    if json_type == "boolean":
        return Constraint(kind="bool", nullable=nullable)
    if json_type == "array":
        items = _deref(node.get("items", {}), defs) if isinstance(node.get("items"), dict) else {}
        prefix = items.get("prefixItems", [])
        if items.get("type") == "string" and not set(items) & (_VALIDATION - {"type"}):
            if "prefixItems" in node:
                raise SchemaError(f"{where}: an array of strings cannot also have prefixItems")
            return Constraint(
                kind="str_list",
                nullable=nullable,
                min_length=node.get("minItems"),
                max_length=node.get("maxItems"),
            )
        if len(prefix) == 2 and all(_deref(p, defs).get("format") == "binary" for p in prefix):
            name = _deref(prefix[0], defs)
            forbidden: tuple[str, ...] = ()
            if "not" in name:
                if set(name["not"]) != {"const"}:
                    raise SchemaError(f"{where}: a header name's `not` may only hold a const")
                forbidden = (name["not"]["const"],)
            return Constraint(
                kind="headers",
                nullable=nullable,
                name_pattern=name.get("pattern"),
                forbidden_names=forbidden,
            )
        raise SchemaError(
            f"{where}: an array must hold plain strings (items: {{type: string}}) or headers (pairs of byte strings)"
        )
    # object
    extra = node.get("additionalProperties")
    props = node.get("properties")
    if props:
        if extra not in (None, False):
            raise SchemaError(f"{where}: an object with properties may not also have additionalProperties")
        required = set(node.get("required", ()))
        unknown = required - set(props)
        if unknown:
            raise SchemaError(f"{where}: required names unknown properties {sorted(unknown)}")
        fields = tuple(
            Field(name, _constraint(sub, defs, f"{where}.{name}"), name in required) for name, sub in props.items()
        )
        for f in fields:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", f.name):
                raise SchemaError(f"{where}: property {f.name!r} must be an identifier")
        return Constraint(kind="object", nullable=nullable, fields=fields)
    if isinstance(extra, dict):
        value = _deref(extra, defs)
        if value.get("type") == "string" and not set(value) & (_VALIDATION - {"type"}):
            return Constraint(kind="str_map", nullable=nullable)
    raise SchemaError(
        f"{where}: an object must have properties, or additionalProperties {{type: string}} (an object of strings)"
    )


def _python_value(value: Any, constraint: Constraint) -> Any:
    """A JSON value of the schema (a default or an example) as the Python value it stands for."""
    if value is None:
        return None
    if constraint.kind == "bytes":
        return value.encode("latin-1")
    if constraint.kind == "headers":
        return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in value]
    return value


def _default_repr(node: dict[str, Any], constraint: Constraint) -> str:
    """A key's default as Python source; "" when it has none."""
    if "x-default-bytes" in node:
        return repr(node["x-default-bytes"].encode("latin-1"))
    if "default" in node:
        return repr(_python_value(node["default"], constraint))
    if constraint.nullable or constraint.kind in ("headers", "str_list", "str_map", "object"):
        return "None"
    return ""


def _message(name: str, node: dict[str, Any], defs: dict[str, Any], states: list[str]) -> Message:
    where = f"$defs/{name}"
    direction = node.get("x-asgi-direction")
    if direction not in DIRECTIONS:
        raise SchemaError(f"{where}: x-asgi-direction must be one of {DIRECTIONS}")
    msg_type = node["properties"]["type"]["const"]
    where = f"{msg_type} ($defs/{name})"
    required = set(node.get("required", ()))
    if "type" not in required:
        raise SchemaError(f"{where}: 'type' must be required")
    keys: list[Key] = []
    for key_name, key_node in node["properties"].items():
        if key_name == "type":
            continue
        key_where = f"{msg_type} key '{key_name}'"
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", key_name):
            raise SchemaError(f"{key_where}: a key must be a lowercase identifier")
        merged = _deref(key_node, defs)
        for annotation in ("x-asgi-since", "x-asgi-direction"):
            if annotation not in merged:
                raise SchemaError(f"{key_where}: {annotation} is missing")
        if merged["x-asgi-direction"] != direction:
            raise SchemaError(f"{key_where}: direction differs from its message's")
        constraint = _constraint(key_node, defs, key_where)
        default_repr = _default_repr(merged, constraint)
        on_older = merged.get("x-asgi-on-older-server")
        since = merged["x-asgi-since"]
        version_tuple(since)
        if on_older == "drop":
            raise SchemaError(f"{key_where}: 'drop' would lose the value without a word; use 'warn' or 'error'")
        if direction == "send" and version_tuple(since) > (2, 0) and on_older not in ("warn", "error"):
            raise SchemaError(f"{key_where}: a key newer than 2.0 needs x-asgi-on-older-server 'warn' or 'error'")
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
        if any(len(b.get("required", ())) != 1 for b in branches):
            raise SchemaError(f"{where}: an object-level oneOf must require one key per branch")
        exactly_one = tuple(b["required"][0] for b in branches)
    key_names = [k.name for k in keys]
    since = node.get("x-asgi-since", "2.0")
    version_tuple(since)
    short = msg_type.removeprefix("websocket.").replace(".", "_")
    raw_methods = node.get("x-fastware-methods")
    if raw_methods is None:
        # The documented rule: send_<short name> for an outgoing message, receive_<short name> for an incoming one.
        raw_methods = [{"name": f"{'send' if direction == 'send' else 'receive'}_{short}"}]
        if direction == "send":
            raw_methods[0]["positional"] = {k.name: k.name for k in keys if k.required}
    methods = tuple(_method(where, m, direction, keys) for m in raw_methods)
    for method in methods:
        if method.fixed_key is not None and method.fixed_key not in key_names:
            raise SchemaError(f"{where}: method {method.name} reads unknown key {method.fixed_key!r}")
        if method.hot and version_tuple(since) > (2, 0):
            raise SchemaError(f"{where}: a hot method's message must date from 2.0 (its fast path checks no version)")
    msg_older = node.get("x-asgi-on-older-server", "error")
    if msg_older not in ("warn", "error"):
        raise SchemaError(f"{where}: x-asgi-on-older-server of a message must be 'warn' or 'error'")
    transitions = node.get("x-fastware-transitions", {})
    if not isinstance(transitions, dict):
        raise SchemaError(f"{where}: x-fastware-transitions must map a state to the next state")
    for state in [*transitions, *transitions.values(), *node.get("x-fastware-idempotent-in", ())]:
        if state not in states:
            raise SchemaError(f"{where}: unknown state {state!r}; the states are {states}")
    last_part = node.get("x-fastware-last-part")
    if last_part is not None:
        if set(last_part) != {"key", "state"} or last_part["state"] not in states:
            raise SchemaError(f"{where}: x-fastware-last-part needs a key and a known state")
        if (
            last_part["key"] not in key_names
            or next(k for k in keys if k.name == last_part["key"]).constraint.kind != "bool"
        ):
            raise SchemaError(f"{where}: x-fastware-last-part's key must be a boolean key of the message")
        last_part = (last_part["key"], last_part["state"])
    in_data = node.get("x-fastware-in-data-receive", "unexpected")
    if in_data not in IN_DATA_RECEIVE or (direction == "send" and "x-fastware-in-data-receive" in node):
        raise SchemaError(f"{where}: x-fastware-in-data-receive is for incoming messages, one of {IN_DATA_RECEIVE}")
    if direction == "receive" and (node.get("x-fastware-answers-connect") or "x-fastware-idempotent-in" in node):
        raise SchemaError(f"{where}: x-fastware-answers-connect and -idempotent-in are for outgoing messages")
    example = ""
    if node.get("examples"):
        first = dict(node["examples"][0])
        if first.get("type") != msg_type:
            raise SchemaError(f"{where}: an example must have type {msg_type!r}")
        for key in keys:
            if key.name in first:
                first[key.name] = _python_value(first[key.name], key.constraint)
        example = repr(first)
    return Message(
        type=msg_type,
        title=node.get("title", name),
        description=node.get("description", ""),
        direction=direction,
        since=since,
        keys=tuple(keys),
        methods=methods,
        extension=node.get("x-asgi-extension"),
        exactly_one_of=exactly_one,
        on_older_server=msg_older,
        transitions=tuple(transitions.items()),
        answers_connect=bool(node.get("x-fastware-answers-connect")),
        idempotent_in=tuple(node.get("x-fastware-idempotent-in", ())),
        last_part=last_part,
        in_data_receive=in_data,
        example=example,
    )


def _method(where: str, raw: dict[str, Any], direction: str, keys: list[Key]) -> Method:
    names = {k.name for k in keys}
    if not isinstance(raw.get("name"), str) or not re.fullmatch(r"_?[a-z][a-z0-9_]*", raw["name"]):
        raise SchemaError(f"{where}: every x-fastware-methods entry needs a lowercase identifier as its name")
    if direction == "receive":
        return Method(
            name=raw["name"], positional=(), keyword=(), summary=raw.get("summary", ""), fixed_key=raw.get("key")
        )
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
        then=raw.get("then"),
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
