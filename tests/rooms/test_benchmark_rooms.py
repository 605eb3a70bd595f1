"""The rooms benchmark runs in quick mode (tiny counts) and reports every figure it promises.

No test asserts a time or a ratio: speed is for benchmarks/, on a quiet machine.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from redis_server import redis_available, skip_reason
from support import ROOT, TIMEOUT

pytestmark = pytest.mark.skipif(not redis_available(), reason=skip_reason())


def test_every_library_delivers_every_message_in_every_scenario() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "rooms.py"), "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=12 * TIMEOUT,  # two scenarios × three libraries, each starting two worker processes
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result["medians"]) == {"1 room × 100 members", "1,000 rooms × 2 members"}
    for scenario, by_library in result["medians"].items():
        assert set(by_library) == {"fastware", "broadcaster", "channels-redis"}
        for library, figures in by_library.items():
            where = (scenario, library)
            assert figures["lost"] == 0 and figures["out_of_order"] == 0, where
            for key in ("delivered_per_second", "p50_ms", "p99_ms", "memory_bytes_per_member"):
                assert math.isfinite(figures[key]) and figures[key] > 0, (where, key)
            assert figures["p99_ms"] >= figures["p50_ms"], where
