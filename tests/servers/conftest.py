"""Real servers for the matrix: each started once per module, on a free 127.0.0.1 port, always stopped."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The matrix's helpers (server_matrix, apps) live next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_matrix import SERVERS, Server, start


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    name: str = request.param
    with start(name, tmp_path_factory.mktemp("server-logs") / f"{name}.log") as running:
        yield running


# The matrix as a table at the end of the run: case x server, "pass" or the limitation's footnote.
_CELLS: dict[str, tuple[str, str]] = {}
_RESULTS: dict[tuple[str, str], str] = {}
_REASONS: dict[tuple[str, str], str] = {}


def pytest_itemcollected(item: pytest.Item) -> None:
    callspec = getattr(item, "callspec", None)
    if callspec is None or "server" not in callspec.params or item.path.name != "test_matrix.py":
        return
    others = [f"{k}={v!r}" for k, v in callspec.params.items() if k != "server"]
    case = item.originalname.removeprefix("test_") + (f" [{', '.join(others)}]" if others else "")  # type: ignore[attr-defined]
    _CELLS[item.nodeid] = (case, callspec.params["server"])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    cell = _CELLS.get(report.nodeid)
    if cell is None or (report.when != "call" and report.passed):
        return
    if hasattr(report, "wasxfail"):
        _RESULTS[cell] = "xfail"
        _REASONS[cell] = report.wasxfail
    elif report.failed:
        _RESULTS[cell] = "FAIL" if report.when == "call" else "ERROR"
    elif report.when == "call":
        _RESULTS.setdefault(cell, "pass")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    servers = [name for name in SERVERS if any(server == name for _, server in _RESULTS)]
    cases = list(dict.fromkeys(case for case, _ in _CELLS.values()))
    notes: dict[str, int] = {}
    rows = []
    for case in cases:
        row = [case]
        for server in servers:
            result = _RESULTS.get((case, server), "-")
            if result == "xfail":
                result = f"xfail ({notes.setdefault(_REASONS[(case, server)], len(notes) + 1)})"
            row.append(result)
        rows.append(row)
    header = ["case", *servers]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    write = terminalreporter.write_line
    terminalreporter.section("real-server matrix")
    for row in [header, ["-" * w for w in widths], *rows]:
        write(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    for reason, number in notes.items():
        write(f"({number}) {reason}")
