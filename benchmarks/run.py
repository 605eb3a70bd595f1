"""Run every benchmark and write docs/performance.md, its chart (.svg) and its raw data (.json).

    .venv/bin/python benchmarks/run.py            # full run, a few minutes on 2 cores
    .venv/bin/python benchmarks/run.py --quick    # tiny counts, to prove it runs
    .venv/bin/python benchmarks/run.py --out DIR  # write the page, chart and data elsewhere
    .venv/bin/python benchmarks/run.py --from-json docs/performance.json  # page and chart again, no run

The targets of issue 6 are checked against the medians and reported as
held or missed; the exit status is 0 either way (a benchmark is not a test).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import end_to_end  # noqa: E402  (the benchmarks sit beside this script)
import inprocess  # noqa: E402
import memory  # noqa: E402
import rooms  # noqa: E402

from fastware import _accel  # noqa: E402

COLOURS = {
    "raw": "#7f7f7f",
    "bare": "#c7c7c7",
    "starlette": "#d62728",
    "fastware": "#1f77b4",
    "fastware_py": "#6baed6",
    "validated": "#9ecae1",
}


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with_proc = Path("/proc/cpuinfo")
    if with_proc.exists():
        for line in with_proc.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {name: metadata.version(name) for name in ("fastware", "starlette", "uvicorn", "websockets", "pydantic")}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "commit": commit or "unknown",
        "speedups": "on (fastware/_speedups.c)" if _accel.ENABLED else "**off** (not built, or FASTWARE_NO_SPEEDUPS)",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def targets(
    inproc: dict[str, Any], e2e: dict[str, Any], mem: dict[str, Any], fan_out: dict[str, Any] | None = None
) -> list[tuple[str, str, bool]]:
    """(target, measured, held) for each target of issue 6, issue 14 (JSON) and issue 12 (rooms)."""
    ns = inproc["ns_per_message"]
    text_raw = inproc["rate_vs_raw"]["text"]["fastware"]
    text_star = inproc["rate_vs_starlette"]["text"]["fastware"]
    json_star = inproc["rate_vs_starlette"]["json"]["fastware"]
    # An echoed message is two ASGI messages (one received, one sent); the target is per message.
    validated = max(inproc["validated_overhead_ns"].values()) / 2
    e2e_rate = e2e["rate_vs_raw"]["fastware"]
    obj = mem["idle_object_bytes"]["fastware"]
    return [
        ("in-process text echo ≥ 0.6 of raw ASGI's rate (aim 0.75)", f"{text_raw:.2f}", text_raw >= 0.6),
        ("in-process text echo ≥ 2× Starlette's rate", f"{text_star:.2f}×", text_star >= 2),
        ("send_json/receive_json ≥ 1.3× Starlette's rate", f"{json_star:.2f}×", json_star >= 1.3),
        (
            "validated mode ≤ 1 µs per message over default",
            f"{validated:,.0f} ns per message ({max(ns[k]['validated'] - ns[k]['fastware'] for k in ns):,.0f} per echo)",
            validated <= 1000,
        ),
        ("end to end through uvicorn ≥ 0.95 of raw's rate", f"{e2e_rate:.2f}", e2e_rate >= 0.95),
        ("a WebSocket object ≤ 1 KiB", f"{obj:,.0f} bytes", obj <= 1024),
        # Issue 14: the JSON rows (inprocess.run_json), against raw ASGI on the fastest codec.
        (
            "JSON echo ≥ 0.8 of raw ASGI on the fastest codec (orjson or msgspec)",
            f"{inproc['json_codecs']['echo_vs_fastest_raw']:.2f}",
            inproc["json_codecs"]["echo_vs_fastest_raw"] >= 0.8,
        ),
        (
            "JSON echo ≥ 4× Starlette's rate",
            f"{inproc['json_codecs']['echo_vs_starlette']:.2f}×",
            inproc["json_codecs"]["echo_vs_starlette"] >= 4,
        ),
        (
            "receive_json(model=T) no slower than T.model_validate(await receive_json())",
            f"{inproc['json_codecs']['typed_vs_validate']:.2f}× its rate",
            inproc["json_codecs"]["typed_vs_validate"] >= 1,
        ),
        *_rooms_targets(fan_out),
    ]


def _rooms_targets(fan_out: dict[str, Any] | None) -> list[tuple[str, str, bool]]:
    """Issue 12: fastware's delivered messages per second at least broadcaster's, in each scenario."""
    rows = []
    for title, by_lib in (fan_out or {}).get("medians", {}).items():
        ours = by_lib.get("fastware", {}).get("delivered_per_second")
        theirs = by_lib.get("broadcaster", {}).get("delivered_per_second")
        if ours is None or not theirs:
            continue
        ratio = ours / theirs
        rows.append((f"rooms, {title}: delivered msg/s ≥ broadcaster's", f"{ratio:.2f}×", ratio >= 1))
    return rows


def chart(inproc: dict[str, Any]) -> str:
    """A horizontal bar chart of in-process ns per echoed message, as a self-contained SVG."""
    ns = inproc["ns_per_message"]
    bar, gap, label_w, plot_w, top = 14, 8, 150, 520, 30
    rows = [(kind, variant) for kind in inprocess.KINDS for variant in inprocess.VARIANTS]
    height = top + len(rows) * (bar + 4) + len(inprocess.KINDS) * gap + 30
    scale = plot_w / max(ns[k][v] for k, v in rows)
    width = label_w + plot_w + 90
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="18" font-weight="bold">In-process echo: ns per echoed message, median of '
        f"{inproc['rounds']} rounds (shorter is faster)</text>",
    ]
    y = top
    for kind in inprocess.KINDS:
        for variant in inprocess.VARIANTS:
            value = ns[kind][variant]
            w = max(1.0, value * scale)
            out.append(f'<text x="{label_w - 6}" y="{y + bar - 3}" text-anchor="end">{kind} · {variant}</text>')
            out.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{COLOURS[variant]}"/>')
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 3}">{value:,.0f}</text>')
            y += bar + 4
        y += gap
    out.append(f'<text x="10" y="{height - 10}" fill="#555">{html.escape("written by benchmarks/run.py")}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def breakdown(inproc: dict[str, Any], e2e: dict[str, Any]) -> str:
    """The text echo's time, split by the medians of the variants that differ in one thing."""
    ns = inproc["ns_per_message"]["text"]
    cpu = e2e["medians"]
    rows = [
        ("raw ASGI: the peer's receive/send, the loop, the dicts", ns["raw"]),
        (
            "fastware: the Step object per call, the state and slot reads, the payload-type, frame-type and"
            " exactly-one checks, and calling the server's callables from C: fastware − raw",
            ns["fastware"] - ns["raw"],
        ),
        (
            "what the C fast path saves: the coroutine frame of each async def method (fastware_py − fastware)",
            ns["fastware_py"] - ns["fastware"],
        ),
        ("for comparison, two coroutine frames that check nothing: bare − raw", ns["bare"] - ns["raw"]),
        (
            "validated mode's pydantic-core validation of both messages: validated − fastware",
            ns["validated"] - ns["fastware"],
        ),
        (
            "Starlette's extra frames, enum compares and `cast()`: starlette − fastware",
            ns["starlette"] - ns["fastware"],
        ),
    ]
    lines = ["| text echo, per echoed message | ns |", "| --- | ---: |"]
    lines += [f"| {what} | {value:{'+,.0f' if i else ',.0f'}} |" for i, (what, value) in enumerate(rows)]
    over = cpu["fastware"]["server_cpu_us_per_message"] - cpu["raw"]["server_cpu_us_per_message"]
    return (
        "\n".join(lines)
        + "\n\nAn `async def` method costs a coroutine object and a frame per call, about as much as the "
        "server's own `receive()`; so *bare*, which checks nothing, is already far from raw. fastware's hot "
        "methods (`send_text`, `send_bytes`, `receive_text`, `receive_bytes`) run their common case in C "
        "(`fastware/_speedups.c`) and so cost less than *bare* while checking everything; *fastware_py* is the "
        "same generated methods as plain `async def`s, as where the extension is not built. "
        f"Through uvicorn a message costs the server {cpu['raw']['server_cpu_us_per_message']:.1f} µs of CPU "
        f"with raw ASGI and {cpu['fastware']['server_cpu_us_per_message']:.1f} µs with fastware ({over:+.1f} µs): "
        "fastware's in-process overhead, a fraction of a µs, is within the noise of the server's protocol work."
    )


