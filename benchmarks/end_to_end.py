"""End-to-end benchmark: uvicorn serving the raw ASGI, Starlette and fastware echo apps.

One uvicorn process per app, all on 127.0.0.1. Each run starts client
processes (the `websockets` library), which open their connections, wait for
"go", then echo text messages one at a time on every connection. A run
measures messages per second (wall clock, from "go" to the last client done)
and the server's CPU time per message (user + system, from /proc). Apps run
interleaved, round after round; medians are reported, with ratios to raw.

    .venv/bin/python benchmarks/end_to_end.py [--quick] [--rounds N] [--clients N]
        [--connections N] [--messages N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from apps import APPS  # noqa: E402  (apps.py sits beside this script)

# Every wait is bounded: a stuck server or client fails the run instead of hanging it.
TIMEOUT = float(os.environ.get("FASTWARE_BENCH_TIMEOUT", "60"))
PAYLOAD = "x" * 64


# Client side (runs in its own process) -----------------------------------------


async def _client(url: str, connections: int, messages: int) -> None:
    from websockets.asyncio.client import connect

    sockets = [await connect(url, max_size=None, compression=None) for _ in range(connections)]

    async def echo(ws: Any) -> None:
        for _ in range(messages):
            await ws.send(PAYLOAD)
            if await ws.recv() != PAYLOAD:
                raise RuntimeError("the server did not echo the message back")

    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go"
    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(echo(ws) for ws in sockets)), TIMEOUT)
    elapsed = time.perf_counter() - start
    for ws in sockets:
        await ws.close()
    print(json.dumps({"elapsed": elapsed}), flush=True)


# Server side ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"uvicorn exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"uvicorn did not listen on 127.0.0.1:{port} within {TIMEOUT}s")


@contextlib.contextmanager
def serve(app: str) -> Iterator[tuple[str, int]]:
    """Run uvicorn (one worker, 127.0.0.1 only) for `app`; yield its URL and pid; always stop it."""
    port = _free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(HERE), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, proc)
        yield f"ws://127.0.0.1:{port}/", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=TIMEOUT)


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime: fields 14 and 15 of stat


def _readline(proc: subprocess.Popen[str]) -> str:
    # A bounded wait for one line of a client's output.
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(TIMEOUT):
            raise TimeoutError(f"a benchmark client said nothing for {TIMEOUT}s")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"a benchmark client exited early with code {proc.wait(TIMEOUT)}")
    return line.strip()


def one_run(url: str, pid: int, clients: int, connections: int, messages: int) -> dict[str, float]:
    """Echo `messages` on each of `connections` in each of `clients` processes; time it."""
    argv = [sys.executable, __file__, "--client", url, "--connections", str(connections)]
    argv += ["--messages", str(messages)]
    procs = [
        subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        for _ in range(clients)
    ]
    try:
        for proc in procs:
            if _readline(proc) != "ready":
                raise RuntimeError("a benchmark client did not get ready")
        cpu_before, start = cpu_seconds(pid), time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            json.loads(_readline(proc))
        wall, cpu = time.perf_counter() - start, cpu_seconds(pid) - cpu_before
        for proc in procs:
            if proc.wait(TIMEOUT) != 0:
                raise RuntimeError(f"a benchmark client failed with code {proc.returncode}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(TIMEOUT)
    total = clients * connections * messages
    return {"messages_per_second": total / wall, "server_cpu_us_per_message": cpu / total * 1e6}


def run(rounds: int = 7, clients: int = 2, connections: int = 20, messages: int = 1000) -> dict[str, Any]:
    """Serve the three apps; run them interleaved `rounds` times; return medians and ratios."""
    names = list(APPS)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(serve(APPS[name])) for name in names}
        for name in names:  # warm up each server once
            one_run(*servers[name], 1, 2, min(messages, 50))
        for round_no in range(rounds):
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(one_run(*servers[name], clients, connections, messages))
    medians = {
        name: {key: statistics.median(s[key] for s in runs) for key in runs[0]} for name, runs in samples.items()
    }
    raw = medians["raw"]
    raw_cpu = raw["server_cpu_us_per_message"]
    return {
        "rounds": rounds,
        "clients": clients,
        "connections": connections,
        "messages": messages,
        "medians": medians,
        "samples": samples,
        "rate_vs_raw": {n: m["messages_per_second"] / raw["messages_per_second"] for n, m in medians.items()},
        # CPU per message relative to raw (None when a run was too short for /proc's 10 ms ticks).
        "cpu_vs_raw": {n: m["server_cpu_us_per_message"] / raw_cpu if raw_cpu else None for n, m in medians.items()},
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [
        "| app | messages/s | rate vs raw | server CPU µs/message | CPU vs raw |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, m in result["medians"].items():
        cpu_ratio = result["cpu_vs_raw"][name]
        lines.append(
            f"| {name} | {m['messages_per_second']:,.0f} | {result['rate_vs_raw'][name]:.2f} "
            f"| {m['server_cpu_us_per_message']:.1f} | {'n/a' if cpu_ratio is None else f'{cpu_ratio:.2f}'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, to prove the benchmark runs")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=20, help="connections per client process")
    parser.add_argument("--messages", type=int, default=1000, help="messages per connection")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)  # internal: be a client process
    args = parser.parse_args()
    if args.client:
        asyncio.run(_client(args.client, args.connections, args.messages))
        return
    if args.quick:
        result = run(rounds=1, clients=1, connections=2, messages=20)
    else:
        result = run(args.rounds, args.clients, args.connections, args.messages)
    print(json.dumps(result, indent=1) if args.json else format_table(result))


if __name__ == "__main__":
    main()
