"""Values a server declares it carries but loses: fastware warns when the app sends one (policy rule 4).

The spec version a server declares says which keys it knows; a few servers
declare a version and still drop a key of it. Where fastware can tell which
server it runs under, it warns with UnsupportedByServerWarning instead of
letting the value vanish. Only the rare message that carries such a key pays
for the check (accept with headers); the hot path never does.

Telling the server apart is best effort, from what it hands the app:

- granian: its ``send`` is a method of ``granian._granian.ASGIWebsocketProtocol``;
  behind a framework's wrapper of ``send``, its scope still shows it (the
  ``server`` port as a str, where the spec says int, and the
  ``http.response.pathsend`` extension in a WebSocket scope).

Each entry is checked by the real-server matrix (tests/servers), which fails
when the server starts carrying the value, so the table cannot outlive the bug.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from fastware.errors import UnsupportedByServerWarning

__all__ = ["server_name", "warn_lost"]

# (server, what) -> why. `what` names the message and key as the warning says them.
LOSSES: dict[tuple[str, str], str] = {
    ("granian", "websocket.accept 'headers'"): (
        "reads only 'subprotocol' from websocket.accept: the client gets none of these headers"
    ),
}


def server_name(scope: Mapping[str, Any], send: Callable[..., Any]) -> str | None:
    """The server this connection runs under, where fastware can tell ("granian"), else None."""
    owner = getattr(send, "__self__", None)
    if owner is not None and type(owner).__module__.partition(".")[0] == "granian":
        return "granian"
    server = scope.get("server")
    if (
        server is not None
        and isinstance(server[1], str)
        and "http.response.pathsend" in (scope.get("extensions") or {})
    ):
        return "granian"
    return None


def _version(server: str) -> str:
    module = sys.modules.get(server)
    return str(getattr(module, "__version__", "")) if module is not None else ""


def warn_lost(scope: Mapping[str, Any], send: Callable[..., Any], what: str, stacklevel: int = 4) -> None:
    """Warn if the server this connection runs under is known to lose ``what`` (e.g. "websocket.accept 'headers'")."""
    name = server_name(scope, send)
    if name is None or (name, what) not in LOSSES:
        return
    version = _version(name)
    asgi: Mapping[str, Any] = scope.get("asgi") or {}
    declared = asgi.get("spec_version")
    warnings.warn(
        f"{what} is sent, but {name}{' ' + version if version else ''} {LOSSES[name, what]}"
        f"{f' (it declares ASGI {declared})' if declared else ''}",
        UnsupportedByServerWarning,
        stacklevel=stacklevel,
    )
