"""Adversarial servers against the hot methods: the C fast path does exactly what the async defs do.

Hypothesis draws a server whose send() or receive() misbehaves in every way Python allows: a
plain function returning an awaitable, a plain iterator, an object whose __await__ raises or
returns a non-iterator, a plain generator, an awaitable that yields values to the loop; that
calls send()/throw()/close() on the very awaitable awaiting it (re-entry), forces garbage
collection, raises, or returns a message that is not a mapping, a dict subclass, or a dict whose
keys mutate it while it is read. The test drives the awaitable by hand, as an event loop
would, and at any await point throws CancelledError in, closes it, or collects garbage.
Both paths (the hot method, and its generated ``__wrapped__`` async def) run the same
script; what each returns or raises, what it yields, what reaches the server, the state
and close code, and what every re-entrant call gave must be equal. A crash would kill the
test run; scripts/sanitize.sh runs this file under AddressSanitizer as well.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import types
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import make_scope

from fastware import WebSocket, _accel

pytestmark = pytest.mark.skipif(
    not _accel.ENABLED, reason=f"one path only: the C fast path is {_accel.SPEEDUPS.reason}"
)

# send_json's Python path encodes and returns send_text's awaitable; its C path encodes and sends itself.
HOT = {
    "send_text": ("x",),
    "send_bytes": (b"x",),
    "send_json": ({"a": [1, None, "é"]},),
    "receive_text": (),
    "receive_bytes": (),
}
SHAPES = (
    "async def",
    "function returning a coroutine",
    "function returning an awaitable",
    "function returning a generator-based awaitable",
    "function returning a @types.coroutine generator",
    "function returning a plain generator",
    "function returning a plain iterator",
    "function returning an object whose __await__ raises",
    "function returning an object whose __await__ returns a non-iterator",
    "function raising",
)
ERRORS: dict[str, Callable[[], BaseException]] = {
    "OSError": lambda: OSError("peer gone"),
    "ValueError": lambda: ValueError("server bug"),
    "CancelledError": lambda: asyncio.CancelledError("server cancelled"),
    "KeyError": lambda: KeyError("k"),
}


class Sub(dict):  # type: ignore[type-arg]
    """A dict subclass that reads as its dict: not the exact type the C path reads itself."""


class Collide:
    """A key whose hash equals another key's; comparing with it mutates the message it is in."""

    def __init__(self, message: dict[Any, Any], hash_of: str, mutation: str) -> None:
        self.message, self.hash_of, self.mutation = message, hash_of, mutation
        self.done = False

    def __hash__(self) -> int:
        return hash(self.hash_of)

    def __eq__(self, other: object) -> bool:
        # Once only: the paths look keys up a different number of times, in the same order.
        if self.done:
            return False
        self.done = True
        if self.mutation == "clear":
            self.message.clear()
        elif self.mutation == "collect":
            gc.collect()
        else:
            self.message.pop(self.mutation, None)
        return False

    def __repr__(self) -> str:
        return f"Collide({self.hash_of!r}, {self.mutation!r})"


@st.composite
def results(draw: st.DrawFn) -> tuple[Any, ...]:
    """A recipe for what receive() returns (a message, a near-message, or no mapping): see build()."""
    kind = draw(st.sampled_from(["text", "bytes", "disconnect", "no type", "not a mapping"]))
    if kind == "not a mapping":
        return (kind, draw(st.sampled_from([None, ("websocket.receive",), "websocket.receive", 5])))
    payload: Any = None
    if kind == "text":
        payload = "".join(draw(st.lists(st.sampled_from("ab"), max_size=40)))
    elif kind == "bytes":
        payload = bytes(draw(st.lists(st.integers(0, 255), max_size=40)))
    elif kind == "disconnect":
        payload = draw(st.sampled_from([None, 1000, 1005, 4000]))
    collide = None
    if draw(st.booleans()):
        collide = (
            draw(st.sampled_from(["text", "bytes", "type"])),
            draw(st.sampled_from(["text", "bytes", "type", "clear", "collect"])),
        )
    return (kind, payload, collide, draw(st.integers(0, 4)) == 0)


