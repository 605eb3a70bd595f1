"""A TCP proxy in front of redis-server that can lose the reply to a command the server did run."""

from __future__ import annotations

import asyncio
import contextlib


class LossyProxy:
    """Forwards 127.0.0.1:<port> to a server; ``lose_replies(n, marker)`` makes the next ``n``
    requests containing ``marker`` reach the server, and then cuts the connection instead of
    passing the reply back: what a client sees when a reply is lost on the way."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.lost = 0
        self._to_lose = 0
        self._marker = b""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def lose_replies(self, n: int, marker: bytes = b"EVALSHA") -> None:
        self._to_lose, self._marker = n, marker

    async def __aenter__(self) -> LossyProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        doomed = asyncio.Event()

        async def requests() -> None:
            while data := await reader.read(65536):
                if self._to_lose and self._marker in data:
                    self._to_lose -= 1
                    doomed.set()
                up_writer.write(data)
                await up_writer.drain()

        async def replies() -> None:
            while data := await up_reader.read(65536):
                if doomed.is_set():
                    self.lost += 1
                    return  # the server ran it; the client never hears
                writer.write(data)
                await writer.drain()

        try:
            pumps = [asyncio.create_task(requests()), asyncio.create_task(replies())]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            for w in (writer, up_writer):
                w.close()
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await w.wait_closed()
            self._tasks.discard(task)
