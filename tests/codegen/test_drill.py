"""The spec-change drill: one schema edit plus `python -m codegen`, on a temporary copy of the repository.

Each test copies what the generator and the runtime need, edits only the
copy's schema, regenerates, and then checks the result from a subprocess that
imports the copy's code (PYTHONPATH points at the copy; its generated/ is
linked in as fastware/_generated, as the installed package has it), so the
editable install of this checkout is never what runs. Nothing outside
schema/ may differ from the original afterwards, apart from generated/.
"""

from __future__ import annotations

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
COPIED = ("schema", "codegen", "generated", "fastware", "docs", "pyproject.toml", "mkdocs.yml")
SCHEMA_REL = "schema/asgi-websocket.schema.json"
IGNORED = ("__pycache__", "_generated")

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


def probe(repo: Path, tmp_path: Path, body: str) -> Any:
    """Run `body` (async code that sets `result`) against the copy's code; return `result`."""
    script = tmp_path / "probe.py"  # outside the copy, so the tree comparison stays clean
    script.write_text(PROBE_HEAD + textwrap.indent(textwrap.dedent(body), "    ") + PROBE_TAIL, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=repo,
        env=_env(repo),
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


PROBE_HEAD = '''
import asyncio, inspect, json
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
            walk(filecmp.dircmp(ROOT / name, repo / name, ignore=[*IGNORED, ".ruff_cache"]), f"{name}/")
        elif not filecmp.cmp(ROOT / name, repo / name, shallow=False):
            changed.append(name)
    return sorted(changed)


def regenerate(repo: Path) -> None:
    done = codegen(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    check = codegen(repo, "--check")
    assert check.returncode == 0, check.stdout
    assert changed_outside_generated(repo) == [SCHEMA_REL]


def add_drill_key(schema: dict[str, Any]) -> None:
    schema["$defs"]["WebSocketClose"]["properties"]["drill_note"] = {
        "type": ["string", "null"],
        "description": "A note for the drill, sent with the close.",
        "x-asgi-direction": "send",
        "x-asgi-since": "2.6",
        "x-asgi-on-older-server": "drop",
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
    # The server's spec version predates the key, and the schema says drop: left out, the close still sent.
    assert result["old"] == [{"type": "websocket.close", "code": 4000}]
    assert result["unset"] == [{"type": "websocket.close", "code": 4000}]
    assert result["typed"] == [{"type": "websocket.close", "code": 4000, "drill_note": "typed"}]
    assert result["since"] == "2.6"
    message_doc, api_doc = close_docs(repo)
    entry = message_doc[message_doc.index("`drill_note:") :]
    assert entry.startswith("`drill_note: str | None = None`\n:   A note for the drill, sent with the close.\n")
    assert "Since 2.6. On a server older than 2.6: left out." in entry.split("\n\n`")[0]
    assert "    reason: str | None = None,\n    drill_note: str | None = None,\n) -> None" in api_doc
    assert "`drill_note: str | None = None`, keyword-only\n" in api_doc


def test_removing_a_key_removes_parameter_field_and_doc_entry(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    message_doc, api_doc = close_docs(repo)
    assert "`reason:" in message_doc and "reason:" in api_doc

    edit_schema(repo, lambda schema: schema["$defs"]["WebSocketClose"]["properties"].pop("reason"))
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