def build(recipe: tuple[Any, ...]) -> Any:
    """A new object from a recipe of results(), so that each path gets one of its own."""
    if recipe[0] == "not a mapping":
        value = recipe[1]
        return list(value) if isinstance(value, tuple) else value
    kind, payload, collide, subclass = recipe
    message: dict[Any, Any] = {}
    if kind != "no type":
        message["type"] = "websocket.disconnect" if kind == "disconnect" else "websocket.receive"
    if kind in ("text", "bytes"):
        # Built at run time, so the dict holds the only reference (a literal would be kept alive).
        message[kind] = payload[:0] + payload
    elif kind == "disconnect":
        message["code"] = payload
    if collide is not None:
        message[Collide(message, *collide)] = 1
    return Sub(message) if subclass else message


@dataclass
class Peer:
    """One misbehaving server callable, and the script of what it does."""

    shape: str
    yields: list[Any]  # what its awaitable yields to the loop, one by one
    reentry: tuple[str, str] | None  # (when: "call" | "await", what: "send" | "throw" | "close")
    collect: bool  # gc.collect() inside it
    error: str | None  # raise this at the end instead of returning
    result: tuple[Any, ...]  # what the awaitable returns: a recipe for build()
    log: list[Any] = field(default_factory=list)
    target: Any = None  # the awaitable the method returned: what re-entry calls
    python: bool = False  # target is the generated async def's coroutine

    def _reenter(self, when: str) -> None:
        if self.reentry is None or self.reentry[0] != when:
            return
        what = self.reentry[1]
        if what == "close" and self.python and sys.version_info < (3, 13):
            # CPython 3.11 and 3.12 themselves crash here: coroutine.close() on a running coroutine reads
            # a stack slot of the executing frame as the awaited object (a pure-Python reproducer
            # segfaults 3.11.7). 3.13 raises this; the C path raises it on every version.
            self.log.append(("reentry", what, "raised", "ValueError", "coroutine already executing"))
            return
        call = {
            "send": lambda: self.target.send(None),
            "throw": lambda: self.target.throw(KeyError("reentered")),
            "close": lambda: self.target.close(),
        }[what]
        try:
            self.log.append(("reentry", what, "returned", repr(call())))
        except BaseException as exc:
            self.log.append(("reentry", what, "raised", type(exc).__name__, str(exc)))

    def _finish(self) -> Any:
        self._reenter("await")
        if self.collect:
            gc.collect()
        if self.error is not None:
            raise ERRORS[self.error]()
        return build(self.result)

    def _steps(self) -> Generator[Any, Any, Any]:
        for value in self.yields:
            self.log.append(("got", repr((yield value))))
        return self._finish()

    @types.coroutine
    def _coroutine_steps(self) -> Generator[Any, Any, Any]:
        # Not types.coroutine(self._steps): that sets the flag on _steps' own code object.
        for value in self.yields:
            self.log.append(("got", repr((yield value))))
        return self._finish()

    def __call__(self, *message: Any) -> Any:
        self.log.append(("called", *map(repr, message)))
        self._reenter("call")
        peer = self
        shape = self.shape
        if shape == "async def":
            raise AssertionError("handled by as_callable")
        if shape == "function raising":
            raise ERRORS[self.error or "ValueError"]()
        if shape == "function returning a coroutine":

            async def coroutine() -> Any:
                for value in peer.yields:
                    peer.log.append(("got", repr(await _Yield(value))))
                return peer._finish()

            return coroutine()
        if shape == "function returning an awaitable":
            return _Awaitable(self)
        if shape == "function returning a generator-based awaitable":
            return _GeneratorAwaitable(self)
        if shape == "function returning a @types.coroutine generator":
            return self._coroutine_steps()
        if shape == "function returning a plain generator":
            return self._steps()
        if shape == "function returning a plain iterator":
            return iter([1, 2])
        if shape == "function returning an object whose __await__ raises":
            return _AwaitRaises()
        return _AwaitNonIterator()

    def as_callable(self) -> Callable[..., Any]:
        if self.shape != "async def":
            return self
        peer = self

        async def call(*message: Any) -> Any:
            peer.log.append(("called", *map(repr, message)))
            peer._reenter("call")
            for value in peer.yields:
                peer.log.append(("got", repr(await _Yield(value))))
            return peer._finish()

        return call


