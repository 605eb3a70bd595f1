"""A reader, a writer and a closer share one connection while the client leaves; hypothesis picks
the order in which every await point in the server resumes, and which send is cancelled there.

The model server behaves as uvicorn does where it matters: its send() takes the message at once
and then waits (a drain), raises an OSError once the client has gone, and refuses, with its own
RuntimeError, anything sent after a websocket.close. Whatever the schedule: no task fails with
anything but WebSocketDisconnect (or WebSocketStateError for a send after the app's own close),
nothing reaches the server after the close, the state never moves back, and the reader and
close_code end with the code the client really sent. Run on both paths (CI runs tests/property
again with FASTWARE_NO_SPEEDUPS=1).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import LATER_STATES, assert_valid, make_scope

from fastware import State, WebSocket, WebSocketDisconnect, WebSocketStateError

WS_1006_ABNORMAL = 1006
CLIENT_CODE = 4001  # the client leaves with this
APP_CODE = 4000  # the app's closer closes with this; the client echoes it


class ClientGone(OSError):
    pass


class Tracked(WebSocket):
    """A WebSocket that records every state it enters, so that a step back cannot hide between checks."""

    __slots__ = ("history",)

    def _set_state(self, state: State) -> None:
        try:
            self.history.append(state)
        except AttributeError:  # the first state, set by __init__
            self.history = [state]
        super()._set_state(state)


@dataclass
class Gate:
    kind: str  # "receive" or "send"
    task: str
    future: asyncio.Future[None]


@dataclass
class ModelServer:
    incoming: deque[dict[str, Any]] = field(default_factory=deque)
    taken: list[Mapping[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    client_left: int | None = None  # the code the client closed with, once it has
    close_taken: bool = False
    last_disconnect: dict[str, Any] | None = None

    def leave(self, code: int) -> None:
        if self.client_left is None:
            self.client_left = code
            self.incoming.append({"type": "websocket.disconnect", "code": code, "reason": ""})

    async def _gate(self, kind: str) -> None:
        task = asyncio.current_task()
        gate = Gate(kind, task.get_name() if task else "?", asyncio.get_running_loop().create_future())
        self.gates.append(gate)
        try:
            await gate.future
        finally:
            if gate in self.gates:
                self.gates.remove(gate)

    async def receive(self) -> dict[str, Any]:
        await self._gate("receive")  # opened only when a message is there
        if self.incoming:
            message = self.incoming.popleft()
            if message["type"] == "websocket.disconnect":
                self.last_disconnect = message
            return message
        assert self.last_disconnect is not None
        return dict(self.last_disconnect)  # as uvicorn: a receive after the disconnect gets it again

    async def send(self, message: Mapping[str, Any]) -> None:
        assert_valid(message, "SendMessage")
        if self.close_taken:
            self.violations.append(f"{message['type']} after websocket.close")
            raise RuntimeError(f"Unexpected ASGI message {message['type']!r} after sending 'websocket.close'")
        if self.client_left is None:
            self.taken.append(message)
            if message["type"] == "websocket.close":
                self.close_taken = True
        await self._gate("send")  # the write drains
        if message["type"] == "websocket.close" and self.client_left is None:
            self.leave(message["code"])  # the client answers the close frame
        elif self.client_left is not None and not (message["type"] == "websocket.close" and self.close_taken):
            raise ClientGone("the client has gone")

    def eligible(self) -> list[Gate]:
        return [g for g in self.gates if g.kind == "send" or self.incoming or self.last_disconnect]


async def scenario(data: st.DataObject) -> None:
    server = ModelServer()
    server.incoming.append({"type": "websocket.connect"})
    ws = Tracked(make_scope(), server.receive, server.send)
    outcome: dict[str, Any] = {}

    async def reader() -> None:
        try:
            await ws.accept()
        except WebSocketDisconnect as exc:  # the client left during the handshake
            assert exc.code == WS_1006_ABNORMAL
        got = [text async for text in ws.iter_text()]
        outcome["reader"] = (got, ws.close_code)
        await ws.close()  # the usual cleanup: a no-op, the client has gone

    async def writer(sends: list[str]) -> None:
        try:
            for kind in sends:
                if kind == "text":
                    await ws.send_text("t")
                elif kind == "bytes":
                    await ws.send_bytes(b"b")
                elif kind == "json":
                    await ws.send_json([1])
                else:
                    await ws.send_bytes(bytearray(b"slow path"))
        except WebSocketDisconnect as exc:
            outcome["writer"] = exc
        except WebSocketStateError as exc:
            outcome["writer"] = exc

    async def closer() -> None:
        await ws.close(APP_CODE)

    tasks: dict[str, asyncio.Task[None]] = {"reader": asyncio.create_task(reader(), name="reader")}
    started_writer = started_closer = False
    client_frames = data.draw(st.integers(0, 3), label="client frames")

    async def settle() -> None:
        # Let every task run until it waits at a gate of the server or has ended.
        for _ in range(50):
            await asyncio.sleep(0)
        waiting = {g.task for g in server.gates}
        stuck = [n for n, t in tasks.items() if not t.done() and n not in waiting]
        assert not stuck, f"tasks waiting outside the server: {stuck}"

    for _ in range(200):
        await settle()
        if all(t.done() for t in tasks.values()) and started_writer:
            break
        options: list[tuple[str, Any]] = [("open", g) for g in server.eligible()]
        if ws.connection_state is not State.CONNECTING and ws.connection_state is not State.HANDSHAKE:
            if not started_writer:
                options.append(("start writer", None))
            if not started_closer:
                options.append(("start closer", None))
        if server.client_left is None:
            options.append(("client leaves", None))
            if client_frames:
                options.append(("client sends", None))
        options += [("cancel", g) for g in server.gates if g.task in ("closer", "writer") and g.kind == "send"]
        assert options, "nothing can happen: a deadlock"
        action, gate = data.draw(st.sampled_from(options), label="step")
        if action == "open":
            gate.future.set_result(None)
        elif action == "cancel":
            tasks[gate.task].cancel()
        elif action == "start writer":
            started_writer = True
            sends = data.draw(st.lists(st.sampled_from(["text", "bytes", "json", "slow"]), max_size=6), label="writes")
            tasks["writer"] = asyncio.create_task(writer(sends), name="writer")
        elif action == "start closer":
            started_closer = True
            tasks["closer"] = asyncio.create_task(closer(), name="closer")
        elif action == "client leaves":
            server.leave(CLIENT_CODE)
        else:
            client_frames -= 1
            server.incoming.append({"type": "websocket.receive", "text": "c"})
    else:
        raise AssertionError("the schedule did not end")

    for name, task in tasks.items():
        if not task.cancelled() and task.exception() is not None:
            raise AssertionError(f"{name} failed") from task.exception()
    assert server.violations == []
    for before, after in zip(ws.history, ws.history[1:], strict=False):
        # The order of a connection's life comes from the generated machine (tests/support.py).
        assert after is before or after in LATER_STATES[before], f"state went back: {before.name} -> {after.name}"
        assert {before, after} != {State.CLOSED, State.LOST}, f"{before.name} -> {after.name}"
    # The reader ends with the code the client sent: its own 4001, or the echo of the app's close.
    final = server.client_left
    assert final in (CLIENT_CODE, APP_CODE)
    assert (ws.connection_state, ws.close_code) == (State.DISCONNECTED, final)
    assert outcome["reader"][1] == final
    writer_end = outcome.get("writer")
    if isinstance(writer_end, WebSocketDisconnect):
        assert writer_end.code in (WS_1006_ABNORMAL, final)
    elif isinstance(writer_end, WebSocketStateError):
        assert started_closer, "a send refused though the app never called close()"
    if tasks.get("closer") is not None and tasks["closer"].cancelled() and server.close_taken:
        assert len([m for m in server.taken if m["type"] == "websocket.close"]) == 1


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_schedule_of_reader_writer_closer_and_a_leaving_client(data: st.DataObject) -> None:
    asyncio.run(scenario(data))
