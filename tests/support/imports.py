"""Which modules a Python process imported, read from its `-X importtime` report on stderr.

`python -X importtime` writes one line per module when it is first imported, as it
happens; the report of a running process so far is what it has imported so far.
"""

from __future__ import annotations


def imported_modules(stderr: str) -> set[str]:
    """The modules named in the `-X importtime` lines of `stderr` (other lines are skipped)."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line and "self [us]" not in line
    }
