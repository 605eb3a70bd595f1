"""A headless Chromium driven over the DevTools protocol with the websockets library.

Only what the chat's browser test needs: open a page, evaluate JavaScript in
it, and wait until an expression is truthy. Every wait is bounded; the
browser reaches nothing but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import websockets

# Debian's chromium package; FASTWARE_CHROMIUM points elsewhere.
CHROMIUM = os.environ.get("FASTWARE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

FLAGS = [
    "--headless",
    "--no-sandbox",  # needed as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-default-browser-check",
    "--no-proxy-server",
    # Loopback only: every host name but 127.0.0.1 fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


class BrowserError(RuntimeError):
    """The browser failed to start, or a DevTools command failed."""


class _NoContext(BrowserError):
    """The page is between documents (still loading): evaluating can be tried again."""


class Page:
    """One tab, attached over a flat DevTools session."""

    def __init__(self, connection: Any, session_id: str, timeout: float) -> None:
        self._connection = connection
        self._session_id = session_id
        self._timeout = timeout
        self._ids = itertools.count(1)

    async def command(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        payload = {"id": message_id, "method": method, "params": params, "sessionId": self._session_id}
        await self._connection.send(json.dumps(payload))
        async with asyncio.timeout(self._timeout):
            while True:
                reply = json.loads(await self._connection.recv())
                if reply.get("id") == message_id and reply.get("sessionId") == self._session_id:
                    break
        if "error" in reply:
            error = _NoContext if "execution context" in str(reply["error"]) else BrowserError
            raise error(f"{method} failed: {reply['error']}")
        return reply["result"]

    async def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        """The value of a JavaScript expression in the page (JSON-serializable values only)."""
        result = await self.command(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    async def navigate(self, url: str) -> None:
        """Load ``url`` and wait until the document has loaded."""
        result = await self.command("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"loading {url} failed: {result['errorText']}")
        await self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'", url)

    async def wait_for(self, expression: str, what: str) -> Any:
        """Poll until ``expression`` is truthy; return its value. TimeoutError names ``what``."""
        deadline = time.monotonic() + self._timeout
        value = None
        while True:
            with contextlib.suppress(_NoContext):
                value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page did not show {what} within {self._timeout}s (last value {value!r})")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def open_page(url: str, timeout: float) -> AsyncIterator[Page]:
    """Start a fresh headless Chromium, open ``url`` in a tab, yield the tab; stop the browser after."""
    if CHROMIUM is None:
        raise BrowserError("no chromium executable found")
    # Chromium's helper processes may still write to the profile as the browser stops: removing
    # it is best effort. Its log goes to a file, never to a pipe nobody reads (a full pipe blocks it).
    with (
        tempfile.TemporaryDirectory(prefix="fastware-chromium-", ignore_cleanup_errors=True) as profile,
        tempfile.TemporaryFile() as log,
    ):
        proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            endpoint = await _devtools_endpoint(Path(profile), proc, log, timeout)
            async with websockets.connect(endpoint, max_size=None, open_timeout=timeout) as connection:
                page = await _attach(connection, url, timeout)
                yield page
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)


async def _devtools_endpoint(profile: Path, proc: subprocess.Popen[bytes], log: Any, timeout: float) -> str:
    # Chromium writes the port it picked and the browser's path to this file.
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            stderr = log.read().decode(errors="replace")[-2000:]
            raise BrowserError(f"chromium exited with code {proc.returncode}: {stderr}")
        with contextlib.suppress(FileNotFoundError):
            lines = active.read_text().split()
            if len(lines) == 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        await asyncio.sleep(0.05)
    raise TimeoutError(f"chromium did not open its DevTools port within {timeout}s")


async def _attach(connection: Any, url: str, timeout: float) -> Page:
    target = await _browser_command(connection, "Target.createTarget", timeout, url="about:blank")
    attached = await _browser_command(
        connection, "Target.attachToTarget", timeout, targetId=target["targetId"], flatten=True
    )
    page = Page(connection, attached["sessionId"], timeout)
    await page.navigate(url)
    return page


_browser_ids = itertools.count(1_000_000)


async def _browser_command(connection: Any, method: str, timeout: float, **params: Any) -> dict[str, Any]:
    message_id = next(_browser_ids)
    await connection.send(json.dumps({"id": message_id, "method": method, "params": params}))
    async with asyncio.timeout(timeout):
        while True:
            reply = json.loads(await connection.recv())
            if reply.get("id") == message_id:
                break
    if "error" in reply:
        raise BrowserError(f"{method} failed: {reply['error']}")
    return reply["result"]
