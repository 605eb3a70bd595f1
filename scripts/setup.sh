# Sourced by run.sh and test.sh: make .venv with every tool the project uses.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# Reinstall only when pyproject.toml or the C fast path changed since the last install.
stamp=.venv/.fastware-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ fastware/_speedups.c -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    touch "$stamp"
fi
