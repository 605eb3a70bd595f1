"""The spec-change drill: one schema edit plus `python -m codegen`, on a temporary copy of the repository.

Each test copies what the generator and the runtime need, edits only the
copy's schema, regenerates, and then checks the result from a subprocess that
imports the copy's code (PYTHONPATH points at the copy; its generated/ is
linked in as fastware/_generated, as the installed package has it), so the
editable install of this checkout is never what runs. Nothing outside
schema/ may differ from the original afterwards, apart from generated/.
"""

from __future__ import annotations

import difflib
import filecmp
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import ROOT, TIMEOUT

# Codegen runs datamodel-code-generator and ruff: slower than the usual unit of waiting.
CODEGEN_TIMEOUT = TIMEOUT * 12
COPIED = ("schema", "codegen", "generated", "fastware", "docs", "tests", "examples", "pyproject.toml", "mkdocs.yml")
SCHEMA_REL = "schema/asgi-websocket.schema.json"
IGNORED = ("__pycache__", "_generated", ".hypothesis", ".ruff_cache", ".mypy_cache")

pytestmark = pytest.mark.timeout(CODEGEN_TIMEOUT * 4)


def copy_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns(*IGNORED))
        elif source.exists():
            shutil.copy2(source, repo / name)
    # The installed package maps generated/ to fastware._generated; the copy gets the same by a link.
    (repo / "fastware" / "_generated").symlink_to(repo / "generated", target_is_directory=True)
    return repo


