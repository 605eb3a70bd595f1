"""redis-py is optional: fastware imports it only for RedisBackend, and says how to install it."""

from __future__ import annotations

import subprocess
import sys

from support_rooms import TIMEOUT


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT * 3)


def test_fastware_and_rooms_import_no_redis() -> None:
    out = run(
        "import sys, fastware, fastware.rooms\n"
        "from fastware.rooms import Rooms, MemoryBackend, Event, PositionGone, BackendUnavailable\n"
        "assert not [m for m in sys.modules if m == 'redis' or m.startswith('redis.')], 'redis imported'\n"
        "from fastware.rooms import RedisBackend\n"
        "assert 'redis' in sys.modules\n"
    )
    assert out.returncode == 0, out.stderr


def test_without_redis_py_the_error_names_the_extra() -> None:
    out = run(
        "import sys\n"
        "sys.modules['redis'] = None  # as if not installed\n"
        "from fastware.rooms import Rooms\n"
        "try:\n"
        "    from fastware.rooms import RedisBackend\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert out.returncode == 0, out.stderr
    assert "pip install 'fastware[redis]'" in out.stdout
