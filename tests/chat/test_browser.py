"""The chat page in a real headless Chromium: it connects, sends, and shows the echo in its DOM.

scripts/test.sh installs Debian's chromium package when it is missing (as root,
with apt-get); elsewhere this test skips and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any
from unittest.mock import ANY

import pytest
import websockets
from chat_browser import CHROMIUM, Page, open_page
from support import TIMEOUT

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: scripts/test.sh installs Debian's chromium package when run as root with apt-get; "
        "or set FASTWARE_CHROMIUM to a Chromium executable",
    ),
]

STATUS = "document.getElementById('status').textContent"
LOG = "Array.from(document.querySelectorAll('#log li'), li => li.className + '|' + li.textContent)"


async def type_and_send(page: Page, text: str) -> None:
    """Type into the page's input and click Send, as a user would."""
    await page.evaluate(
        f"document.getElementById('text').value = {json.dumps(text)};document.getElementById('submit').click(); true"
    )


async def wait_for_entry(page: Page, entry: str) -> list[str]:
    return await page.wait_for(f"{LOG}.includes({json.dumps(entry)}) && {LOG}", f"the entry {entry!r}")


async def test_the_page_connects_sends_and_shows_the_echo(served: str) -> None:
    http = served.replace("ws://", "http://")
    async with open_page(f"{http}/chat?room=browser&name=chromium", TIMEOUT) as page:
        assert await page.wait_for(f"{STATUS} === 'connected' && {STATUS}", "the status 'connected'") == "connected"
        assert await wait_for_entry(page, "join|chromium joined") == ["join|chromium joined"]

        # A websockets client in the same room, and one in another room.
        async with (
            websockets.connect(f"{served}/chat/ws/browser?name=cli", open_timeout=TIMEOUT) as peer,
            websockets.connect(f"{served}/chat/ws/elsewhere?name=out", open_timeout=TIMEOUT) as outsider,
        ):
            await wait_for_entry(page, "join|cli joined")
            await type_and_send(page, "hello from <b>chromium</b>")
            log = await wait_for_entry(page, "message|chromium: hello from <b>chromium</b>")
            assert await page.evaluate("document.querySelectorAll('#log b').length") == 0  # shown as text, not HTML
            assert await next_message(peer) == {
                "pos": ANY,
                "type": "message",
                "room": "browser",
                "name": "chromium",
                "text": "hello from <b>chromium</b>",
            }

            await peer.send(json.dumps({"type": "say", "text": "hello from the command line"}))
            log = await wait_for_entry(page, "message|cli: hello from the command line")
            await outsider.send(json.dumps({"type": "say", "text": "not for the browser"}))
            assert (await next_message(outsider))["text"] == "not for the browser"
        log = await wait_for_entry(page, "leave|cli left")
        assert log == [
            "join|chromium joined",
            "join|cli joined",
            "message|chromium: hello from <b>chromium</b>",
            "message|cli: hello from the command line",
            "leave|cli left",
        ]


@contextlib.contextmanager
def other_site() -> Iterator[str]:
    """A blank page served on another 127.0.0.1 port: a different origin, as an attacker's site would be."""

    class Blank(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>another site</title>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Blank)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


def open_socket(url: str) -> str:
    """JavaScript that opens a WebSocket and resolves to "open" or "closed <code>"."""
    return f"""new Promise(resolve => {{
        const socket = new WebSocket({json.dumps(url)});
        socket.onopen = () => {{ resolve("open"); socket.close(); }};
        socket.onclose = event => resolve("closed " + event.code);
    }})"""


async def test_a_page_from_another_origin_is_refused(served: str) -> None:
    with other_site() as site:
        async with open_page(site, TIMEOUT) as page:
            assert await page.evaluate("document.title") == "another site"
            # The control: the unguarded echo app on the same server takes this page's socket.
            assert await page.evaluate(open_socket(served + "/"), await_promise=True) == "open"
            # The chat's origin guard answers 403, which a browser reports as close code 1006.
            assert await page.evaluate(open_socket(served + "/chat/ws/lobby"), await_promise=True) == "closed 1006"


async def next_message(client: Any) -> dict[str, Any]:
    while (event := json.loads(await asyncio.wait_for(client.recv(), TIMEOUT)))["type"] != "message":
        pass
    return event


async def test_the_page_reconnects_by_itself_resumes_with_since_and_shows_a_reset(served: str) -> None:
    http = served.replace("ws://", "http://")
    async with open_page(f"{http}/chat?room=resume&name=chromium", TIMEOUT) as page:
        await wait_for_entry(page, "join|chromium joined")
        peer = await websockets.connect(f"{served}/chat/ws/resume?name=cli", open_timeout=TIMEOUT)
        await wait_for_entry(page, "join|cli joined")
        # The connection drops (as when a worker dies); the peer talks meanwhile.
        await page.evaluate("chat.socket.close(4000, 'dropped'); true")
        await peer.send(json.dumps({"type": "say", "text": "while you were away"}))
        await peer.send(json.dumps({"type": "say", "text": "and again"}))
        await wait_for_entry(page, "message|cli: and again")
        assert await page.wait_for(f"{STATUS} === 'connected' && {STATUS}", "connected again") == "connected"
        assert await page.evaluate("chat.connects") == 2
        log = await page.wait_for(f"{LOG}.filter(e => e === 'join|chromium joined').length === 2 && {LOG}", "its join")
        # Resumed after its last position: what it missed, once each, in order, then live again. (Its
        # own leave and join fall where the server saw them.)
        assert [e for e in log if not e.startswith(("join|chromium", "leave|chromium"))] == [
            "join|cli joined",
            "message|cli: while you were away",
            "message|cli: and again",
        ]
        assert log[0] == "join|chromium joined" and log.count("leave|chromium left") == 1

        # A position the server no longer has (here: of another epoch of the room's log): the page
        # is told, clears its list, says so, and shows the room's recent events again.
        await page.evaluate("chat.lastPos = 'abc123-1'; chat.socket.close(4000, 'dropped'); true")
        notice = "notice|Some messages were no longer kept by the server: the history was reloaded."
        log = await wait_for_entry(page, notice)
        assert await page.evaluate("chat.resets") == 1
        log = await wait_for_entry(page, "message|cli: and again")
        assert log[0] == notice
        assert log.count("message|cli: and again") == 1
        await peer.close()
