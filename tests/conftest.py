import sys
from pathlib import Path

# tests/support.py and the examples package import from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
