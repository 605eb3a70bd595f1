"""Start the example app under uvicorn on 127.0.0.1 and print its URL.

Usage: python -m examples.serve [--port N]   (default 8000; 0 picks a free port)
"""

from __future__ import annotations

import argparse
import asyncio
import socket

import uvicorn

from examples.echo import app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    print(f"fastware echo app: ws://127.0.0.1:{port}/ (text and bytes), ws://127.0.0.1:{port}/json (JSON)", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
