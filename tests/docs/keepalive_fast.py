"""examples/keepalive.py with short timers, for uvicorn to import in test_keepalive_example."""

from examples.keepalive import make_app

app = make_app(idle=0.05, grace=0.3)
