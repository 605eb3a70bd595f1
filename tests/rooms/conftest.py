"""Fixtures of the rooms tests: a real redis-server per module, and Rooms on either backend."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from redis_server import RedisServer, redis_available, skip_reason
from support_rooms import MakeBackend

from fastware.rooms import Backend, MemoryBackend

needs_redis = pytest.mark.skipif(not redis_available(), reason=skip_reason())


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server (AOF on) for the tests of a module; tests keep apart by key prefix."""
    if not redis_available():
        pytest.skip(skip_reason())
    with RedisServer(aof=True) as server:
        yield server


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, which the test may stop, kill and restart (AOF on)."""
    if not redis_available():
        pytest.skip(skip_reason())
    with RedisServer(aof=True) as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def make_backend(request: pytest.FixtureRequest) -> MakeBackend:
    """``make_backend(history=..., retention=...)``: a new backend of the parametrized kind.

    Redis backends made by one test share a key prefix (so a second one sees the first's rooms, as
    another process would); different tests do not.
    """
    if request.param == "memory":

        def memory(**kwargs: Any) -> Backend:
            return MemoryBackend(**kwargs)

        return memory
    from fastware.rooms import RedisBackend

    server: RedisServer = request.getfixturevalue("redis_server")
    prefix = f"test-{uuid.uuid4().hex[:10]}"

    def redis(**kwargs: Any) -> Backend:
        kwargs.setdefault("retention", None)
        return RedisBackend(server.url, prefix=prefix, **kwargs)

    return redis
