"""A real ``redis-server`` for tests: a free port on 127.0.0.1, its own temporary folder, always stopped.

Shared by the rooms contract suite, the Redis fault tests and the multi-process chat tests::

    with RedisServer(aof=True) as server:      # or the ``redis_server`` fixture in conftest.py
        url = server.url                       # redis://127.0.0.1:<port>/0
        server.stop()                          # SHUTDOWN (AOF flushed), bounded wait
        server.start()                         # the same port, the same folder: AOF data back
        server.kill()                          # SIGKILL, no flush
        server.start(aof=False)                # restart without persistence: data gone
        server.cli("CLIENT", "LIST")           # one command through redis-cli, bounded

Every wait is bounded by ``timeout``; the process is killed when it does not stop in time.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


def redis_available() -> bool:
    return Path(REDIS_SERVER).is_file()


def skip_reason() -> str:
    return (
        "redis-server is not installed (Debian: apt-get install redis-server; "
        "scripts/test.sh installs it when run as root)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process, restartable on the same port and folder."""

    def __init__(self, *, aof: bool = False, timeout: float = 10.0) -> None:
        self.aof = aof
        self.timeout = timeout
        self.dir = Path(tempfile.mkdtemp(prefix="fastware-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, aof: bool | None = None) -> None:
        """Start (again) on the same port; ``aof=False`` also throws away the data on disk."""
        assert self.proc is None, "already running"
        if aof is not None:
            self.aof = aof
        if not self.aof:
            for old in self.dir.glob("appendonly*"):
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.aof else "no",
            "--appendfsync", "always",
            "--daemonize", "no",
            "--logfile", str(self.log),
            "--protected-mode", "no",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"redis-server exited at start on port {self.port}: {self._log_tail()}")
            try:
                # Ours, not another server that holds the port (then ours exits: see above).
                if f"process_id:{self.proc.pid}" in self.cli("INFO", "server"):
                    return
            except (subprocess.SubprocessError, OSError):
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server did not answer PING within {self.timeout} s: {self._log_tail()}")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: the AOF is flushed), killed if it takes longer than ``timeout``."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(self.timeout)

    def kill(self) -> None:
        """SIGKILL: what a crash looks like."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(self.timeout)

    def cli(self, *args: str) -> str:
        """One command through redis-cli; its reply as text (stripped)."""
        out = subprocess.run(
            [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            timeout=self.timeout,
            check=True,
        )
        return out.stdout.decode().strip()

    def _log_tail(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return "(no log)"

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        for _ in range(3):
            try:
                self.start()
                break
            except RuntimeError as exc:
                if "exited at start" not in str(exc):
                    self.close()
                    raise
                self.port = free_port()  # most likely taken between the probe and the bind: another one
        else:
            self.close()
            raise RuntimeError("redis-server found no free port in 3 tries")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
