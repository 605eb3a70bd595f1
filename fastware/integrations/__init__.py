"""Using fastware.WebSocket inside web frameworks.

Each submodule imports its framework, so importing ``fastware`` (or this
package) imports none of them:

- ``fastware.integrations.asgi``: ``endpoint``, a handler ``(ws: fastware.WebSocket)`` as an ASGI app,
  for any router that mounts ASGI apps (Starlette's WebSocketRoute and Router, Litestar's ``asgi``).
- ``fastware.integrations.starlette``: ``route()`` and ``from_starlette()``.
- ``fastware.integrations.fastapi``: ``FastwareWebSocket``, an annotated dependency.

See docs/frameworks.md.
"""
