#!/usr/bin/env bash
# Every benchmark (in process, end to end through uvicorn, memory, rooms); writes docs/performance.md and .svg.
source "$(dirname "$0")/../scripts/setup.sh"
exec .venv/bin/python benchmarks/run.py "$@"