class _Yield:
    """Yields one value to whoever drives the await, returns what it is sent."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.value)


class _Awaitable:
    """__await__ returns an iterator that is no generator: no send(), throw() or close()."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def __await__(self) -> Iterator[Any]:
        return _Iterator(self.peer)


class _Iterator:
    def __init__(self, peer: Peer) -> None:
        self.peer, self.pending = peer, list(peer.yields)

    def __iter__(self) -> _Iterator:
        return self

    def __next__(self) -> Any:
        if self.pending:
            return self.pending.pop(0)
        raise StopIteration(self.peer._finish())


class _GeneratorAwaitable:
    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield from self.peer._steps())


class _AwaitRaises:
    def __await__(self) -> Any:
        raise RuntimeError("__await__ failed")


class _AwaitNonIterator:
    def __await__(self) -> Any:
        return 5


peers = st.builds(
    Peer,
    shape=st.sampled_from(SHAPES),
    yields=st.lists(st.sampled_from([None, 0, "tick"]), max_size=2),
    reentry=st.none() | st.tuples(st.sampled_from(["call", "await"]), st.sampled_from(["send", "throw", "close"])),
    collect=st.booleans(),
    error=st.none() | st.sampled_from(sorted(ERRORS)),
    result=results(),
)
# What the driver does at each await point: send None (go on), throw CancelledError, close, collect.
actions = st.lists(st.sampled_from(["send", "send", "throw", "close", "collect"]), max_size=4)


def _connected() -> tuple[WebSocket, list[Any]]:
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    ws = WebSocket(make_scope(), receive, send)
    try:
        ws.accept().send(None)
    except StopIteration:
        pass
    return ws, sent


def _exc(exc: BaseException) -> tuple[Any, ...]:
    return ("raised", type(exc).__name__, str(exc), getattr(exc, "code", None))


def _drive(awaitable: Any, plan: list[str]) -> list[Any]:
    """Run `awaitable` as an event loop would, doing `plan` at its await points; the trace."""
    trace: list[Any] = []
    try:
        iterator = awaitable.__await__()
    except BaseException as exc:
        return [_exc(exc)]
    for index in range(len(plan) + 8):
        action = plan[index] if index < len(plan) else "send"
        if action == "collect":
            gc.collect()
            action = "send"
        try:
            if action == "send":
                yielded = iterator.send(None)
            elif action == "throw":
                yielded = iterator.throw(asyncio.CancelledError("cancelled by the loop"))
            else:
                iterator.close()
                trace.append("closed")
                return trace
        except StopIteration as stop:
            trace.append(("returned", repr(stop.value)))
            return trace
        except BaseException as exc:
            trace.append(_exc(exc))
            return trace
        trace.append(("yielded", repr(yielded)))
    iterator.close()
    trace.append("still running: closed")
    return trace


def _run(name: str, python: bool, peer: Peer, plan: list[str]) -> Any:
    ws, sent = _connected()
    receiving = name.startswith("receive")
    setattr(ws, "_receive" if receiving else "_send", peer.as_callable())
    method = getattr(WebSocket, name)
    if python:
        method = method.__wrapped__
    peer.log.clear()
    peer.python = python
    try:
        peer.target = method(ws, *HOT[name])
    except BaseException as exc:
        trace = [_exc(exc)]
    else:
        trace = _drive(peer.target, plan)
    peer.target = None
    gc.collect()
    return {
        "trace": trace,
        "peer": list(peer.log),
        "sent": sent[1:],
        "state": ws.connection_state,
        "close": (ws.close_code, ws.close_reason),
    }


@settings(max_examples=int(os.environ.get("FASTWARE_ADVERSARIAL_EXAMPLES", "300")), deadline=None)
@given(st.sampled_from(sorted(HOT)), peers, actions)
def test_an_adversarial_server_gets_the_same_from_both_paths(name: str, peer: Peer, plan: list[str]) -> None:
    python = _run(name, True, peer, plan)
    fast = _run(name, False, peer, plan)
    assert fast == python