def edit_schema(repo: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = repo / SCHEMA_REL
    schema = json.loads(path.read_text(encoding="utf-8"))
    change(schema)
    path.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")


def codegen(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codegen", *args],
        cwd=repo,
        env=_env(repo),
        capture_output=True,
        text=True,
        timeout=CODEGEN_TIMEOUT,
        check=False,
    )


def _env(repo: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(repo), PYTHONDONTWRITEBYTECODE="1")


def probe(repo: Path, tmp_path: Path, body: str, env: dict[str, str] | None = None) -> Any:
    """Run `body` (async code that sets `result`) against the copy's code; return `result`."""
    script = tmp_path / "probe.py"  # outside the copy, so the tree comparison stays clean
    script.write_text(PROBE_HEAD + textwrap.indent(textwrap.dedent(body), "    ") + PROBE_TAIL, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=repo,
        env=dict(_env(repo), **(env or {})),
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


PROBE_HEAD = '''
import asyncio, inspect, json, os, warnings
from pathlib import Path

import fastware
from fastware import WebSocket, WebSocketValueError, messages
from fastware._generated import metadata

assert Path(fastware.__file__).resolve().is_relative_to(Path.cwd().resolve()), fastware.__file__


async def conversation(spec_version, act):
    """Accept, then act(ws); return what the app sent after the accept."""
    sent = []
    incoming = [{"type": "websocket.connect"}]

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(dict(message))

    scope = {"type": "websocket", "asgi": {"version": "3.0", "spec_version": spec_version}, "path": "/", "headers": []}
    for validate in (False, True):
        sent.clear()
        incoming[:] = [{"type": "websocket.connect"}]
        ws = WebSocket(scope, receive, send, validate=validate)
        await ws.accept()
        await act(ws)
    return sent[1:]


async def session(spec_version, act, *, accept=True, incoming=(), validate=False):
    """Run act(ws) (accepted first unless accept=False); what it sent after the accept, returned, raised and warned."""
    sent = []
    queue = [{"type": "websocket.connect"}, *incoming]

    async def receive():
        return queue.pop(0)

    async def send(message):
        sent.append(dict(message))

    asgi = {"version": "3.0"} if spec_version is None else {"version": "3.0", "spec_version": spec_version}
    scope = {"type": "websocket", "asgi": asgi, "path": "/", "headers": [], "extensions": {"websocket.http.response": {}}}
    ws = WebSocket(scope, receive, send, validate=validate)
    if accept:
        await ws.accept()
    value = error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = await act(ws)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
    return {"sent": sent[1 if accept else 0 :], "value": value, "error": error,
            "warnings": [str(w.message) for w in caught], "state": ws.connection_state.name}


def close_params():
    return {name: [p.kind.name, p.default] for name, p in inspect.signature(WebSocket.close).parameters.items()}


async def main():
    result = {}
'''

PROBE_TAIL = """
    return result


print(json.dumps(asyncio.run(main()), default=repr))
"""


def section(markdown: str, heading: str) -> str:
    """The text under a heading of a generated page, up to the next heading of its level."""
    start = markdown.index(heading)
    end = markdown.find("\n## ", start + len(heading))
    return markdown[start : end if end != -1 else len(markdown)]


def close_docs(repo: Path) -> tuple[str, str]:
    messages_md = (repo / "generated/docs/messages.md").read_text(encoding="utf-8")
    api_md = (repo / "generated/docs/api.md").read_text(encoding="utf-8")
    return section(messages_md, "## `websocket.close`"), section(api_md, "## `close()`")


def changed_outside_generated(repo: Path) -> list[str]:
    """Files of the copy that differ from this checkout, generated/ left out."""
    changed: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        changed.extend(prefix + name for name in cmp.diff_files + cmp.left_only + cmp.right_only)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    for name in COPIED:
        if name == "generated" or not (ROOT / name).exists():
            continue
        if (ROOT / name).is_dir():
            walk(filecmp.dircmp(ROOT / name, repo / name, ignore=list(IGNORED)), f"{name}/")
        elif not filecmp.cmp(ROOT / name, repo / name, shallow=False):
            changed.append(name)
    return sorted(changed)


def regenerate(repo: Path) -> tuple[int, int, int]:
    """Regenerate the copy; check that only its schema changed outside generated/; return the generated diff size."""
    done = codegen(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    check = codegen(repo, "--check")
    assert check.returncode == 0, check.stdout
    assert changed_outside_generated(repo) == [SCHEMA_REL]
    return generated_diff(repo)


def generated_diff(repo: Path) -> tuple[int, int, int]:
    """(files, lines added, lines removed) of the copy's generated/ against this checkout's."""
    files = added = removed = 0
    names = {p.relative_to(repo).as_posix() for p in (repo / "generated").rglob("*") if p.is_file()}
    names |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "generated").rglob("*") if p.is_file()}
    for rel in sorted(n for n in names if "__pycache__" not in n):
        old = (ROOT / rel).read_text(encoding="utf-8").splitlines() if (ROOT / rel).exists() else []
        new = (repo / rel).read_text(encoding="utf-8").splitlines() if (repo / rel).exists() else []
        if old == new:
            continue
        files += 1
        for line in difflib.unified_diff(old, new, lineterm="", n=0):
            if line.startswith("+") and not line.startswith("+++"):
                added += 1
            elif line.startswith("-") and not line.startswith("---"):
                removed += 1
    return files, added, removed


def add_drill_key(schema: dict[str, Any]) -> None:
    schema["$defs"]["WebSocketClose"]["properties"]["drill_note"] = {
        "type": ["string", "null"],
        "description": "A note for the drill, sent with the close.",
        "x-asgi-direction": "send",
        "x-asgi-since": "2.6",
        "x-asgi-on-older-server": "warn",
    }


def test_adding_an_optional_key_reaches_model_method_checks_and_docs(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    before = probe(repo, tmp_path, "result['params'] = close_params()")
    assert "drill_note" not in before["params"]

    edit_schema(repo, add_drill_key)
    stale = codegen(repo, "--check")
    assert stale.returncode == 1
    assert "generated/models.py (generated from the schema)" in stale.stdout
    regenerate(repo)

    result = probe(
        repo,
        tmp_path,
        """
        result["field"] = "drill_note" in messages.WebSocketClose.model_fields
        result["params"] = close_params()
        result["new"] = await conversation("2.6", lambda ws: ws.close(4000, drill_note="hi"))
        result["old"] = await conversation("2.5", lambda ws: ws.close(4000, drill_note="hi"))
        result["unset"] = await conversation("2.6", lambda ws: ws.close(4000))
        model = messages.WebSocketClose(code=4000, drill_note="typed")
        result["typed"] = await conversation("2.6", lambda ws: ws.send_message(model))
        result["since"] = metadata.MESSAGES["websocket.close"]["keys"]["drill_note"]["since"]
        """,
    )
    assert result["field"] is True
    assert result["params"]["drill_note"] == ["KEYWORD_ONLY", None]
    assert result["new"] == [{"type": "websocket.close", "code": 4000, "drill_note": "hi"}]
    # The server's declared spec version predates the key, and the schema says warn: sent anyway, with a warning.
    assert result["old"] == [{"type": "websocket.close", "code": 4000, "drill_note": "hi"}]
    assert result["unset"] == [{"type": "websocket.close", "code": 4000}]
    assert result["typed"] == [{"type": "websocket.close", "code": 4000, "drill_note": "typed"}]
    assert result["since"] == "2.6"
    message_doc, api_doc = close_docs(repo)
    entry = message_doc[message_doc.index("`drill_note:") :]
    assert entry.startswith("`drill_note: str | None = None`\n:   A note for the drill, sent with the close.\n")
    assert (
        "Since 2.6. On a server that declares an older version: sent, `UnsupportedByServerWarning`."
        in (entry.split("\n\n`")[0])
    )
    assert "    reason: str | None = None,\n    *,\n    drill_note: str | None = None,\n) -> None" in api_doc
    assert "`drill_note: str | None = None`, keyword-only\n" in api_doc


def test_removing_a_key_removes_parameter_field_and_doc_entry(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    message_doc, api_doc = close_docs(repo)
    assert "`reason:" in message_doc and "reason:" in api_doc

    def remove_reason(schema: dict[str, Any]) -> None:
        close = schema["$defs"]["WebSocketClose"]
        close["properties"].pop("reason")
        close["x-fastware-methods"][0]["positional"].pop("reason")  # close(code, reason) takes it positionally

    edit_schema(repo, remove_reason)
    regenerate(repo)

    result = probe(
        repo,
        tmp_path,
        """
        result["fields"] = sorted(messages.WebSocketClose.model_fields)
        result["params"] = close_params()
        result["sent"] = await conversation("2.5", lambda ws: ws.close(4000))
        try:
            await conversation("2.5", lambda ws: ws.close(4000, reason="gone"))
        except TypeError as exc:
            result["error"] = str(exc)
        """,
    )
    assert result["fields"] == ["code", "type"]
    assert list(result["params"]) == ["self", "code"]
    assert result["sent"] == [{"type": "websocket.close", "code": 4000}]
    assert "unexpected keyword argument 'reason'" in result["error"]
    message_doc, api_doc = close_docs(repo)
    assert "`reason:" not in message_doc
    assert "reason" not in api_doc


def test_tightening_the_reason_limit_is_enforced_by_the_generated_check(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)

    def shorten(schema: dict[str, Any]) -> None:
        reason = schema["$defs"]["WebSocketClose"]["properties"]["reason"]
        reason["maxLength"] = reason["x-utf8-max-bytes"] = 20

    edit_schema(repo, shorten)
    regenerate(repo)

    result = probe(
        repo,
        tmp_path,
        """
        result["fits"] = await conversation("2.5", lambda ws: ws.close(4000, reason="x" * 20))
        for name, reason in (("chars", "x" * 21), ("bytes", "\\u00e9" * 11)):
            try:
                await conversation("2.5", lambda ws: ws.close(4000, reason=reason))
            except WebSocketValueError as exc:
                result[name] = str(exc)
        try:
            messages.WebSocketClose(reason="\\u00e9" * 11)
        except ValueError as exc:
            result["model"] = str(exc)
        """,
    )
    assert result["fits"] == [{"type": "websocket.close", "code": 4000, "reason": "x" * 20}]
    assert "is 21 bytes as UTF-8; at most 20 are allowed" in result["chars"]
    assert "is 22 bytes as UTF-8; at most 20 are allowed" in result["bytes"]
    assert "at most 20 are allowed" in result["model"]
    message_doc, api_doc = close_docs(repo)
    assert "at most 20 bytes as UTF-8" in message_doc
    assert "at most 20 bytes as UTF-8" in api_doc


# The six spec changes of issue 15, each a schema edit only ------------------------------------------------
#
# Each copies the repository, edits its schema, regenerates, runs the server-free suite of the copy
# (the tests read limits, codes, examples and the state machine from the generated metadata, so they
# follow the change), and probes the new behaviour on the C and the Python paths.

SUITE = ("tests/unit", "tests/features", "tests/messages", "tests/property", "tests/test_hot_path.py")
# Affordable six times over: the tests that start real servers say nothing about a schema edit the
# others do not, and hypothesis draws a tenth of its usual examples (the edges of every limit are
# drawn explicitly, whatever the count).
SUITE_FOCUS = ("--ignore=tests/messages/test_real_servers.py", "-k", "not real_server")
SUITE_TIMEOUT = TIMEOUT * 30


def run_suite(repo: Path) -> None:
    """The copy's server-free tests, against the copy's code: they must pass after the schema edit alone."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *SUITE, *SUITE_FOCUS],
        cwd=repo,
        env=dict(_env(repo), FASTWARE_TEST_EXAMPLES_SCALE="0.1"),
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def probe_both(repo: Path, tmp_path: Path, body: str) -> Any:
    """The probe on the C fast path (when built) and on the generated Python methods: the same result."""
    fast = probe(repo, tmp_path, body)
    slow = probe(repo, tmp_path, body, env={"FASTWARE_NO_SPEEDUPS": "1"})
    assert fast == slow
    return fast


def drill(tmp_path: Path, change: Callable[[dict[str, Any]], None], name: str) -> Path:
    repo = copy_repo(tmp_path)
    edit_schema(repo, change)
    files, added, removed = regenerate(repo)
    # The report's "generated diff size" of this spec change.
    print(f"\ndrill {name}: generated/ diff {files} files, +{added} -{removed} lines")
    run_suite(repo)
    return repo


def _message_def(title: str, msg_type: str, direction: str, keys: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "description": f"Drill: a {direction} message added by spec 2.6.",
        "type": "object",
        "x-asgi-direction": direction,
        "x-asgi-since": "2.6",
        **extra,
        "properties": {
            "type": {
                "const": msg_type,
                "description": "Message type.",
                "x-asgi-direction": direction,
                "x-asgi-since": "2.6",
            },
            **{name: {**node, "x-asgi-direction": direction, "x-asgi-since": "2.6"} for name, node in keys.items()},
        },
        "required": ["type", *[name for name, node in keys.items() if node.pop("_required", False)]],
    }


def accept_extensions(schema: dict[str, Any]) -> None:
    schema["$defs"]["WebSocketAccept"]["properties"]["extensions"] = {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "WebSocket extensions the server should agree to, each name with its parameters.",
        "x-asgi-direction": "send",
        "x-asgi-since": "2.6",
        "x-asgi-on-older-server": "warn",
    }


def test_spec_change_accept_gains_an_object_of_strings(tmp_path: Path) -> None:
    repo = drill(tmp_path, accept_extensions, "accept gains extensions (object of str), since 2.6")
    result = probe_both(
        repo,
        tmp_path,
        """
        offer = {"permessage-deflate": "client_max_window_bits=10"}
        result["new"] = await session("2.6", lambda ws: ws.accept(extensions=offer), accept=False)
        result["old"] = await session("2.5", lambda ws: ws.accept(extensions=offer), accept=False)
        result["unknown"] = await session(None, lambda ws: ws.accept(extensions=offer), accept=False)
        result["bad"] = await session("2.6", lambda ws: ws.accept(extensions={"x": 1}), accept=False)
        model = messages.WebSocketAccept(extensions=offer)
        result["typed"] = await session("2.6", lambda ws: ws.send_message(model), accept=False, validate=True)
        from fastware.testing import connect

        async def app(scope, receive, send):
            ws = WebSocket(scope, receive, send)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                await ws.accept(extensions=offer)
            await ws.close()

        async with connect(app) as client:
            result["client_version"] = client.scope["asgi"]["spec_version"]
        """,
    )
    accept = {"type": "websocket.accept", "extensions": {"permessage-deflate": "client_max_window_bits=10"}}
    assert result["new"]["sent"] == [accept] and result["new"]["warnings"] == []
    assert result["old"]["sent"] == [accept]
    assert result["old"]["warnings"] == [
        "websocket.accept 'extensions' needs ASGI spec 2.6; this server declares 2.5. Sent anyway: "
        "a server that does not know it ignores it"
    ]
    assert result["unknown"]["sent"] == [accept] and result["unknown"]["warnings"] == []
    assert result["bad"]["error"] == "WebSocketTypeError: websocket.accept 'extensions' must map str to str, got 'x': 1"
    assert result["bad"]["sent"] == []
    assert result["typed"]["sent"] == [accept]
    assert result["client_version"] == "2.6"  # the test client declares the schema's newest version


def ping(schema: dict[str, Any]) -> None:
    keys = {
        "data": {
            "type": "string",
            "format": "binary",
            "maxLength": 125,
            "description": "Ping payload, at most 125 bytes.",
            "x-asgi-on-older-server": "warn",
        }
    }
    schema["$defs"]["WebSocketPing"] = _message_def(
        "WebSocketPing",
        "websocket.ping",
        "send",
        keys,
        **{
            "x-fastware-transitions": {"CONNECTED": "CONNECTED"},
            "examples": [{"type": "websocket.ping", "data": "hi"}],
        },
    )
    schema["$defs"]["SendMessage"]["oneOf"].append({"$ref": "#/$defs/WebSocketPing"})


def test_spec_change_a_new_outgoing_message(tmp_path: Path) -> None:
    repo = drill(tmp_path, ping, "new outgoing websocket.ping, since 2.6")
    result = probe_both(
        repo,
        tmp_path,
        """
        result["sent"] = await session("2.6", lambda ws: ws.send_ping(data=b"x"))
        result["empty"] = await session("2.6", lambda ws: ws.send_ping())
        result["before_accept"] = await session("2.6", lambda ws: ws.send_ping(data=b"x"), accept=False)
        result["too_long"] = await session("2.6", lambda ws: ws.send_ping(data=b"x" * 126))
        result["old_server"] = await session("2.5", lambda ws: ws.send_ping(data=b"x"))
        result["unknown"] = await session(None, lambda ws: ws.send_ping(data=b"x"))
        result["typed"] = await session("2.6", lambda ws: ws.send_message(messages.WebSocketPing(data=b"y")), validate=True)
        result["params"] = {n: [p.kind.name, p.default] for n, p in inspect.signature(WebSocket.send_ping).parameters.items()}
        from fastware.testing import connect

        async def app(scope, receive, send):
            ws = WebSocket(scope, receive, send)
            await ws.accept()
            await ws.send_ping(data=b"z")
            await ws.receive_text()

        async with connect(app) as client:
            result["client_got"] = await client.receive_raw()
        """,
    )
    assert result["sent"]["sent"] == [{"type": "websocket.ping", "data": repr(b"x")}] or result["sent"]["sent"] == [
        {"type": "websocket.ping", "data": "b'x'"}
    ]
    assert result["empty"]["sent"] == [{"type": "websocket.ping"}]
    assert result["before_accept"]["error"] == (
        "WebSocketStateError: Cannot send 'websocket.ping' in state CONNECTING: call accept() first"
    )
    assert (
        result["too_long"]["error"]
        == "WebSocketValueError: websocket.ping 'data' is 126 bytes; at most 125 are allowed"
    )
    assert result["old_server"]["error"] == (
        "UnsupportedByServerError: websocket.ping needs ASGI spec 2.6; this server declares 2.5"
    )
    for case in ("before_accept", "too_long", "old_server"):
        assert result[case]["sent"] == []
    assert result["unknown"]["sent"] == result["sent"]["sent"] and result["unknown"]["warnings"] == []
    assert result["typed"]["sent"] == [{"type": "websocket.ping", "data": "b'y'"}]
    assert result["params"] == {
        "self": ["POSITIONAL_OR_KEYWORD", "<class 'inspect._empty'>"],
        "data": ["KEYWORD_ONLY", None],
    }
    assert result["client_got"] == {"type": "websocket.ping", "data": "b'z'"}


def pong(schema: dict[str, Any]) -> None:
    keys = {"data": {"type": "string", "format": "binary", "description": "The pong's payload.", "_required": True}}
    schema["$defs"]["WebSocketPong"] = _message_def(
        "WebSocketPong",
        "websocket.pong",
        "receive",
        keys,
        **{
            "x-fastware-transitions": {"CONNECTED": "CONNECTED", "CLOSED": "CLOSED"},
            "examples": [{"type": "websocket.pong", "data": "hi"}],
        },
    )
    schema["$defs"]["ReceiveMessage"]["oneOf"].append({"$ref": "#/$defs/WebSocketPong"})


def test_spec_change_a_new_incoming_message(tmp_path: Path) -> None:
    repo = drill(tmp_path, pong, "new incoming websocket.pong, since 2.6")
    result = probe_both(
        repo,
        tmp_path,
        """
        pong = {"type": "websocket.pong", "data": b"hi"}
        text = {"type": "websocket.receive", "text": "hello"}
        result["raw"] = await session("2.6", lambda ws: ws.receive_raw(), incoming=[pong], validate=True)
        result["text"] = await session("2.6", lambda ws: ws.receive_text(), incoming=[pong])
        result["bytes"] = await session("2.6", lambda ws: ws.receive_bytes(timeout=5), incoming=[pong])
        result["json"] = await session("2.6", lambda ws: ws.receive_json(), incoming=[pong])
        result["pong"] = await session("2.6", lambda ws: ws.receive_pong(), incoming=[pong])
        result["not_pong"] = await session("2.6", lambda ws: ws.receive_pong(), incoming=[text])

        async def then_text(ws):
            try:
                await ws.receive_text()
            except fastware.UnexpectedMessageError:
                pass
            return await ws.receive_text()  # the connection goes on

        result["after"] = await session("2.6", then_text, incoming=[pong, text])
        from fastware.testing import connect

        async def app(scope, receive, send):
            ws = WebSocket(scope, receive, send)
            await ws.accept()
            got = await ws.receive_pong()
            await ws.send_bytes(got.data)

        async with connect(app) as client:
            await client.send_raw(pong)
            result["client_echo"] = await client.receive_bytes()
        """,
    )
    assert result["raw"]["value"] == {"type": "websocket.pong", "data": "b'hi'"}
    assert result["raw"]["state"] == "CONNECTED"
    expected = "UnexpectedMessageError: Received websocket.pong while waiting for a {} message"
    assert result["text"]["error"] == expected.format("text")
    assert result["bytes"]["error"] == expected.format("binary")
    assert result["json"]["error"] == expected.format("text")
    assert "data=b'hi'" in result["pong"]["value"]
    assert (
        result["not_pong"]["error"]
        == "UnexpectedMessageError: Received websocket.receive while waiting for websocket.pong"
    )
    assert result["after"]["value"] == "hello"
    assert result["client_echo"] == "b'hi'"


def shorter_reason_and_1015(schema: dict[str, Any]) -> None:
    reason = schema["$defs"]["WebSocketClose"]["properties"]["reason"]
    reason["maxLength"] = reason["x-utf8-max-bytes"] = 100
    holes = schema["$defs"]["CloseCode"]["not"]["anyOf"]
    assert holes[1] == {"minimum": 1015, "maximum": 2999}
    holes[1]["minimum"] = 1016


def test_spec_change_a_tighter_limit_and_a_new_close_code(tmp_path: Path) -> None:
    # The suite's oracles (close-code edges, the reason's byte limit) come from the metadata: no test edit.
    repo = drill(tmp_path, shorter_reason_and_1015, "close reason 123 -> 100 bytes, close code 1015 allowed")
    result = probe_both(
        repo,
        tmp_path,
        """
        result["1015"] = await session("2.5", lambda ws: ws.close(1015))
        result["1016"] = await session("2.5", lambda ws: ws.close(1016))
        result["101"] = await session("2.5", lambda ws: ws.close(4000, reason="x" * 101))
        from fastware import testing
        result["client_limit"] = testing.CLOSE_REASON_MAX_BYTES
        """,
    )
    assert result["1015"]["sent"] == [{"type": "websocket.close", "code": 1015}]
    assert "'code' may not be 1016" in result["1016"]["error"]
    assert result["101"]["error"].endswith("is 101 bytes as UTF-8; at most 100 are allowed")
    assert result["client_limit"] == 100
    assert "at most 100 bytes as UTF-8" in (repo / "generated/docs/messages.md").read_text(encoding="utf-8")


def reason_since_2_4(schema: dict[str, Any]) -> None:
    schema["$defs"]["WebSocketClose"]["properties"]["reason"]["x-asgi-since"] = "2.4"


def test_spec_change_a_key_moves_to_a_later_version(tmp_path: Path) -> None:
    repo = drill(tmp_path, reason_since_2_4, "close reason since 2.4 instead of 2.3")
    result = probe_both(
        repo,
        tmp_path,
        """
        for version in ("2.3", "2.4"):
            result[version] = await session(version, lambda ws: ws.close(4000, reason="bye"))
        """,
    )
    for version in ("2.3", "2.4"):
        assert result[version]["sent"] == [{"type": "websocket.close", "code": 4000, "reason": "bye"}]
    assert result["2.3"]["warnings"] == [
        "websocket.close 'reason' needs ASGI spec 2.4; this server declares 2.3. Sent anyway: "
        "a server that does not know it ignores it"
    ]
    assert result["2.4"]["warnings"] == []
    message_doc, _ = close_docs(repo)
    assert (
        "Since 2.4. Constraints: at most 123 bytes as UTF-8. On a server that declares an older version" in message_doc
    )


def without_denial_response(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    for name in ("WebSocketHttpResponseStart", "WebSocketHttpResponseBody"):
        del defs[name]
        defs["SendMessage"]["oneOf"].remove({"$ref": f"#/$defs/{name}"})
    del schema["x-fastware-states"]["RESPONSE"]
    del defs["WebSocketDisconnect"]["x-fastware-transitions"]["RESPONSE"]


def test_spec_change_an_extension_is_removed(tmp_path: Path) -> None:
    repo = drill(tmp_path, without_denial_response, "the denial-response extension removed")
    result = probe_both(
        repo,
        tmp_path,
        """
        result["api"] = sorted(n for n in dir(WebSocket) if "denial" in n or "http_response" in n)
        result["models"] = sorted(n for n in dir(messages) if "HttpResponse" in n)
        result["states"] = [s.name for s in fastware.State]
        result["metadata"] = sorted(metadata.MESSAGES)
        from fastware.testing import connect

        async def app(scope, receive, send):
            await receive()
            await send({"type": "websocket.http.response.start", "status": 403, "headers": []})

        try:
            async with connect(app):
                pass
        except Exception as exc:
            result["client"] = f"{type(exc).__name__}: {exc}"
        """,
    )
    assert result["api"] == [] and result["models"] == []
    assert "RESPONSE" not in result["states"]
    assert not any("http.response" in t for t in result["metadata"])
    assert result["client"] == (
        "AppProtocolError: Expected ASGI message 'websocket.accept' or 'websocket.close', "
        "but got 'websocket.http.response.start' (connection HANDSHAKE)"
    )
    # Static checks: the runtime refers to nothing the schema no longer produces, and a reference is caught.
    pytest.importorskip("mypy")
    stale = tmp_path / "stale_call.py"
    stale.write_text(
        "from fastware import WebSocket\n\n\nasync def f(ws: WebSocket) -> None:\n    await ws.send_denial_response(401)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--ignore-missing-imports", "fastware", str(stale)],
        cwd=repo,
        env=_env(repo),
        capture_output=True,
        text=True,
        timeout=CODEGEN_TIMEOUT,
        check=False,
    )
    assert f'{stale}:5: error: "WebSocket" has no attribute "send_denial_response"' in done.stdout, done.stdout
    runtime = [line for line in done.stdout.splitlines() if line.startswith("fastware")]
    assert not [line for line in runtime if "denial" in line or "http_response" in line], runtime
