# Sourced by run.sh and test.sh: a virtualenv with every tool the project uses, for $PYTHON.
#
# PYTHON (default python3) names the interpreter: a command on PATH, a path, or a name such as
# python3.13 that is only a pyenv shim here (it is then found among pyenv's versions). Its
# virtualenv is .venv, unless .venv already holds another Python version: then .venv-X.Y.
# After sourcing, VENV is that virtualenv's directory.
set -euo pipefail
shopt -s inherit_errexit # a failure inside $(...) stops the script too
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# resolve_python NAME: print the path of a working interpreter called NAME, or fail saying why.
resolve_python() {
    local name=$1 exe
    if exe=$("$name" -c 'import sys; print(sys.executable)' 2>/dev/null) && [ -n "$exe" ]; then
        echo "$exe"
        return 0
    fi
    # A pyenv shim runs only the versions pyenv has selected; look in every installed version.
    local root=${PYENV_ROOT:-}
    if [ -z "$root" ] && command -v pyenv >/dev/null; then root=$(pyenv root); fi
    root=${root:-$HOME/.pyenv}
    local base found=""
    base=$(basename "$name")
    if [ -d "$root/versions" ]; then
        while read -r dir; do
            if [ -x "$dir/bin/$base" ] && "$dir/bin/$base" -c '' 2>/dev/null; then
                found="$dir/bin/$base"
            fi
        done < <(find "$root/versions" -mindepth 1 -maxdepth 1 | sort -V)
    fi
    if [ -n "$found" ]; then
        echo "$found"
        return 0
    fi
    echo "setup.sh: no working interpreter '$name' (not on PATH, nor in $root/versions)" >&2
    return 1
}

# python_version EXE: X.Y
python_version() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}

# venv_dir EXE: .venv, or .venv-X.Y when .venv holds another version (or .venv is missing and
# EXE is not the default python3).
venv_dir() {
    local version default
    version=$(python_version "$1")
    if [ -x .venv/bin/python ]; then
        [ "$(python_version .venv/bin/python)" = "$version" ] && { echo .venv; return; }
    else
        default=$(resolve_python python3 2>/dev/null) || default=""
        if [ -z "$default" ] || [ "$(python_version "$default")" = "$version" ]; then
            echo .venv
            return
        fi
    fi
    echo ".venv-$version"
}

# ensure_venv EXE: create and install its virtualenv if needed; print its directory.
ensure_venv() {
    local exe=$1 dir stamp
    dir=$(venv_dir "$exe")
    if [ ! -x "$dir/bin/python" ]; then
        "$exe" -m venv "$dir" >&2
    fi
    # Reinstall only when pyproject.toml or the C fast path changed since the last install.
    stamp=$dir/.fastware-installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ fastware/_speedups.c -nt "$stamp" ]; then
        "$dir/bin/python" -m pip install --quiet --upgrade pip >&2
        "$dir/bin/python" -m pip install --quiet -e ".[dev]" >&2
        touch "$stamp"
    fi
    echo "$dir"
}

PYTHON=${PYTHON:-python3}
PYTHON_EXE=$(resolve_python "$PYTHON")
VENV=$(ensure_venv "$PYTHON_EXE")
export VENV
