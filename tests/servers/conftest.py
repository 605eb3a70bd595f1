"""Real servers for the matrix: each started once per module, on a free 127.0.0.1 port, always stopped."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The matrix's helpers (server_matrix, apps) live next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from server_matrix import SERVERS, Server, start


@pytest.fixture(scope="module", params=list(SERVERS))
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    name: str = request.param
    with start(name, tmp_path_factory.mktemp("server-logs") / f"{name}.log") as running:
        yield running
