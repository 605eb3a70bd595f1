"""Each benchmark runs, in quick mode (tiny counts), and reports every figure it promises.

No test asserts a time or a ratio: speed is for benchmarks/, on a quiet machine.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from support import ROOT, TIMEOUT

BENCH = ROOT / "benchmarks"
VARIANTS = {"raw", "bare", "starlette", "fastware", "fastware_py", "validated"}


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=6 * TIMEOUT,  # the end-to-end run starts three servers and their clients
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_inprocess_reports_every_variant_and_message_kind() -> None:
    result = json.loads(_run("inprocess.py", "--json").stdout)
    assert set(result["ns_per_message"]) == {"text", "bytes", "json"}
    for kind, by_variant in result["ns_per_message"].items():
        assert set(by_variant) == VARIANTS
        assert all(_positive(ns) for ns in by_variant.values()), (kind, by_variant)
        assert result["rate_vs_raw"][kind]["raw"] == 1
        assert result["rate_vs_starlette"][kind]["starlette"] == 1
        assert all(len(samples) == result["rounds"] for samples in result["samples"][kind].values())


def test_inprocess_loops_really_echo() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import inprocess
    finally:
        sys.path.remove(str(BENCH))
    inprocess.check_loops()  # raises when a loop sends anything but the echo of what it received


def test_end_to_end_serves_all_three_apps_through_uvicorn() -> None:
    result = json.loads(_run("end_to_end.py", "--json").stdout)
    assert set(result["medians"]) == {"raw", "starlette", "fastware"}
    for name, medians in result["medians"].items():
        assert _positive(medians["messages_per_second"]), name
        assert medians["server_cpu_us_per_message"] >= 0, name
        assert len(result["samples"][name]) == result["rounds"]
    assert result["rate_vs_raw"]["raw"] == 1


def test_inprocess_reports_the_json_rows_and_their_targets() -> None:
    result = json.loads(_run("inprocess.py", "--json").stdout)["json_codecs"]
    rows = {"echo/raw_stdlib", "echo/raw_orjson", "echo/raw_msgspec", "echo/starlette", "echo/fastware"}
    rows |= {"typed/raw_validate_json", "typed/fastware_validate", "typed/fastware_model"}
    assert rows <= set(result["ns_per_message"])
    assert all(_positive(ns) for ns in result["ns_per_message"].values())
    for target in ("echo_vs_fastest_raw", "echo_vs_starlette", "typed_vs_validate"):
        assert _positive(result[target]), target


def test_memory_reports_object_and_connection_sizes() -> None:
    result = json.loads(_run("memory.py", "--json").stdout)
    assert set(result["idle_object_bytes"]) == {"starlette", "fastware", "validated", "fastware_sizeof"}
    assert all(_positive(size) for size in result["idle_object_bytes"].values())
    assert set(result["open_connection_bytes"]) == {"raw", "starlette", "fastware"}
    assert all(_positive(size) for size in result["open_connection_bytes"].values())
    assert result["open_connection_over_raw_bytes"]["raw"] == 0


def test_run_writes_the_page_and_a_chart(tmp_path: Path) -> None:
    out = _run("run.py", "--out", str(tmp_path)).stdout
    page = (tmp_path / "performance.md").read_text()
    for heading in ("## Machine", "## Targets", "## In process", "## End to end", "## Memory", "## Rooms across"):
        assert heading in page
    # Every target is judged: 9 of issues 6 and 14, and one per rooms scenario (issue 12) when it ran.
    rooms_ran = json.loads((tmp_path / "performance.json").read_text())["rooms"] is not None
    assert page.count("| held |") + page.count("| **missed** |") == 9 + (2 if rooms_ran else 0)
    assert ("rooms, 1,000 rooms × 2 members: delivered msg/s ≥ broadcaster's" in page) is rooms_ran
    svg = ET.parse(tmp_path / "performance.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(svg.findall("{http://www.w3.org/2000/svg}rect")) == 1 + len(VARIANTS) * 3  # background + one bar per row
    assert "wrote" in out
    # The raw data sits beside the page, not in it, and writes the same page and chart again.
    assert "```json" not in page and "(performance.json)" in page
    data = json.loads((tmp_path / "performance.json").read_text())
    assert data["quick"] is True and set(data) == {"machine", "quick", "in_process", "end_to_end", "memory", "rooms"}
    again = tmp_path / "again"
    _run("run.py", "--out", str(again), "--from-json", str(tmp_path / "performance.json"))
    for name in ("performance.md", "performance.svg", "performance.json"):
        assert (again / name).read_text() == (tmp_path / name).read_text(), name


def test_the_python_variant_runs_the_generated_async_defs_not_the_c_fast_path() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import types, inprocess; print(all(type(vars(inprocess.PythonMethodsWebSocket)[name]) is types.FunctionType"
            " for name in ('send_text', 'send_bytes', 'receive_text', 'receive_bytes')))",
        ],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert out.stdout.strip() == "True", out.stderr
