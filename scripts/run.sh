#!/usr/bin/env bash
# The main job: regenerate generated/ from the schema, then serve the example app.
source "$(dirname "$0")/setup.sh"
.venv/bin/python -m codegen
exec .venv/bin/python -m examples.serve "$@"
