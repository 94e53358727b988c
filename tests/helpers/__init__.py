"""Tiny stdlib-only child programs, one job each; run them with `sys.executable`.

Each prints `ready` (flushed) once its setup is done, so a test waits for that
line before it acts. `path(name)` gives the file to run.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name: str) -> str:
    """The absolute path of helper `name` (without .py)."""
    return os.path.join(HERE, f"{name}.py")


def argv(name: str, *args: str) -> list[str]:
    """The argv that runs helper `name` with this interpreter."""
    return [sys.executable, path(name), *args]
