"""The C fast path never crashes the interpreter: each way known to have crashed it, in a subprocess.

Each scenario runs in a fresh interpreter, with fastware._speedups and with
FASTWARE_NO_SPEEDUPS=1, so a segfault fails its test instead of killing pytest; both paths must
print the same outcome, the one the generated Python methods give. The four classes
(issue 16, section 2) and their causes:

1. re-entry while starting: the server's send() calls send()/throw()/close() on the very
   awaitable that is calling it, before that awaitable held what it awaits;
2. re-entry while the server's coroutine runs: the same from inside receive(), which freed the
   coroutine still executing;
3. a borrowed payload: a colliding key's __eq__ removes the payload during the next lookup;
4. a foreign object: a class whose `_send` is another class's slot descriptor, read at that
   class's offset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from support import ROOT, TIMEOUT

from fastware import _accel

HEAD = """
import asyncio, gc, json, sys
sys.path.insert(0, {tests!r})
from support import FakeServer, make_scope
import fastware
from fastware import WebSocket


async def accepted():
    server = FakeServer({{"type": "websocket.connect"}})
    ws = WebSocket(make_scope(), server.receive, server.send)
    await ws.accept()
    return ws, server


def outcome(call):
    try:
        return ["returned", repr(call())]
    except BaseException as exc:
        return ["raised", repr(exc)]


async def awaited(awaitable):
    try:
        return ["returned", repr(await awaitable)]
    except BaseException as exc:
        return ["raised", repr(exc)]

