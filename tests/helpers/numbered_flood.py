"""Write COUNT numbered lines to stdout and to stderr at full speed, then stay alive.

Usage: numbered_flood.py COUNT
Lines are b"stdout N\\n" and b"stderr N\\n", N from 0, in batches alternating between
the streams; then the program sleeps (at most 300 s) so that its pid can be checked.
"""

from __future__ import annotations

import os
import sys
import time

BATCH = 100


def main() -> None:
    count = int(sys.argv[1])
    for start in range(0, count, BATCH):
        numbers = range(start, min(start + BATCH, count))
        for fd, name in ((1, "stdout"), (2, "stderr")):
            _write_all(fd, "".join(f"{name} {n}\n" for n in numbers).encode())
    time.sleep(300)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    main()
