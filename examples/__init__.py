"""Example ASGI applications built on fastware."""
