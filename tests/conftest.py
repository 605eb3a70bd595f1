import sys
from pathlib import Path

# Tests import their helpers as `from support import ...`, and the examples package from the repo root.
TESTS = Path(__file__).resolve().parent
for path in (TESTS, TESTS.parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
