"""Write SIZE bytes to stdout and to stderr, interleaved, far more than a pipe holds.

Usage: flood.py SIZE
Each stream gets SIZE bytes of `o` (stdout) or `e` (stderr) in lines of 64 bytes,
written alternately, so a reader that drains only one pipe deadlocks.
"""

from __future__ import annotations

import os
import sys

_LINE = 64


def main() -> None:
    size = int(sys.argv[1])
    out, err = b"o" * (_LINE - 1) + b"\n", b"e" * (_LINE - 1) + b"\n"
    chunk = 64 * _LINE
    written = 0
    while written < size:
        n = min(chunk, size - written) // _LINE
        _write_all(1, out * n)
        _write_all(2, err * n)
        written += n * _LINE


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    main()
