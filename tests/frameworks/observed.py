"""The framework examples as uvicorn runs them in the tests, each connection's end written to the log.

``observed(app)`` is a pass-through ASGI wrapper: when the app returns (or
raises) on a WebSocket scope it prints one line, so a test can wait for the
handler to have ended before it reads the server log for errors.
"""

from __future__ import annotations

import sys
from typing import Any

from examples.fastapi_app import app as _fastapi_app
from examples.litestar_app import app as _litestar_app
from examples.quart_app import app as _quart_app
from examples.starlette_app import app as _starlette_app

ENDED = "fastware-test: handler ended:"


def observed(app: Any) -> Any:
    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return
        outcome = "returned"
        try:
            await app(scope, receive, send)
        except BaseException as exc:
            outcome = f"raised {type(exc).__module__}.{type(exc).__name__}"
            raise
        finally:
            print(f"{ENDED} {scope['path']}?{scope['query_string'].decode()} {outcome}", file=sys.stderr, flush=True)

    return wrapper


fastapi_app = observed(_fastapi_app)
starlette_app = observed(_starlette_app)
litestar_app = observed(_litestar_app)
quart_app = observed(_quart_app)
