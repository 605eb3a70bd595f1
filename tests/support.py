"""Shared test helpers: a schema validator for live Python messages, an
in-memory ASGI peer that checks every message the library sends, and a real
server started as a subprocess on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonschema import validators

from fastware._generated import metadata
from fastware._state import CONNECTION_LOST, LAST_PARTS, TRANSITIONS, State

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schema" / "asgi-websocket.schema.json").read_text())

# One unit for every wait in the tests; raise it on a slow machine.
TIMEOUT = float(os.environ.get("FASTWARE_TEST_TIMEOUT", "10"))
# The spec-change drill runs the server-free suite six times, so it scales hypothesis's examples down.
EXAMPLES_SCALE = float(os.environ.get("FASTWARE_TEST_EXAMPLES_SCALE", "1"))


def examples(count: int) -> int:
    """Hypothesis's max_examples for a property test: ``count``, scaled by FASTWARE_TEST_EXAMPLES_SCALE."""
    return max(10, round(count * EXAMPLES_SCALE))


class _Bytes(str):
    """A bytes value seen by the validator: its Latin-1 text, marked as binary."""


def _to_json_like(value: Any) -> Any:
    """Python ASGI value -> what JSON Schema validates: bytes as marked text, tuples as lists."""
    if isinstance(value, bytes):
        return _Bytes(value.decode("latin-1"))
    if isinstance(value, Mapping):
        return {k: _to_json_like(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json_like(v) for v in value]
    return value


def _type_keyword(validator: Any, types: Any, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    # The schema's convention: `format: binary` strings are bytes, all others str.
    yield from validators.Draft202012Validator.VALIDATORS["type"](validator, types, instance, schema)
    is_str_type = "string" in ([types] if isinstance(types, str) else types)
    if not is_str_type or not isinstance(instance, str):
        return
    binary = schema.get("format") == "binary"
    if binary and not isinstance(instance, _Bytes):
        yield jsonschema.ValidationError(f"{instance!r} is str, but this key holds bytes")
    elif not binary and isinstance(instance, _Bytes):
        yield jsonschema.ValidationError(f"{instance!r} is bytes, but this key holds str")


def _utf8_max_bytes(validator: Any, limit: int, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    # The byte limit JSON Schema's maxLength (characters) cannot state.
    if isinstance(instance, str) and not isinstance(instance, _Bytes) and len(instance.encode("utf-8")) > limit:
        yield jsonschema.ValidationError(f"{instance!r} is more than {limit} bytes as UTF-8")


_Validator = validators.extend(
    validators.Draft202012Validator, {"type": _type_keyword, "x-utf8-max-bytes": _utf8_max_bytes}
)


def schema_errors(instance: Mapping[str, Any], definition: str) -> list[str]:
    """Every way `instance` breaks `$defs/<definition>`, as messages (empty when valid)."""
    schema = {"$ref": f"#/$defs/{definition}", "$defs": SCHEMA["$defs"]}
    validator = _Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_to_json_like(instance))
    ]


def assert_valid(instance: Mapping[str, Any], definition: str) -> None:
    errors = schema_errors(instance, definition)
    assert not errors, f"{instance!r} is not a valid {definition}: {errors}"


class FakeServer:
    """An in-memory ASGI server side: queue what the app will receive, record
    what it sends, and validate every sent message against the schema."""

    def __init__(self, *incoming: Mapping[str, Any], send_error: BaseException | None = None) -> None:
        self.incoming: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
        for message in incoming:
            self.incoming.put_nowait(message)
        self.sent: list[Mapping[str, Any]] = []
        self.send_error = send_error

    def push(self, message: Mapping[str, Any]) -> None:
        self.incoming.put_nowait(message)

    async def receive(self) -> Mapping[str, Any]:
        return await asyncio.wait_for(self.incoming.get(), TIMEOUT)

    async def send(self, message: Mapping[str, Any]) -> None:
        assert_valid(message, "SendMessage")
        if self.send_error is not None:
            raise self.send_error
        self.sent.append(message)

    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]


# Test oracles from the generated metadata, never copied from the schema: a constraint change needs no test edit.
SPEC_VERSION: str = metadata.SPEC_VERSION
#: Message type -> the schema's example of it (an ASGI dict), for the types that give one.
EXAMPLES: dict[str, dict[str, Any]] = {t: m["example"] for t, m in metadata.MESSAGES.items() if m["example"]}


