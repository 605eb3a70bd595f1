"""The ASGI application every real server in the matrix runs.

One app, routed by path. Each connection may carry ``?key=K``; what its
handler saw (a WebSocketDisconnect's code and reason, an error fastware
raised, whether it finished) is recorded under K, and the test reads it back
over another WebSocket, ``/result?key=K``, which waits (bounded) for the
handler to finish. The servers run this module in their own process, so the
record is the only way to see the application side.
"""

from __future__ import annotations

import asyncio
import os
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from examples.lifespan import lifespan as _lifespan
from fastware import WebSocket, WebSocketDisconnect
from fastware.errors import UnsupportedByServerError, UnsupportedByServerWarning

TIMEOUT = float(os.environ.get("FASTWARE_TEST_TIMEOUT", "10"))
# How long /send-until-gone keeps sending into a dropped connection before giving up.
SEND_DEADLINE = float(os.environ.get("FASTWARE_SEND_DEADLINE", "2"))

Record = dict[str, Any]
Handler = Callable[[WebSocket, Record], Awaitable[None]]

RECORDS: dict[str, Record] = {}
FINISHED: dict[str, asyncio.Event] = {}
# Handlers started and finished (observers excluded): equal when none is left hanging.
COUNTS = {"started": 0, "finished": 0}


def _finished(key: str) -> asyncio.Event:
    # Created on first use, inside the server's event loop.
    event = FINISHED.get(key)
    if event is None:
        event = FINISHED[key] = asyncio.Event()
    return event


def _params(ws: WebSocket) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(ws.query_string).items()}


def _fastware_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    # catch_warnings is process-wide: keep fastware's own, not what the server warns meanwhile.
    return [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, UnsupportedByServerWarning)]


def _disconnect(record: Record, exc: WebSocketDisconnect) -> None:
    record["disconnect"] = {"code": exc.code, "reason": exc.reason}


# Handlers -------------------------------------------------------------------


async def echo_text(ws: WebSocket, record: Record) -> None:
    await ws.accept()
    count = 0
    try:
        while True:
            await ws.send_text(await ws.receive_text())
            count += 1
    except WebSocketDisconnect as exc:
        _disconnect(record, exc)
    finally:
        record["echoed"] = count


async def echo_bytes(ws: WebSocket, record: Record) -> None:
    await ws.accept()
    try:
        while True:
            await ws.send_bytes(await ws.receive_bytes())
    except WebSocketDisconnect as exc:
        _disconnect(record, exc)


async def echo_json(ws: WebSocket, record: Record) -> None:
    await ws.accept()
    try:
        while True:
            await ws.send_json(await ws.receive_json())
    except WebSocketDisconnect as exc:
        _disconnect(record, exc)


async def subprotocol(ws: WebSocket, record: Record) -> None:
    offered = list(ws.scope.get("subprotocols") or ())
    record["offered"] = offered
    # The last one offered, so a server that picks the first itself would be caught.
    await ws.accept(subprotocol=offered[-1] if offered else None)
    await ws.send_text(ws.subprotocol or "")
    await _wait_for_disconnect(ws, record)


async def accept_headers(ws: WebSocket, record: Record) -> None:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await ws.accept(headers=[(b"x-fastware", b"Accepted"), (b"set-cookie", b"Session=AbC")])
        # What fastware said about the headers (policy rules 1 and 4: sent, with a word when they may be lost).
        record["warnings"] = _fastware_warnings(caught)
    except UnsupportedByServerError as exc:
        # The documented behaviour on a server too old for accept headers; accept without them.
        record["unsupported"] = str(exc)
        await ws.accept()
    await _wait_for_disconnect(ws, record)


async def app_close(ws: WebSocket, record: Record) -> None:
    params = _params(ws)
    await ws.accept()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await ws.close(int(params.get("code", "1000")), params.get("reason"))
        record["warnings"] = _fastware_warnings(caught)
        record["closed"] = True
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        raise
    await _wait_for_disconnect(ws, record)


async def wait_disconnect(ws: WebSocket, record: Record) -> None:
    await ws.accept()
    await ws.send_text("ready")
    await _wait_for_disconnect(ws, record)


async def _wait_for_disconnect(ws: WebSocket, record: Record) -> None:
    try:
        while True:
            await ws._receive_data(timeout=TIMEOUT)
    except WebSocketDisconnect as exc:
        _disconnect(record, exc)


