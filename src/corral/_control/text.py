"""Figures as the terminal surfaces show them: durations and byte sizes.

One definition for `corral status` (cli/render.py) and `corral top` (top/cells.py);
`missing` is what a figure that is not known shows as ("-" in tables, "" in top).
"""

from __future__ import annotations


def duration(seconds: float | None, missing: str = "-") -> str:
    """5s, 3m12s, 2h05m, 3d04h."""
    if seconds is None:
        return missing
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def size(nbytes: float | None, missing: str = "-") -> str:
    """1.5M style sizes (powers of 1024)."""
    if nbytes is None:
        return missing
    value = float(nbytes)
    for unit in ("B", "K", "M"):
        if value < 1024:
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}G"
