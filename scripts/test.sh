#!/usr/bin/env bash
# Every check, on every Python that requires-python admits: generated code current, ruff clean,
# the docs build (once, on the first Python); then on each Python (run_suite) the whole test
# suite with the C fast path, the server-free tests without it, and the server-free tests
# against an AddressSanitizer/UBSan build of it (scripts/sanitize.sh).
#
#     bash scripts/test.sh [pytest args]                      every supported Python
#     PYTHON=python3.13 bash scripts/test.sh [pytest args]    that interpreter only
#
# A supported Python this machine lacks is reported as missing: under CI (CI set, as .ci/run
# does) that fails the run once the others have run; locally it is a warning.
PYTHON_GIVEN=${PYTHON:-}
source "$(dirname "$0")/setup.sh" # resolve_python, ensure_venv; VENV: the venv of $PYTHON (python3)

# What requires-python (">=3.11") admits among released CPythons; extend it with each release.
SUPPORTED=(3.11 3.12 3.13)
grep -q '^requires-python = ">=3.11"$' pyproject.toml ||
    { echo "test.sh: requires-python changed; update SUPPORTED" >&2; exit 1; }
SERVER_FREE=(tests/unit tests/features tests/messages tests/property tests/test_hot_path.py)

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

# step NAME COMMAND...: run it, time it, keep the seconds (and pytest's summary line) for the report.
REPORT=()
step() {
    local name=$1 start log status=0
    shift
    echo "+ [$name] $*" >&2
    start=$SECONDS
    log=$(mktemp)
    "$@" 2>&1 | tee "$log" || status=$?
    local summary
    summary=$(grep -E '[0-9]+ (passed|failed|errors?|skipped).* in [0-9.]+s' "$log" | tail -1 | tr -d '=' | xargs) || true
    rm -f "$log"
    REPORT+=("$(printf '%5ss  %s%s' $((SECONDS - start)) "$name" "${summary:+  ($summary)}")")
    return $status
}
print_report() {
    echo
    echo "== scripts/test.sh: seconds per step"
    printf '%s\n' "${REPORT[@]}"
    [ ${#RAN[@]} -eq 0 ] || echo "== Python versions run: ${RAN[*]}"
    [ ${#MISSING[@]} -eq 0 ] || echo "== Python versions MISSING here: ${MISSING[*]}"
}
RAN=()
MISSING=()
trap print_report EXIT

# Checks that do not depend on the Python version, run once with the venv they are given.
run_checks() {
    local py=$1/bin/python
    step "codegen --check" "$py" -m codegen --check
    step "ruff check" "$py" -m ruff check .
    step "ruff format --check" "$py" -m ruff format --check .
    # Strict typing: mypy and pyright on the package and on user code, pyright --verifytypes at 100%.
    step "typecheck (mypy, pyright)" bash scripts/typecheck.sh
    # The docs site, into a throwaway directory so the checkout stays clean.
    step "mkdocs build --strict" "$1/bin/mkdocs" build --strict --site-dir "$(mktemp -d)"
}

# Everything that runs on each Python, with the venv given; more steps slot in here.
run_suite() {
    local venv=$1 py=$1/bin/python version
    shift
    version=$("$py" -c 'import platform; print(platform.python_version())')
    step "$version pytest (C fast path)" "$py" -m pytest "$@"
    # Again without the C fast path (fastware/_speedups.c), as where it cannot be compiled: the same
    # behaviour from the Python methods. The tests that need no server are enough to show it.
    step "$version pytest server-free, FASTWARE_NO_SPEEDUPS=1" \
        env FASTWARE_NO_SPEEDUPS=1 "$py" -m pytest -q -p no:cacheprovider "${SERVER_FREE[@]}"
    step "$version sanitizer (ASan+UBSan build)" bash scripts/sanitize.sh "$py"
    RAN+=("$version ($venv)")
}

if [ -n "$PYTHON_GIVEN" ]; then
    # One interpreter, named by PYTHON: setup.sh resolved it and made its venv.
    run_checks "$VENV"
    run_suite "$VENV" "$@"
    exit 0
fi

venvs=()
for version in "${SUPPORTED[@]}"; do
    if exe=$(resolve_python "python$version" 2>/dev/null); then
        venvs+=("$(ensure_venv "$exe")")
    else
        MISSING+=("$version")
        echo "test.sh: Python $version is not installed here; its run is MISSING" >&2
    fi
done
run_checks "$VENV"
for venv in "${venvs[@]}"; do
    run_suite "$venv" "$@"
done
if [ ${#MISSING[@]} -gt 0 ] && [ -n "${CI:-}" ]; then
    echo "test.sh: CI needs every supported Python; missing: ${MISSING[*]}" >&2
    exit 1
fi
