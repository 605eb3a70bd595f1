"""An app-level keepalive: ping a quiet client, drop it if it does not answer.

Serve it with ``uvicorn examples.keepalive:app``. Each JSON message is echoed back
as ``{"echo": message}``. After ``idle`` seconds without a message the app sends
``{"type": "ping"}``; the client answers ``{"type": "pong"}`` (or sends anything).
If nothing comes within ``grace`` seconds more, the app closes with 4408. See
docs/keepalive.md for when this is needed beside the server's own pings.
"""

from __future__ import annotations

# --8<-- [start:app]
from fastware import Receive, Scope, Send, WebSocket, WebSocketDisconnect
from fastware.types import ASGIApp

# Close code for a client that missed its pong (private range; cf. HTTP 408).
KEEPALIVE_TIMEOUT = 4408


def make_app(idle: float = 30.0, grace: float = 10.0) -> ASGIApp:
    """Echo; ping after ``idle`` quiet seconds, close ``grace`` s later."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        pinged = False
        try:
            while True:
                try:
                    timeout = grace if pinged else idle
                    message = await ws.receive_json(timeout=timeout)
                except TimeoutError:  # the connection stays usable
                    if pinged:
                        reason = "keepalive timeout"
                        await ws.close(KEEPALIVE_TIMEOUT, reason=reason)
                        return
                    await ws.send_json({"type": "ping"})
                    pinged = True
                    continue
                pinged = False  # any message shows the client is there
                if message != {"type": "pong"}:
                    await ws.send_json({"echo": message})
        except WebSocketDisconnect:
            pass  # the client left; nothing to clean up

    return app


app = make_app()
# --8<-- [end:app]
