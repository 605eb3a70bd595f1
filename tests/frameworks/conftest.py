"""The framework tests' helpers (observed.py, the apps real servers import) live next to this file."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
