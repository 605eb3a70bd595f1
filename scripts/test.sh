#!/usr/bin/env bash
# Every check: generated code current, ruff clean, the whole test suite.
source "$(dirname "$0")/setup.sh"
set -x
.venv/bin/python -m codegen --check
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
.venv/bin/python -m pytest "$@"