"""

TAIL = """
result = asyncio.run(main())
print(json.dumps({"enabled": fastware.SPEEDUPS.enabled, "result": result}))
"""

ALREADY = ["raised", "ValueError('coroutine already executing')"]

SCENARIOS: dict[str, tuple[str, object]] = {
    # 1. Re-entry while starting: send is a plain function returning an awaitable.
    "starting: send() calls step.send": (
        """
        async def main():
            ws, server = await accepted()
            seen = {}
            def send(message):
                seen["reentry"] = outcome(lambda: seen["step"].send(None))
                gc.collect()
                return server.send(message)
            ws._send = send
            seen["step"] = ws.send_text("x")
            seen["awaited"] = await awaited(seen["step"])
            del seen["step"]
            seen["sent"] = server.sent[-1]
            return seen
        """,
        {"reentry": ALREADY, "awaited": ["returned", "None"], "sent": {"type": "websocket.send", "text": "x"}},
    ),
    "starting: send() calls step.throw": (
        """
        async def main():
            ws, server = await accepted()
            seen = {}
            def send(message):
                seen["reentry"] = outcome(lambda: seen["step"].throw(KeyError("thrown")))
                return server.send(message)
            ws._send = send
            seen["step"] = ws.send_bytes(b"x")
            seen["awaited"] = await awaited(seen["step"])
            del seen["step"]
            return seen
        """,
        {"reentry": ALREADY, "awaited": ["returned", "None"]},
    ),
    "starting: send() calls step.close": (
        """
        async def main():
            ws, server = await accepted()
            seen = {}
            def send(message):
                seen["reentry"] = outcome(lambda: seen["step"].close())
                return server.send(message)
            ws._send = send
            seen["step"] = ws.send_text("x")
            seen["awaited"] = await awaited(seen["step"])
            del seen["step"]
            return seen
        """,
        {"reentry": ALREADY, "awaited": ["returned", "None"]},
    ),
    "starting: receive() raises after calling step.send": (
        """
        async def main():
            ws, server = await accepted()
            seen = {}
            def receive():
                seen["reentry"] = outcome(lambda: seen["step"].send(None))
                raise OSError("gone")
            ws._receive = receive
            seen["step"] = ws.receive_text()
            seen["awaited"] = await awaited(seen["step"])
            del seen["step"]
            return seen
        """,
        {"reentry": ALREADY, "awaited": ["raised", "OSError('gone')"]},
    ),
    # 2. Re-entry while the server's coroutine runs.
    "running: receive() calls step.close": (
        """
        async def main():
            ws, server = await accepted()
            seen = {}
            async def receive():
                seen["reentry"] = outcome(lambda: seen["step"].close())
                gc.collect()
                await asyncio.sleep(0)
                return {"type": "websocket.receive", "text": "t"}
            ws._receive = receive
            seen["step"] = ws.receive_text()
            seen["awaited"] = await awaited(seen["step"])
            del seen["step"]
            return seen
        """,
        {"reentry": ALREADY, "awaited": ["returned", "'t'"]},
    ),
    "running: receive() calls step.send": (
        """
        async def main():
            ws, server = await accepted()
            seen = {}
            async def receive():
                seen["reentry"] = outcome(lambda: seen["step"].send(None))
                return {"type": "websocket.receive", "bytes": b"b"}
            ws._receive = receive
            seen["step"] = ws.receive_bytes()
            seen["awaited"] = await awaited(seen["step"])
            del seen["step"]
            return seen
        """,
        {"reentry": ALREADY, "awaited": ["returned", "b'b'"]},
    ),
    "running: receive() calls step.throw": (
        """
        async def main():
            ws, server = await accepted()
            seen = {}
            async def receive():
                seen["reentry"] = outcome(lambda: seen["step"].throw(KeyError("k")))
                return {"type": "websocket.receive", "text": "t"}
            ws._receive = receive
            seen["step"] = ws.receive_text()
            seen["awaited"] = await awaited(seen["step"])
            del seen["step"]
            return seen
        """,
        {"reentry": ALREADY, "awaited": ["returned", "'t'"]},
    ),
    "running: send() coroutine closes its step, last reference dropped": (
        """
        async def main():
            ws, server = await accepted()
            seen = {}
            async def send(message):
                step = seen.pop("step")  # the only other reference is the awaiting frame's
                seen["reentry"] = outcome(step.close)
                del step
                gc.collect()
                await asyncio.sleep(0)
            ws._send = send
            seen["step"] = ws.send_text("x")
            task = asyncio.ensure_future(seen["step"])
            seen["awaited"] = await awaited(task)
            return seen
        """,
        {"reentry": ALREADY, "awaited": ["returned", "None"]},
    ),
    # 3. A borrowed payload: the key colliding with the other key removes the payload while it is read.
    "borrowed payload: text": (
        """
        class Evil:
            def __init__(self, message, key):
                self.message, self.key = message, key
            def __hash__(self):
                return hash("bytes")
            def __eq__(self, other):
                self.message.pop(self.key, None)
                gc.collect()
                return False

        async def main():
            ws, server = await accepted()
            async def receive():
                message = {"type": "websocket.receive", "text": "".join(["pay", "load"] * 3)}
                message[Evil(message, "text")] = 1
                return message
            ws._receive = receive
            return await awaited(ws.receive_text())
        """,
        ["returned", "'payloadpayloadpayload'"],
    ),
    "borrowed payload: bytes": (
        """
        class Evil:
            def __init__(self, message, key):
                self.message, self.key = message, key
            def __hash__(self):
                return hash("text")
            def __eq__(self, other):
                self.message.pop(self.key, None)
                return False

        async def main():
            ws, server = await accepted()
            async def receive():
                message = {"type": "websocket.receive", "bytes": bytes(range(40))}
                message[Evil(message, "bytes")] = 1
                return message
            ws._receive = receive
            return await awaited(ws.receive_bytes())
        """,
        ["returned", repr(bytes(range(40)))],
    ),
    "borrowed payload: type removed": (
        """
        class Evil:
            def __init__(self, message):
                self.message = message
            def __hash__(self):
                return hash("bytes")
            def __eq__(self, other):
                self.message.clear()
                return False

        async def main():
            ws, server = await accepted()
            async def receive():
                message = {"type": "websocket.receive", "text": "x" * 50}
                message[Evil(message)] = 1
                return message
            ws._receive = receive
            return await awaited(ws.receive_text())
        """,
        ["raised", "ServerProtocolError('Unexpected ASGI message None from the server in state CONNECTED')"],
    ),
    # 4. A foreign object: a test double with another class's slot descriptor.
    "foreign object": (
        """
        async def main():
            results = {}
            for n in (1, 3, 8, 200):
                Other = type("Other", (), {"__slots__": tuple(f"s{i}" for i in range(n))})
                descriptor = getattr(Other, f"s{n - 1}")
                Fake = type("Fake", (), {"_open": True, "_send": descriptor, "_receive": descriptor,
                                         "_json_dumps": descriptor})
                for name, args in (("send_text", ("x",)), ("send_bytes", (b"x",)), ("receive_text", ()),
                                   ("receive_bytes", ()), ("send_json", ([1],))):
                    try:  # send_json reads _json_dumps when called, as the Python method does
                        awaitable = getattr(WebSocket, name)(Fake(), *args)
                    except TypeError as exc:
                        results[f"{name} {n}"] = ["raised", repr(exc)]
                    else:
                        results[f"{name} {n}"] = await awaited(awaitable)
            return sorted(set(map(tuple, results.values()))), len(results)
        """,
        [
            [
                ["raised", "TypeError(\"descriptor 's0' for 'Other' objects doesn't apply to a 'Fake' object\")"],
                ["raised", "TypeError(\"descriptor 's199' for 'Other' objects doesn't apply to a 'Fake' object\")"],
                ["raised", "TypeError(\"descriptor 's2' for 'Other' objects doesn't apply to a 'Fake' object\")"],
                ["raised", "TypeError(\"descriptor 's7' for 'Other' objects doesn't apply to a 'Fake' object\")"],
            ],
            20,
        ],
    ),
    "foreign object: a subclass's property and a class changed after use": (
        """
        async def main():
            ws, server = await accepted()
            await ws.send_text("cached")  # the slot offset is now cached for WebSocket
            slot = WebSocket.__dict__["_send"]

            def logged(self):
                async def send(message):
                    server.sent.append({"via": "property", **message})
                return send

            via_property = property(logged, slot.__set__)

            class Logged(WebSocket):
                __slots__ = ()
                _send = via_property

            sub = Logged(make_scope(), server.receive, server.send)
            server.push({"type": "websocket.connect"})
            await sub.accept()
            await sub.send_text("sub")
            WebSocket._send = via_property
            try:
                await ws.send_text("patched")
            finally:
                WebSocket._send = slot
            await ws.send_text("restored")
            return [m.get("via", "slot") + " " + m.get("text", "") for m in server.sent if "text" in m]
        """,
        ["slot cached", "property sub", "property patched", "slot restored"],
    ),
}


def run(body: str, no_speedups: bool) -> dict[str, object]:
    script = textwrap.dedent(HEAD.format(tests=str(ROOT / "tests"))) + textwrap.dedent(body) + TAIL
    env = {k: v for k, v in os.environ.items() if k != "FASTWARE_NO_SPEEDUPS"}
    if no_speedups:
        env["FASTWARE_NO_SPEEDUPS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=TIMEOUT * 3, check=False
    )
    # A crash shows as a negative return code (the signal), with whatever the C code printed.
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr}"
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _built() -> bool:
    # Built here, whether or not this process switched it off.
    return _accel.SPEEDUPS.enabled or not _accel.SPEEDUPS.reason.startswith("not built")


@pytest.mark.parametrize("path", ["c", "python"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_misuse_gives_the_python_paths_outcome_and_never_crashes(name: str, path: str) -> None:
    if path == "c" and not _built():
        pytest.skip(f"the C fast path is {_accel.SPEEDUPS.reason}")
    body, expected = SCENARIOS[name]
    done = run(body, no_speedups=path == "python")
    assert done["enabled"] is (path == "c")
    assert done["result"] == expected
