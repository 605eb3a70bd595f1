#!/usr/bin/env bash
# Every check: generated code current, ruff clean, the whole test suite.
source "$(dirname "$0")/setup.sh"
set -x
.venv/bin/python -m codegen --check
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
# The docs site, into a throwaway directory so the checkout stays clean.
.venv/bin/mkdocs build --strict --site-dir "$(mktemp -d)"
.venv/bin/python -m pytest "$@"
