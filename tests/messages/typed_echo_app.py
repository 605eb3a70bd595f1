"""An ASGI app in validated mode that talks only through the typed pair: run by real servers in the tests."""

from __future__ import annotations

from typing import Any

from fastware import WebSocket, messages


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return  # lifespan and http are not part of this test app
    ws = WebSocket(scope, receive, send, validate=True)
    connect = await ws.receive_message()
    assert isinstance(connect, messages.WebSocketConnect)
    await ws.send_message(messages.WebSocketAccept())
    while True:
        message = await ws.receive_message()
        if isinstance(message, messages.WebSocketDisconnect):
            return
        assert isinstance(message, messages.WebSocketReceive)
        if message.text == "close":
            await ws.send_message(messages.WebSocketClose(code=4001, reason="typed goodbye"))
            return
        # The incoming model goes back out as it came: the same key set, text or bytes.
        await ws.send_message(messages.WebSocketSend(text=message.text, bytes=message.bytes_))
