"""A multi-room chat on plain ASGI with fastware: one HTML page and one WebSocket per member.

Run it with ``bash scripts/run.sh`` (with the echo app) or ``uvicorn examples.chat:app``,
then open http://127.0.0.1:8000/chat?room=lobby&name=ann in two browser tabs.
"""

from examples.chat.server import ChatApp, app

__all__ = ["ChatApp", "app"]
