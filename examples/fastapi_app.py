"""A FastAPI app whose WebSocket route gets a fastware.WebSocket, in one annotation.

Run it with ``uvicorn examples.fastapi_app:app`` and connect to ``ws://127.0.0.1:8000/ws/lobby``:

- every JSON message ``m`` is answered with ``{"room": <room>, "echo": m}``;
- ``{"stream": n}`` is answered with ``{"i": 0}`` .. ``{"i": n - 1}``, sent as fast as the
  connection takes them, and the echo goes on after it;
- a frame that is not JSON text closes the connection with 1007 (1003 for a binary frame).

When the client leaves, even in the middle of a stream, the handler ends quietly: a send
into the vanished connection raises fastware's WebSocketDisconnect, which it catches.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from fastapi import FastAPI

from fastware import FrameTypeError, InvalidJSONError, WebSocketDisconnect
from fastware.integrations.fastapi import FastwareWebSocket

app = FastAPI()


def stream_request(message: Any) -> int | None:
    """n if the message is ``{"stream": n}`` with an integer n, else None."""
    if isinstance(message, dict):
        fields = cast("dict[str, Any]", message)
        if fields.keys() == {"stream"} and type(fields["stream"]) is int:
            return int(fields["stream"])
    return None


@app.websocket("/ws/{room}")
async def room_socket(ws: FastwareWebSocket, room: str) -> None:
    await ws.accept()
    try:
        while True:
            message: Any = await ws.receive_json()
            count = stream_request(message)
            if count is not None:
                for i in range(count):
                    await ws.send_json({"i": i})
                    # Let the event loop run: a send into a fast socket does not wait, and a loop that never
                    # waits starves every other connection, and never hears that this client left.
                    await asyncio.sleep(0)
            else:
                await ws.send_json({"room": room, "echo": message})
    except WebSocketDisconnect:
        pass  # the client left: while we waited for a message, or mid-stream (a send found it gone)
    except InvalidJSONError:
        await ws.close(1007, "expected a JSON text message")
    except FrameTypeError:
        await ws.close(1003, "expected a JSON text message, got a binary frame")
