"""The most common app shape: one task reads (iter_text) while another streams, until the client leaves.

Each connection appends one JSON line to the file named by FASTWARE_CONCURRENT_LOG: what the reader
and the writer ended with, and close_code. ``?pause=1`` makes the writer pause between messages, so
the reader notices the client leave first; without it the writer mostly notices first. ``?slow=1``
sends bytearrays, which take the checked (slow) path.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from fastware import WebSocket, WebSocketDisconnect


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    ws = WebSocket(scope, receive, send)
    query = ws.query_string
    pause, slow = "pause=1" in query, "slow=1" in query
    await ws.accept()
    writer_end: dict[str, Any] = {}

    async def writer() -> None:
        n = 0
        try:
            while True:
                n += 1
                if slow:
                    await ws.send_bytes(bytearray(b"%d" % n))
                else:
                    await ws.send_text(str(n))
                await asyncio.sleep(0.002 if pause else 0)
        except WebSocketDisconnect as exc:
            writer_end.update(kind="WebSocketDisconnect", code=exc.code)
        except BaseException as exc:
            writer_end.update(kind=type(exc).__name__, error=str(exc))
            raise

    task = asyncio.create_task(writer())
    reader: dict[str, Any] = {}
    try:
        async for _ in ws.iter_text():
            pass
        reader.update(kind="end", code=ws.close_code)
    except BaseException as exc:
        reader.update(kind=type(exc).__name__, error=str(exc))
        raise
    finally:
        await asyncio.wait({task}, timeout=5)  # the writer ends on its own once the client has gone
        task.cancel()
        await ws.close()  # a no-op: the client has gone
        record = {
            "reader": reader,
            "writer": writer_end,
            "close_code": ws.close_code,
            "state": ws.connection_state.name,
        }
        with open(os.environ["FASTWARE_CONCURRENT_LOG"], "a") as log:
            log.write(json.dumps(record) + "\n")
