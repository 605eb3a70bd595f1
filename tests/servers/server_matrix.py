"""The real servers the matrix and load tests run, and how to start each."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

from support import daphne_argv, free_port, granian_argv, hypercorn_argv, run_server, uvicorn_argv

APPS_DIR = Path(__file__).resolve().parent
APP = "apps:app"


@dataclasses.dataclass(frozen=True)
class Server:
    name: str
    url: str
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's output, for assertion messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# name -> argv builder; the names are the matrix's columns.
SERVERS: dict[str, Callable[[int], list[str]]] = {
    "uvicorn-websockets": lambda port: uvicorn_argv(APP, port, "--ws", "websockets"),
    "uvicorn-wsproto": lambda port: uvicorn_argv(APP, port, "--ws", "wsproto"),
    "hypercorn": lambda port: hypercorn_argv(APP, port),
    "daphne": lambda port: daphne_argv(APP, port),
    # Not asked for, but uvicorn's default (--ws auto) since 0.35 when websockets is installed.
    "uvicorn-sansio": lambda port: uvicorn_argv(APP, port, "--ws", "websockets-sansio"),
    "granian": lambda port: granian_argv(APP, port),
}


@contextlib.contextmanager
def start(name: str, log: Path) -> Iterator[Server]:
    """Start server `name` on a free 127.0.0.1 port; it is stopped on exit, whatever happens."""
    port = free_port()
    # The servers import the app as a top-level module from this directory.
    with run_server(SERVERS[name](port), port, env={"PYTHONPATH": str(APPS_DIR)}, log=log) as url:
        yield Server(name, url, log)