async def send_until_gone(ws: WebSocket, record: Record) -> None:
    """Send, never receive, until the server tells fastware the client is gone (or the deadline passes)."""
    await ws.accept()
    await ws.send_text("ready")
    deadline = time.monotonic() + SEND_DEADLINE
    sent = 0
    try:
        while time.monotonic() < deadline:
            await ws.send_text("x" * 1024)
            sent += 1
            await asyncio.sleep(0.005)
        record["gave_up_after"] = sent
    except WebSocketDisconnect as exc:
        _disconnect(record, exc)
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"


async def reject(ws: WebSocket, record: Record) -> None:
    await ws.close()
    record["rejected"] = True


async def deny(ws: WebSocket, record: Record) -> None:
    status = int(_params(ws).get("status", "401"))
    try:
        await ws.send_denial_response(
            status, headers=[(b"x-denied", b"By-App"), (b"content-type", b"text/plain")], body=b"denied by fastware"
        )
        record["denied"] = True
    except UnsupportedByServerError as exc:
        # The documented fallback: close() before accept() (HTTP 403).
        record["unsupported"] = str(exc)
        await ws.close()
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        raise


async def scope_info(ws: WebSocket, record: Record) -> None:
    await ws.accept()
    await ws.send_json(
        {
            # What the server declared, as it put it (None: it made no claim).
            "spec_version": (ws.scope.get("asgi") or {}).get("spec_version"),
            "extensions": sorted(ws.scope.get("extensions") or {}),
            "query_string": ws.query_string,
        }
    )
    await _wait_for_disconnect(ws, record)


async def details(ws: WebSocket, record: Record) -> None:
    """The Starlette-style connection details, as fastware reads them from this server's scope."""
    await ws.accept()
    client = ws.client
    await ws.send_json(
        {
            "client": None if client is None else [client.host, client.port, type(client.port).__name__],
            "url": ws.url,
            "url_path": ws.url.path,
            "query": ws.query_params.multi_items(),
            "cookies": ws.cookies,
            "user_before": getattr(ws.state, "user", None),  # set below by an earlier connection?
            "lifespan": getattr(ws.state, "lifespan", None),  # what the lifespan put in the state
        }
    )
    ws.state.user = "ann"
    await _wait_for_disconnect(ws, record)


async def result(ws: WebSocket, record: Record) -> None:
    """Send the record of ``?of=K`` once its handler finished (or after TIMEOUT, marked unfinished)."""
    of = _params(ws).get("of", "")
    await ws.accept()
    try:
        await asyncio.wait_for(_finished(of).wait(), TIMEOUT)
    except TimeoutError:
        pass
    await ws.send_json(RECORDS.get(of, {"missing": True}))
    await ws.close()


async def stats(ws: WebSocket, record: Record) -> None:
    await ws.accept()
    await ws.send_json(dict(COUNTS))
    await ws.close()


ROUTES: dict[str, Handler] = {
    "/echo/text": echo_text,
    "/echo/bytes": echo_bytes,
    "/echo/json": echo_json,
    "/subprotocol": subprotocol,
    "/accept-headers": accept_headers,
    "/close": app_close,
    "/wait-disconnect": wait_disconnect,
    "/send-until-gone": send_until_gone,
    "/reject": reject,
    "/deny": deny,
    "/scope": scope_info,
    "/details": details,
    "/result": result,
    "/stats": stats,
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        if isinstance(scope.get("state"), dict):  # servers with lifespan state copy it into each connection
            scope["state"]["lifespan"] = "started"
        await _lifespan(receive, send)
        return
    if scope["type"] != "websocket":
        raise RuntimeError(f"this test app serves WebSocket only, not {scope['type']!r}")
    ws = WebSocket(scope, receive, send)
    handler = ROUTES.get(scope["path"])
    if handler is None:
        await ws.close()
        return
    if handler is result or handler is stats:
        # Observers: not recorded, not counted, so they do not disturb what they observe.
        await handler(ws, {})
        return
    key = _params(ws).get("key") or f"anonymous-{id(ws)}"
    record: Record = RECORDS.setdefault(key, {})
    COUNTS["started"] += 1
    try:
        await handler(ws, record)
    except Exception as exc:
        record.setdefault("error", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        record["finished"] = True
        COUNTS["finished"] += 1
        _finished(key).set()
