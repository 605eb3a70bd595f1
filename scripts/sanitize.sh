#!/usr/bin/env bash
# The C fast path under AddressSanitizer and UBSan: build fastware/_speedups.c with
# -fsanitize=address,undefined into a temporary copy of the package, run the server-free tests
# against it with the ASan runtime preloaded and PYTHONMALLOC=malloc (so every object's free is
# seen by ASan), and fail on any report. The checkout's own build is never touched.
#
#     bash scripts/sanitize.sh [PYTHON] [pytest args...]      (PYTHON: default .venv/bin/python)
#
# Leak detection is off (detect_leaks=0): CPython keeps interned strings, static types and caches
# alive until exit by design, so LeakSanitizer reports thousands of "leaks" that are not ours.
# Every other check stops the process at the first report (halt_on_error), and any report file
# left by a subprocess also fails the job.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
shift $(( $# > 0 ? 1 : 0 ))
CC=${CC:-gcc}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The package as the installed one has it (generated/ as fastware._generated), minus any built .so.
mkdir -p "$work/src"
cp -r fastware "$work/src/fastware"
find "$work/src/fastware" \( -name '*.so' -o -name '__pycache__' \) -prune -exec rm -rf {} +
cp -r generated "$work/src/fastware/_generated"

include=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
"$CC" -shared -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
    -Wall -Werror -I"$include" fastware/_speedups.c -o "$work/src/fastware/_speedups$suffix"

libasan=$("$CC" -print-file-name=libasan.so)
[ -e "$libasan" ] || { echo "sanitize.sh: $CC has no libasan.so" >&2; exit 1; }
mkdir "$work/reports"
export LD_PRELOAD=$libasan
export PYTHONMALLOC=malloc
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:log_path=$work/reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$work/reports/ubsan"
export PYTHONPATH="$work/src${PYTHONPATH:+:$PYTHONPATH}"
unset FASTWARE_NO_SPEEDUPS
# The adversarial-server test costs about 10x more under ASan: fewer examples here (300 in the plain runs).
export FASTWARE_ADVERSARIAL_EXAMPLES=${FASTWARE_ADVERSARIAL_EXAMPLES:-100}

# The tests must run this build, not the checkout's: no current directory on sys.path (PYTHONSAFEPATH),
# and fastware imported before tests/conftest.py puts the checkout's root on it.
export PYTHONSAFEPATH=1
status=0
"$PY" -c '
import sys
import fastware
from fastware import _accel
assert fastware.__file__.startswith(sys.argv[1]), fastware.__file__
assert _accel.SPEEDUPS.enabled, _accel.SPEEDUPS
print("sanitized build:", _accel._speedups.__file__)
import pytest
sys.exit(pytest.main(sys.argv[2:]))
' "$work/src" -q -p no:cacheprovider tests/unit tests/features tests/messages tests/property tests/test_hot_path.py \
    "$@" || status=$?
if compgen -G "$work/reports/*" >/dev/null; then
    echo "sanitize.sh: sanitizer reports:" >&2
    cat "$work"/reports/* >&2
    status=1
fi
exit $status
