"""The chat's tests: async on asyncio through AnyIO's pytest plugin, and the example served as scripts/run.sh serves it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import free_port, run_server

# The browser driver (chat_browser) lives next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """``python -m examples.serve --port N``, the server of the README's run command; yields ws://127.0.0.1:N."""
    port = free_port()
    with run_server([sys.executable, "-m", "examples.serve", "--port", str(port)], port) as url:
        yield url
