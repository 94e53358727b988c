"""Allocate memory 1 MiB at a time, touching every page, up to a bound.

Usage: hog_memory.py [MIB]   (default 1024)
Prints `ready`, then allocates. Under a smaller memory limit the OOM killer ends
it (SIGKILL); if it reaches the bound it prints `survived <MIB>` and exits 0.
"""

from __future__ import annotations

import sys

_MIB = 1 << 20
_DEFAULT_BOUND = 1024


def main() -> None:
    bound = int(sys.argv[1]) if len(sys.argv) > 1 else _DEFAULT_BOUND
    print("ready", flush=True)
    held = [b"\x01" * _MIB for _ in range(bound)]  # bytes * n writes every page
    print(f"survived {len(held)}", flush=True)


if __name__ == "__main__":
    main()
