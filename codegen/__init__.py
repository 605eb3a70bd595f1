"""fastware's code generator: schema/ in, generated/ out.

`python -m codegen` rewrites generated/ from schema/asgi-websocket.schema.json;
`python -m codegen --check` regenerates in memory and fails, printing a diff,
when generated/ is stale. See codegen/__main__.py.
"""
