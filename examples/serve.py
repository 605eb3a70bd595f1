"""Start the example apps under uvicorn on 127.0.0.1 and print their URLs.

One process serves both: the chat (its page at /chat, its sockets at
/chat/ws/<room>) and, on every other path, the echo app.

Usage: python -m examples.serve [--port N] [--redis URL] [--workers N]

``--port``: default 8000; 0 picks a free port (one worker only). ``--redis``: the
chat's rooms live on that Redis (default: $FASTWARE_REDIS_URL, else in the process),
so that several workers, or several hosts, serve one chat. ``--workers N`` runs N
uvicorn worker processes on the port; without ``--redis`` each would have its own
rooms, so it is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from typing import Any

import uvicorn

from examples.chat import ChatApp
from examples.chat.server import REDIS_URL_ENV
from examples.echo import app as echo_app
from fastware.origin import OriginGuard

PORT_ENV = "FASTWARE_EXAMPLES_PORT"  # how the workers learn the port the parent bound


def build_app(port: int, redis_url: str | None = None) -> Any:
    """The echo app, with the chat at /chat; the chat's sockets only take its own page's origin."""
    # allow_missing: non-browser clients (the websockets library, curl) send no Origin.
    origins = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    chat = OriginGuard(ChatApp(redis_url=redis_url), origins, allow_missing=True)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        # The lifespan goes to the chat: it starts and stops the chat's rooms (the echo app has nothing to start).
        if scope["type"] == "lifespan" or path == "/chat" or path.startswith("/chat/"):
            await chat(scope, receive, send)
        else:
            await echo_app(scope, receive, send)

    return app


def from_environment() -> Any:
    """The app of one worker process (``--workers``): port and Redis URL from the environment."""
    return build_app(int(os.environ[PORT_ENV]), os.environ.get(REDIS_URL_ENV) or None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--redis",
        default=os.environ.get(REDIS_URL_ENV) or None,
        metavar="URL",
        help=f"keep the chat's rooms on this Redis, e.g. redis://127.0.0.1:6379/0 (default: ${REDIS_URL_ENV})",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (needs --redis)")
    args = parser.parse_args()
    if args.workers > 1 and not args.redis:
        parser.error("--workers needs --redis: in-process rooms are not shared between workers")
    if args.workers > 1 and args.port == 0:
        parser.error("--workers needs a fixed --port")
    rooms = f"on Redis at {args.redis}" if args.redis else "in this process"
    if args.workers > 1:
        _banner(args.port, f"{rooms}, {args.workers} workers")
        os.environ[PORT_ENV] = str(args.port)
        os.environ[REDIS_URL_ENV] = args.redis
        uvicorn.run(
            "examples.serve:from_environment",
            factory=True,
            host="127.0.0.1",
            port=args.port,
            workers=args.workers,
            log_level="warning",
        )
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    _banner(port, rooms)
    server = uvicorn.Server(uvicorn.Config(build_app(port, args.redis), log_level="warning"))
    asyncio.run(server.serve(sockets=[sock]))
    sys.exit(0 if server.started else 1)


def _banner(port: int, rooms: str) -> None:
    print(f"fastware echo app: ws://127.0.0.1:{port}/ (text and bytes), ws://127.0.0.1:{port}/json (JSON)", flush=True)
    print(
        f"fastware chat: http://127.0.0.1:{port}/chat?room=lobby&name=ann (open it in two tabs); rooms {rooms}",
        flush=True,
    )
    print("Press Ctrl+C to stop.", flush=True)


if __name__ == "__main__":
    main()
