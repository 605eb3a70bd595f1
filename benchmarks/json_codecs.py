"""The measurement behind fastware's default JSON codec: stdlib json, orjson, msgspec, pydantic-core.

Each codec encodes to what a WebSocket frame carries (``str`` for a text frame, ``bytes`` for a
binary one) and decodes from either, on a few shapes of message. Codecs run interleaved, round
after round; the table gives the median ns per call.

    .venv/bin/python benchmarks/json_codecs.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

SHAPES: dict[str, Any] = {
    # The in-process benchmark's JSON echo payload.
    "small": {"a": 1, "b": [1, 2, 3], "c": "x"},
    # A chat message as the chat example sends it.
    "chat": {"type": "message", "room": "lobby", "user": "ann", "text": "hello, world", "ts": 1733140000.125},
    # Non-ASCII text, kept as is.
    "unicode": {"type": "message", "user": "Zoë", "text": "Grüße aus Köln – 東京からこんにちは 👋"},
    # A page of records: 50 objects of mixed scalars.
    "records": [
        {"id": i, "name": f"user-{i}", "score": i * 1.5, "active": i % 2 == 0, "tags": ["a", "b"], "parent": None}
        for i in range(50)
    ],
    # Numbers: 200 floats.
    "floats": [i / 7 for i in range(200)],
}


def _codecs() -> dict[str, dict[str, Callable[[Any], Any]]]:
    import msgspec
    import orjson
    import pydantic_core

    stdlib = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    msgspec_encode = msgspec.json.Encoder().encode
    msgspec_decode = msgspec.json.Decoder().decode
    orjson_dumps = orjson.dumps
    to_json = pydantic_core.to_json
    return {
        "stdlib": {
            "dumps_str": stdlib,
            "dumps_bytes": lambda v: stdlib(v).encode(),
            "loads": json.loads,
        },
        "orjson": {
            "dumps_str": lambda v: orjson_dumps(v).decode(),
            "dumps_bytes": orjson_dumps,
            "loads": orjson.loads,
        },
        "msgspec": {
            "dumps_str": lambda v: msgspec_encode(v).decode(),
            "dumps_bytes": msgspec_encode,
            "loads": msgspec_decode,
        },
        "pydantic_core": {
            "dumps_str": lambda v: to_json(v).decode(),
            "dumps_bytes": to_json,
            "loads": pydantic_core.from_json,
        },
    }


OPERATIONS = ("dumps_str", "dumps_bytes", "loads_str", "loads_bytes")


def _time(func: Callable[[Any], Any], arg: Any, n: int) -> float:
    gc.collect()
    start = time.perf_counter_ns()
    for _ in range(n):
        func(arg)
    return (time.perf_counter_ns() - start) / n


def run(rounds: int = 15, calls: int = 20_000) -> dict[str, dict[str, dict[str, float]]]:
    """Median ns per call, by shape, operation and codec."""
    codecs = _codecs()
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        shape: {op: {c: [] for c in codecs} for op in OPERATIONS} for shape in SHAPES
    }
    for value in SHAPES.values():
        text = codecs["stdlib"]["dumps_str"](value)
        for codec in codecs.values():  # every codec reads and writes the same JSON
            assert json.loads(codec["dumps_str"](value)) == value
            assert codec["loads"](text) == value and codec["loads"](text.encode()) == value
    for round_no in range(rounds):
        names = list(codecs)
        names = names[round_no % len(names) :] + names[: round_no % len(names)]
        for shape, value in SHAPES.items():
            n = max(200, calls // (1 + len(json.dumps(value)) // 64))
            text = codecs["stdlib"]["dumps_str"](value)
            args = {"dumps_str": value, "dumps_bytes": value, "loads_str": text, "loads_bytes": text.encode()}
            for op in OPERATIONS:
                for name in names:
                    func = codecs[name]["loads" if op.startswith("loads") else op]
                    samples[shape][op][name].append(_time(func, args[op], n))
    return {
        shape: {op: {c: statistics.median(s) for c, s in by_codec.items()} for op, by_codec in by_op.items()}
        for shape, by_op in samples.items()
    }


def format_table(result: dict[str, dict[str, dict[str, float]]]) -> str:
    codecs = list(next(iter(next(iter(result.values())).values())))
    lines = ["| shape | operation | " + " | ".join(codecs) + " |", "| --- | --- |" + " ---: |" * len(codecs)]
    for shape, by_op in result.items():
        for op, by_codec in by_op.items():
            best = min(by_codec.values())
            cells = [f"**{ns:,.0f}**" if ns == best else f"{ns:,.0f}" for ns in by_codec.values()]
            lines.append(f"| {shape} | {op} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, to prove it runs")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    result = run(2, 200) if args.quick else run(args.rounds)
    print(format_table(result))


if __name__ == "__main__":
    main()
