#!/usr/bin/env bash
# Every check: generated code current, ruff clean, the whole test suite.
source "$(dirname "$0")/setup.sh"
# The chat's browser test needs Chromium: install Debian's package when it is missing and we can
# (root, with apt-get); otherwise that test skips and says why.
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
        echo "Could not install chromium; the browser test will skip." >&2
fi
# The rooms tests run their own redis-server (tests/rooms/redis_server.py); install Debian's when missing.
if ! command -v redis-server >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; } ||
        echo "Could not install redis-server; the Redis tests will skip." >&2
fi
set -x
.venv/bin/python -m codegen --check
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
# Strict typing: mypy and pyright on the package and on user code, pyright --verifytypes at 100%.
bash scripts/typecheck.sh
# The docs site, into a throwaway directory so the checkout stays clean.
.venv/bin/mkdocs build --strict --site-dir "$(mktemp -d)"
.venv/bin/python -m pytest "$@"
# Again without the C fast path (fastware/_speedups.c), as where it cannot be compiled: the same
# behaviour from the Python methods. The tests that need no server are enough to show it.
FASTWARE_NO_SPEEDUPS=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/unit tests/features tests/messages tests/property tests/test_hot_path.py
