"""Drill: the close code of a disconnect that carries none lives in the schema, and only there.

On a copy of the repository (as tests/codegen/test_drill.py does), the schema's default for
websocket.disconnect 'code' is changed and the code regenerated; every receive path, the
generated model and the testing client then give the new value, with the C fast path and
without it, although nothing outside schema/ and generated/ changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from support import TIMEOUT

from tests.codegen.test_drill import CODEGEN_TIMEOUT, copy_repo, edit_schema, regenerate

pytestmark = pytest.mark.timeout(CODEGEN_TIMEOUT * 4)

DRILL_CODE = 4321

PROBE = textwrap.dedent(
    """
    import asyncio, json
    from pathlib import Path

    import fastware
    from fastware import WebSocket, WebSocketDisconnect, _accel, messages
    from fastware.testing import connect

    assert Path(fastware.__file__).resolve().is_relative_to(Path.cwd().resolve()), fastware.__file__


    async def accepted(message):
        incoming = [{"type": "websocket.connect"}, message]

        async def receive():
            return incoming.pop(0)

        async def send(message):
            pass

        ws = WebSocket({"type": "websocket", "path": "/", "headers": []}, receive, send)
        await ws.accept()
        return ws


    async def raised(call):
        try:
            await call
        except WebSocketDisconnect as exc:
            return exc.code
        return "no disconnect"


    async def main():
        result = {"speedups": _accel.ENABLED}
        for name, message in {
            "missing": {"type": "websocket.disconnect"},
            "none": {"type": "websocket.disconnect", "code": None},
        }.items():
            for path in ("receive_text", "receive_bytes", "receive_json", "_receive_data"):
                ws = await accepted(message)
                result[f"{path} {name}"] = await raised(getattr(ws, path)())
                result[f"{path} {name} later"] = await raised(ws.receive_raw())
            for path in ("iter_text", "iter_bytes", "iter_json"):
                ws = await accepted(message)
                async for _ in getattr(ws, path)():
                    pass
                result[f"{path} {name}"] = ws.close_code
            ws = await accepted(message)
            await ws.receive_raw()
            result[f"receive_raw {name}"] = ws.close_code
            result[f"receive_raw {name} later"] = await raised(ws.receive_raw())
        ws = await accepted({"type": "websocket.disconnect", "code": 1005})
        result["sent 1005"] = await raised(ws.receive_text())
        result["model"] = messages.WebSocketDisconnect().code

        seen = {}

        async def app(scope, receive, send):
            ws = WebSocket(scope, receive, send)
            await ws.accept()
            seen["testing"] = await raised(ws.receive_text())

        async with connect(app) as client:
            await client.close(None)
        result["testing"] = seen["testing"]
        result["testing client"] = client.close_code
        return result


    print(json.dumps(asyncio.run(main())))
    """
)


def set_disconnect_default(schema: dict[str, Any]) -> None:
    code = schema["$defs"]["WebSocketDisconnect"]["properties"]["code"]
    assert code["default"] == 1000  # the value this drill moves away from
    code["default"] = DRILL_CODE


def run_probe(repo: Path, tmp_path: Path, no_speedups: bool) -> dict[str, Any]:
    script = tmp_path / "probe_disconnect.py"  # outside the copy, so the tree comparison stays clean
    script.write_text(PROBE, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(repo), PYTHONDONTWRITEBYTECODE="1")
    env.pop("FASTWARE_NO_SPEEDUPS", None)
    if no_speedups:
        env["FASTWARE_NO_SPEEDUPS"] = "1"
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_changing_the_disconnect_default_in_the_schema_moves_every_path(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    edit_schema(repo, set_disconnect_default)
    regenerate(repo)  # also asserts that nothing outside generated/ differs but the schema
    for no_speedups in (False, True):
        result = run_probe(repo, tmp_path, no_speedups)
        speedups = result.pop("speedups")
        assert speedups is (not no_speedups) or not speedups  # the C path where it is built here
        assert result.pop("sent 1005") == 1005  # a code the server sends is kept
        assert result == dict.fromkeys(result, DRILL_CODE), result
        assert len(result) == 2 * (4 * 2 + 3 + 2) + 3
