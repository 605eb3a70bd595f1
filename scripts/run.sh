#!/usr/bin/env bash
# The main job: regenerate generated/ from the schema, then serve the example app.
source "$(dirname "$0")/setup.sh"
"$VENV/bin/python" -m codegen
exec "$VENV/bin/python" -m examples.serve "$@"
