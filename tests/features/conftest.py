"""The feature tests are async: they run on asyncio through AnyIO's pytest plugin (a dependency of Starlette)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The apps the real servers import (feature_apps) live next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