def page(
    info: dict[str, str],
    inproc: dict[str, Any],
    e2e: dict[str, Any],
    mem: dict[str, Any],
    quick: bool,
    fan_out: dict[str, Any] | None = None,
) -> str:
    held = targets(inproc, e2e, mem, fan_out)
    target_rows = "\n".join(f"| {t} | {m} | {'held' if ok else '**missed**'} |" for t, m, ok in held)
    note = (
        "\n> **Quick run**: tiny counts that only prove the benchmarks work; the figures mean nothing.\n"
        if quick
        else ""
    )
    return f"""# Performance

Written by `benchmarks/run.py` (`bash benchmarks/run.sh`); do not edit by hand.
{note}
## Machine

| | |
| --- | --- |
| CPU | {info["cpu"]} |
| OS | {info["os"]} |
| Python | {info["python"]} |
| packages | {info["versions"]} |
| commit | {info["commit"]} |
| C fast path | {info["speedups"]} |
| run | {info["date"]} |

Every figure is a median over interleaved, repeated runs: each round runs every variant once, the
variants compared back to back in an order that rotates from round to round, so background load
spreads over all of them. The machine is shared: expect a few percent between runs.

## Targets

A ratio to raw depends on how cheap the peer is; *ns over raw* in the in-process table is the
overhead itself, and *bare* the floor for any class whose methods are `async def`s.

| target | measured | |
| --- | --- | --- |
{target_rows}

## In process

An echo loop (receive a message, send it back) against minimal async `receive` and `send`
callables, so only the WebSocket layer is measured. Peer: *{inproc["peer"]}*
(`server`: `receive()` builds a new message dict and `send()` reads the type and the payload, as
every server must; `noop`: the same dict every time and a `send()` that does nothing, the
harshest denominator; `benchmarks/inprocess.py --peer noop`). The *ns over raw* column does not
depend on the peer. *raw* is hand-written ASGI dict
handling that checks the message type; *bare* is the cheapest wrapper class there can be, whose
async methods only forward and check nothing (the cost of two coroutine frames per echo, the
floor for any class whose methods are `async def`s); *starlette* is `starlette.websockets.WebSocket`;
*fastware* the default mode, its hot methods through the C fast path; *fastware_py* the same
methods without it (as where the extension is not built, or with `FASTWARE_NO_SPEEDUPS=1`);
*validated* is `WebSocket(..., validate=True)`. The text and bytes
loops use `receive_text`/`send_text` and `receive_bytes`/`send_bytes`, the JSON loop
`receive_json`/`send_json` (raw: `json.loads`/`json.dumps`) on `{{"a":1,"b":[1,2,3],"c":"x"}}`.
One echoed message is one message received plus one sent. {inproc["rounds"]} rounds of
{inproc["messages"]:,} messages.

{inprocess.format_table(inproc)}

![In-process echo, ns per echoed message](performance.svg)

### Where the time per message goes

{breakdown(inproc, e2e)}

## End to end

uvicorn (one worker, its default WebSocket protocol) serving the text echo app of each variant
on 127.0.0.1; {e2e["clients"]} client processes using the `websockets` library, each with
{e2e["connections"]} connections echoing {e2e["messages"]:,} 64-byte text messages one at a time.
Messages per second are wall clock from "go" to the last client done; server CPU is user +
system time of the uvicorn process per message. {e2e["rounds"]} rounds. The server and its
clients share the 2 cores, so the rate also measures the clients; the server's CPU time per
message is the steadier figure.

{end_to_end.format_table(e2e)}

## Memory

Measured with tracemalloc over {mem["count"]:,} objects or connections. An idle object is
built on a shared scope before `accept()`; an open connection is an accepted connection whose
app task waits in `receive()` (task, coroutine frames, WebSocket, the scope copy and the
in-memory queue standing in for the server's side). `sys.getsizeof` of a fastware WebSocket:
{mem["idle_object_bytes"]["fastware_sizeof"]} bytes.

{memory.format_table(mem)}

## Raw results

Every sample of every round, the medians and the machine, as JSON:
[performance.json](performance.json). `benchmarks/run.py --from-json docs/performance.json` writes
this page and its chart again from it, without running anything.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, to prove the benchmarks run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where to write performance.md/.svg/.json")
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="PATH",
        help="write the page and chart from a saved performance.json; run nothing",
    )
    args = parser.parse_args()
    if args.from_json is not None:
        data = json.loads(args.from_json.read_text())
        info, inproc, e2e, mem = data["machine"], data["in_process"], data["end_to_end"], data["memory"]
        args.quick = data["quick"]
        fan_out, why = data.get("rooms"), "not in the saved data."
    elif args.quick:
        info = machine()
        inproc = inprocess.run(rounds=2, messages=200)
        e2e = end_to_end.run(rounds=1, clients=1, connections=2, messages=20)
        mem = memory.run(count=50)
    else:
        info = machine()
        print("in-process echo ...", flush=True)
        inproc = inprocess.run()
        print(inprocess.format_table(inproc), flush=True)
        print("end to end through uvicorn ...", flush=True)
        e2e = end_to_end.run()
        print(end_to_end.format_table(e2e), flush=True)
        print("memory ...", flush=True)
        mem = memory.run()
        print(memory.format_table(mem), flush=True)
    if args.from_json is None:
        print("rooms across processes ...", flush=True)
        fan_out, why = rooms.run_or_why(quick=args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "performance.md").write_text(
        page(info, inproc, e2e, mem, args.quick, fan_out) + rooms.page_section(fan_out, why)
    )
    (args.out / "performance.svg").write_text(chart(inproc))
    raw = {
        "machine": info,
        "quick": args.quick,
        "in_process": inproc,
        "end_to_end": e2e,
        "memory": mem,
        "rooms": fan_out,
    }
    (args.out / "performance.json").write_text(json.dumps(raw, indent=1) + "\n")
    for target, measured, ok in targets(inproc, e2e, mem, fan_out):
        print(f"{'held  ' if ok else 'MISSED'}  {target}: {measured}")
    print(f"wrote performance.md, performance.svg and performance.json in {args.out}")


if __name__ == "__main__":
    main()
