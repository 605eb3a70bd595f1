"""In-process echo benchmark: raw ASGI, Starlette, fastware and fastware validated mode; then JSON codecs and typed payloads.

Each variant runs an echo loop (receive one message, send it back) against
minimal async receive/send callables, so what is measured is the WebSocket
layer itself. Variants run interleaved, round after round, and the median of
the rounds is reported as nanoseconds per echoed message (one message in, one
out) with ratios to raw ASGI and to Starlette.

    .venv/bin/python benchmarks/inprocess.py [--quick] [--rounds N] [--messages N] [--peer server|noop] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import msgspec
import orjson
import pydantic
from starlette.websockets import WebSocket as StarletteWebSocket

from fastware import WebSocket

Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Loop = Callable[[Receive, Send, int], Awaitable[None]]

SCOPE: dict[str, Any] = {
    "type": "websocket",
    "asgi": {"version": "3.0", "spec_version": "2.5"},
    "http_version": "1.1",
    "scheme": "ws",
    "path": "/ws",
    "raw_path": b"/ws",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"127.0.0.1")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
    "subprotocols": [],
    "extensions": {},
}

PAYLOADS: dict[str, Message] = {
    "text": {"type": "websocket.receive", "text": "hello, world"},
    "bytes": {"type": "websocket.receive", "bytes": b"hello, world"},
    "json": {"type": "websocket.receive", "text": '{"a":1,"b":[1,2,3],"c":"x"}'},
}
KINDS = tuple(PAYLOADS)
VARIANTS = ("raw", "bare", "starlette", "fastware", "fastware_py", "validated")


PEERS = ("server", "noop")


def make_peer(message: Message, peer: str = "server") -> tuple[Receive, Send]:
    """The server side: websocket.connect once, then `message` for ever.

    "server" does per message only what every server must: receive() builds a
    new message dict, send() reads the type and the payload as uvicorn's does.
    "noop" is cheaper than any server: receive() returns the same dict, send()
    does nothing, so every ratio to raw is at its lowest.
    """
    connected = False
    msg_type = message["type"]
    key = "text" if "text" in message else "bytes"
    payload = message[key]
    outbox: list[Any] = [None]  # stands in for the transport

    async def receive() -> Message:
        nonlocal connected
        if connected:
            return {"type": msg_type, key: payload}
        connected = True
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            data = message.get("bytes")
            outbox[0] = message.get("text") if data is None else data

    async def receive_noop() -> Message:
        nonlocal connected
        if connected:
            return message
        connected = True
        return {"type": "websocket.connect"}

    async def send_noop(message: Message) -> None:
        pass

    if peer == "noop":
        return receive_noop, send_noop
    if peer != "server":
        raise ValueError(f"peer must be one of {PEERS}, not {peer!r}")
    return receive, send


# Raw ASGI: what a careful hand-written app does (checks the type, reads the key it needs).


async def _raw_text(receive: Receive, send: Send, n: int) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    for _ in range(n):
        message = await receive()
        if message["type"] != "websocket.receive":
            raise RuntimeError(message)
        await send({"type": "websocket.send", "text": message["text"]})


async def _raw_bytes(receive: Receive, send: Send, n: int) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    for _ in range(n):
        message = await receive()
        if message["type"] != "websocket.receive":
            raise RuntimeError(message)
        await send({"type": "websocket.send", "bytes": message["bytes"]})


async def _raw_json(receive: Receive, send: Send, n: int) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    loads, dumps = json.loads, json.dumps
    for _ in range(n):
        message = await receive()
        if message["type"] != "websocket.receive":
            raise RuntimeError(message)
        await send({"type": "websocket.send", "text": dumps(loads(message["text"]))})


# Starlette and fastware share the same application code.


def _wrapped(factory: Callable[[Receive, Send], Any], kind: str) -> Loop:
    async def text(receive: Receive, send: Send, n: int) -> None:
        ws = factory(receive, send)
        await ws.accept()
        for _ in range(n):
            await ws.send_text(await ws.receive_text())

    async def bytes_(receive: Receive, send: Send, n: int) -> None:
        ws = factory(receive, send)
        await ws.accept()
        for _ in range(n):
            await ws.send_bytes(await ws.receive_bytes())

    async def json_(receive: Receive, send: Send, n: int) -> None:
        ws = factory(receive, send)
        await ws.accept()
        for _ in range(n):
            await ws.send_json(await ws.receive_json())

    return {"text": text, "bytes": bytes_, "json": json_}[kind]


class BareWrapper:
    """The floor of any WebSocket class with async methods: they forward, and check nothing.

    Not a usable API (a binary frame or a disconnect gives KeyError, misuse goes
    unnoticed); it shows what the two extra coroutine frames per echo cost alone.
    """

    __slots__ = ("_receive", "_send")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send

    async def accept(self) -> None:
        await self._receive()
        await self._send({"type": "websocket.accept"})

    async def receive_text(self) -> str:
        return (await self._receive())["text"]  # type: ignore[no-any-return]

    async def receive_bytes(self) -> bytes:
        return (await self._receive())["bytes"]  # type: ignore[no-any-return]

    async def receive_json(self) -> Any:
        return json.loads((await self._receive())["text"])

    async def send_text(self, data: str) -> None:
        await self._send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self._send({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any) -> None:
        await self._send({"type": "websocket.send", "text": json.dumps(data)})


class PythonMethodsWebSocket(WebSocket):
    """fastware as it runs where its C fast path (fastware/_speedups.c) is not built: the generated async defs."""

    __slots__ = ()


for _name in ("send_text", "send_bytes", "receive_text", "receive_bytes"):
    _method = getattr(WebSocket, _name)
    setattr(PythonMethodsWebSocket, _name, getattr(_method, "__wrapped__", _method))


FACTORIES: dict[str, Callable[[Receive, Send], Any]] = {
    "bare": BareWrapper,
    "starlette": lambda receive, send: StarletteWebSocket(SCOPE, receive, send),
    "fastware": lambda receive, send: WebSocket(SCOPE, receive, send),
    "fastware_py": lambda receive, send: PythonMethodsWebSocket(SCOPE, receive, send),
    "validated": lambda receive, send: WebSocket(SCOPE, receive, send, validate=True),
}


def loops() -> dict[tuple[str, str], Loop]:
    table: dict[tuple[str, str], Loop] = {
        ("raw", "text"): _raw_text,
        ("raw", "bytes"): _raw_bytes,
        ("raw", "json"): _raw_json,
    }
    for variant, factory in FACTORIES.items():
        for kind in KINDS:
            table[variant, kind] = _wrapped(factory, kind)
    return table


def _recorder(sent: list[Message]) -> Send:
    async def send(message: Message) -> None:
        sent.append(message)

    return send


def check_loops() -> None:
    """Prove every loop really echoes: run each against a recording peer and compare what it sent."""
    for (variant, kind), loop in loops().items():
        received = PAYLOADS[kind]
        sent: list[Message] = []
        receive, _ = make_peer(received)
        asyncio.run(loop(receive, _recorder(sent), 3))
        key = "bytes" if kind == "bytes" else "text"
        decode: Callable[[Any], Any] = json.loads if kind == "json" else (lambda value: value)
        echoed = [decode(m.get(key)) for m in sent[1:] if m.get("type") == "websocket.send"]
        if sent[0].get("type") != "websocket.accept" or echoed != [decode(received[key])] * 3:
            raise RuntimeError(f"the {variant} {kind} loop does not echo: it sent {sent!r}")


# JSON: the codec floors and typed payloads -------------------------------------------------

# A small chat message, as a chat app sends it.
CHAT: Message = {
    "type": "websocket.receive",
    "text": '{"type":"message","room":"lobby","user":"ann","text":"hello, world"}',
}


class ChatMessage(pydantic.BaseModel):
    type: Literal["message"]
    room: str
    user: str
    text: str


async def _raw_json_with(
    loads: Callable[[Any], Any], dumps: Callable[[Any], bytes], receive: Receive, send: Send, n: int
) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    for _ in range(n):
        message = await receive()
        if message["type"] != "websocket.receive":
            raise RuntimeError(message)
        await send({"type": "websocket.send", "text": dumps(loads(message["text"])).decode()})


_msgspec_encode, _msgspec_decode = msgspec.json.Encoder().encode, msgspec.json.Decoder().decode


async def _raw_orjson(receive: Receive, send: Send, n: int) -> None:
    await _raw_json_with(orjson.loads, orjson.dumps, receive, send, n)


async def _raw_msgspec(receive: Receive, send: Send, n: int) -> None:
    await _raw_json_with(_msgspec_decode, _msgspec_encode, receive, send, n)


async def _raw_typed(receive: Receive, send: Send, n: int) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    validate = ChatMessage.model_validate_json
    for _ in range(n):
        message = await receive()
        if message["type"] != "websocket.receive":
            raise RuntimeError(message)
        await send({"type": "websocket.send", "text": validate(message["text"]).text})


def _typed_loop(factory: Callable[[Receive, Send], Any], typed: bool) -> Loop:
    async def loop(receive: Receive, send: Send, n: int) -> None:
        ws = factory(receive, send)
        await ws.accept()
        for _ in range(n):
            if typed:
                message = await ws.receive_json(model=ChatMessage)
            else:
                message = ChatMessage.model_validate(await ws.receive_json())
            await ws.send_text(message.text)

    return loop


#: (row, loop, what it does): the JSON echo of CHAT, then a typed receive of it (sending back its text).
JSON_ROWS: tuple[tuple[str, str], ...] = (
    ("echo", "raw_stdlib"),
    ("echo", "raw_orjson"),
    ("echo", "raw_msgspec"),
    ("echo", "starlette"),
    ("echo", "fastware"),
    ("echo", "fastware_py"),
    ("typed", "raw_validate_json"),
    ("typed", "starlette_validate"),
    ("typed", "fastware_validate"),
    ("typed", "fastware_model"),
    ("typed", "fastware_py_model"),
)


def json_loops() -> dict[tuple[str, str], Loop]:
    table: dict[tuple[str, str], Loop] = {
        ("echo", "raw_stdlib"): _raw_json,
        ("echo", "raw_orjson"): _raw_orjson,
        ("echo", "raw_msgspec"): _raw_msgspec,
        ("typed", "raw_validate_json"): _raw_typed,
        ("typed", "starlette_validate"): _typed_loop(FACTORIES["starlette"], typed=False),
        ("typed", "fastware_validate"): _typed_loop(FACTORIES["fastware"], typed=False),
        ("typed", "fastware_model"): _typed_loop(FACTORIES["fastware"], typed=True),
        ("typed", "fastware_py_model"): _typed_loop(FACTORIES["fastware_py"], typed=True),
    }
    for variant in ("starlette", "fastware", "fastware_py"):
        table["echo", variant] = _wrapped(FACTORIES[variant], "json")
    return table


def check_json_loops() -> None:
    """Prove every JSON loop echoes the chat message (or its text, for the typed ones)."""
    expected = {"echo": json.loads(CHAT["text"]), "typed": "hello, world"}
    for (row, variant), loop in json_loops().items():
        sent: list[Message] = []
        receive, _ = make_peer(CHAT)
        asyncio.run(loop(receive, _recorder(sent), 3))
        got = [m.get("text") for m in sent[1:]]
        decoded = [json.loads(t) for t in got] if row == "echo" else got
        if decoded != [expected[row]] * 3:
            raise RuntimeError(f"the {row} {variant} loop does not echo: it sent {sent!r}")


def run_json(rounds: int = 25, messages: int = 50_000, peer: str = "server") -> dict[str, Any]:
    """The JSON rows, interleaved as run() does; ns per message and rates against the floors."""
    check_json_loops()
    table = json_loops()
    samples: dict[str, list[float]] = {f"{row}/{variant}": [] for row, variant in JSON_ROWS}
    for loop in table.values():
        _time_one_message(loop, CHAT, min(messages, 1000), peer)
    for round_no in range(rounds):
        shift = round_no % len(JSON_ROWS)
        for row, variant in JSON_ROWS[shift:] + JSON_ROWS[:shift]:
            samples[f"{row}/{variant}"].append(_time_one_message(table[row, variant], CHAT, messages, peer))
    ns = {name: statistics.median(values) for name, values in samples.items()}
    fast_floor = min(ns["echo/raw_orjson"], ns["echo/raw_msgspec"])
    return {
        "payload": CHAT["text"],
        "ns_per_message": ns,
        "samples": samples,
        # The targets of issue 14 (higher is better).
        "echo_vs_fastest_raw": fast_floor / ns["echo/fastware"],
        "echo_vs_starlette": ns["echo/starlette"] / ns["echo/fastware"],
        "typed_vs_validate": ns["typed/fastware_validate"] / ns["typed/fastware_model"],
    }


def format_json_table(result: dict[str, Any]) -> str:
    ns = result["ns_per_message"]
    floor = min(ns["echo/raw_orjson"], ns["echo/raw_msgspec"])
    lines = [
        "| loop | variant | ns per message | rate vs fastest raw codec | rate vs Starlette |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for row, variant in JSON_ROWS:
        value = ns[f"{row}/{variant}"]
        star = ns[f"{row}/starlette" if row == "echo" else "typed/starlette_validate"]
        lines.append(f"| {row} | {variant} | {value:,.0f} | {floor / value:.2f} | {star / value:.2f} |")
    return "\n".join(lines)


def _time_one_message(loop: Loop, message: Message, n: int, peer: str) -> float:
    receive, send = make_peer(message, peer)
    gc.collect()
    start = time.perf_counter_ns()
    asyncio.run(loop(receive, send, n))
    return (time.perf_counter_ns() - start) / n


def _time_one(loop: Loop, kind: str, n: int, peer: str) -> float:
    """Nanoseconds per echoed message for one run of `loop`."""
    receive, send = make_peer(PAYLOADS[kind], peer)
    gc.collect()
    start = time.perf_counter_ns()
    asyncio.run(loop(receive, send, n))
    return (time.perf_counter_ns() - start) / n


def run(rounds: int = 25, messages: int = 50_000, peer: str = "server") -> dict[str, Any]:
    """Run every (variant, kind) `rounds` times, interleaved; return the medians and ratios."""
    check_loops()
    table = loops()
    samples: dict[str, dict[str, list[float]]] = {k: {v: [] for v in VARIANTS} for k in KINDS}
    for (_, kind), loop in table.items():  # warm up: imports, pydantic's validators, caches
        _time_one(loop, kind, min(messages, 1000), peer)
    for round_no in range(rounds):
        for kind in KINDS:
            # The variants compared run back to back, in an order that rotates from round to round.
            shift = round_no % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                samples[kind][variant].append(_time_one(table[variant, kind], kind, messages, peer))
    medians = {k: {v: statistics.median(s) for v, s in by_variant.items()} for k, by_variant in samples.items()}
    json_result = run_json(rounds, messages, peer)
    return {
        "json_codecs": json_result,
        "rounds": rounds,
        "messages": messages,
        "peer": peer,
        "ns_per_message": medians,
        "samples": samples,
        # Rates relative to raw and to Starlette (higher is faster): other_ns / this_ns.
        "rate_vs_raw": {k: {v: m["raw"] / m[v] for v in VARIANTS} for k, m in medians.items()},
        "rate_vs_starlette": {k: {v: m["starlette"] / m[v] for v in VARIANTS} for k, m in medians.items()},
        "over_raw_ns": {k: {v: m[v] - m["raw"] for v in VARIANTS} for k, m in medians.items()},
        "validated_overhead_ns": {k: m["validated"] - m["fastware"] for k, m in medians.items()},
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [
        "| echo | variant | ns per echoed message | ns over raw | rate vs raw | rate vs Starlette |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for kind in KINDS:
        for variant in VARIANTS:
            ns = result["ns_per_message"][kind][variant]
            raw = result["rate_vs_raw"][kind][variant]
            star = result["rate_vs_starlette"][kind][variant]
            over = result["over_raw_ns"][kind][variant]
            lines.append(f"| {kind} | {variant} | {ns:,.0f} | {over:+,.0f} | {raw:.2f} | {star:.2f} |")
    if "json_codecs" in result:
        lines += ["", f"JSON: the chat message `{result['json_codecs']['payload']}`", ""]
        lines.append(format_json_table(result["json_codecs"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, to prove the benchmark runs")
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--peer", choices=PEERS, default="server", help="the server side; see make_peer()")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--json-only", action="store_true", help="only the JSON codec and typed rows")
    args = parser.parse_args()
    rounds, messages = (2, 200) if args.quick else (args.rounds, args.messages)
    if args.json_only:
        json_result = run_json(rounds, messages, args.peer)
        print(json.dumps(json_result, indent=1) if args.json else format_json_table(json_result))
        return
    result = run(rounds, messages, args.peer)
    print(json.dumps(result, indent=1) if args.json else format_table(result))


if __name__ == "__main__":
    main()
