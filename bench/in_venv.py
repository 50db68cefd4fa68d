"""Benchmarks run inside the project's venv: started with another python, a script re-runs itself there.

    import in_venv  # noqa: F401  (first, before any project import; bench/ is on sys.path as the script's folder)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

VENV_PY = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"

try:
    import clearframe  # noqa: F401
except ImportError:
    script = os.path.abspath(sys.argv[0])
    # sys.prefix, not the binary: the venv's python is often a symlink to the very interpreter started.
    if VENV_PY.exists() and Path(sys.prefix).resolve() != VENV_PY.parent.parent.resolve():
        os.execv(str(VENV_PY), [str(VENV_PY), script, *sys.argv[1:]])
    raise
