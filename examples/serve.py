"""Start the example apps under uvicorn on 127.0.0.1 and print their URLs.

One process serves both: the chat (its page at /chat, its sockets at
/chat/ws/<room>) and, on every other path, the echo app.

Usage: python -m examples.serve [--port N]   (default 8000; 0 picks a free port)
"""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

import uvicorn

from examples.chat import ChatApp
from examples.echo import app as echo_app
from fastware.origin import OriginGuard


def build_app(port: int) -> Any:
    """The echo app, with the chat at /chat; the chat's sockets only take its own page's origin."""
    # allow_missing: non-browser clients (the websockets library, curl) send no Origin.
    origins = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    chat = OriginGuard(ChatApp(), origins, allow_missing=True)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if path == "/chat" or path.startswith("/chat/"):
            await chat(scope, receive, send)
        else:
            await echo_app(scope, receive, send)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    print(f"fastware echo app: ws://127.0.0.1:{port}/ (text and bytes), ws://127.0.0.1:{port}/json (JSON)", flush=True)
    print(f"fastware chat: http://127.0.0.1:{port}/chat?room=lobby&name=ann (open it in two tabs)", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    server = uvicorn.Server(uvicorn.Config(build_app(port), log_level="warning"))
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