def _later_states() -> dict[State, frozenset[State]]:
    """Each state -> the states that may follow it, by messages, a lost connection or a last part."""
    edges = {(a, b) for (a, _), b in TRANSITIONS.items()} | set(CONNECTION_LOST.items())
    edges |= {(a, part[1]) for (a, msg_type) in TRANSITIONS for m, part in LAST_PARTS.items() if m == msg_type}
    later: dict[State, set[State]] = {s: {b for a, b in edges if a is s and b is not s} for s in State}
    changed = True
    while changed:  # to a fixed point: what follows a follower follows too
        changed = False
        for s in State:
            more = set().union(*(later[n] for n in later[s])) - later[s]
            if more:
                later[s] |= more
                changed = True
    return {s: frozenset(after) for s, after in later.items()}


#: The order of a connection's life, from the generated state machine: LATER_STATES[s] may follow s.
LATER_STATES = _later_states()


def needs(*msg_types: str) -> pytest.MarkDecorator:
    """Skip a test of messages the schema no longer defines (a spec change removed them), naming them."""
    missing = [t for t in msg_types if t not in metadata.MESSAGES]
    return pytest.mark.skipif(bool(missing), reason=f"the schema has no {', '.join(missing)}")


#: The tests of the Websocket Denial Response extension, which a spec change may remove.
DENIAL = needs("websocket.http.response.start", "websocket.http.response.body")


def limits(msg_type: str, key: str) -> dict[str, Any]:
    """The schema's limits on a key: max_length, utf8_max_bytes, min_value, ranges..."""
    return dict(metadata.MESSAGES[msg_type]["keys"][key]["limits"])


def since(msg_type: str, key: str) -> str:
    """The spec version that added a key."""
    return str(metadata.MESSAGES[msg_type]["keys"][key]["since"])


def version_before(version: str) -> str:
    """The spec version just before ``version`` ("2.3" -> "2.2")."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return f"{major}.{minor - 1}"


REASON_SINCE = since("websocket.close", "reason")
ACCEPT_HEADERS_SINCE = since("websocket.accept", "headers")

#: The close codes an app may send, as half-open ranges, and the reason's UTF-8 byte limit.
CLOSE_CODE_RANGES: tuple[tuple[int, int], ...] = tuple(limits("websocket.close", "code")["ranges"])
CLOSE_REASON_MAX: int = limits("websocket.close", "reason")["utf8_max_bytes"]


def close_code_allowed(code: int) -> bool:
    return any(lo <= code < hi for lo, hi in CLOSE_CODE_RANGES)


#: Every edge of the allowed close codes and its neighbours: where a changed range shows first.
CLOSE_CODE_EDGES: tuple[int, ...] = tuple(
    sorted({edge + d for lo, hi in CLOSE_CODE_RANGES for edge in (lo, hi - 1) for d in (-1, 0, 1)} | {-1, 0})
)
#: Codes at the edges that an endpoint may not send.
REFUSED_CLOSE_CODES: tuple[int, ...] = tuple(code for code in CLOSE_CODE_EDGES if not close_code_allowed(code))
#: A refused code between the least and the most allowed: only the generated check (not minimum/maximum) refuses it.
CLOSE_CODE_HOLE: int = next(c for c in REFUSED_CLOSE_CODES if CLOSE_CODE_RANGES[0][0] < c < CLOSE_CODE_RANGES[-1][1])


def utf8_text(size: int) -> str:
    """A string of exactly ``size`` UTF-8 bytes, mostly two-byte characters (so characters != bytes)."""
    return "\u00e9" * (size // 2) + "x" * (size % 2)


def make_scope(**overrides: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": SPEC_VERSION},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    scope.update(overrides)
    return scope


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"server did not listen on 127.0.0.1:{port} within {TIMEOUT}s")


def uvicorn_argv(app: str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra,
    ]


@contextlib.contextmanager
def run_server(
    argv: list[str], port: int, *, env: Mapping[str, str] | None = None, log: Path | None = None
) -> Iterator[str]:
    """Run a server command (argv, already bound to `port`) from the repo root; yield ws://127.0.0.1:port.

    The start-up wait is bounded; the process is always stopped (terminate, then
    kill). Its output goes to `log` (or nowhere), never to a pipe nobody reads: a
    chatty server (daphne logs every connection) would block once the pipe is full.
    """
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    with open(log or os.devnull, "wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_for_port(port, proc, time.monotonic() + TIMEOUT)
            yield f"ws://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=TIMEOUT)


def hypercorn_argv(app: str, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "hypercorn", app, "--bind", f"127.0.0.1:{port}", *extra]


def daphne_argv(app: str, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), *extra, app]


def granian_argv(app: str, port: int, *extra: str) -> list[str]:
    # One worker on asyncio: the app's module-level records must live in the one process the tests read.
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        "asyncio",
        "--log-level",
        "warning",
        *extra,
        app,
    ]
