"""Print `line 1` .. `line N` on stdout, one flush per line.

Usage: echo_lines.py N [--gate]
With --gate, after `line 1` it waits for one line on stdin before printing the
rest, so a test can prove it read `line 1` while the process was still running.
"""

from __future__ import annotations

import sys


def main() -> None:
    count = int(sys.argv[1])
    gate = "--gate" in sys.argv[2:]
    for number in range(1, count + 1):
        sys.stdout.write(f"line {number}\n")
        sys.stdout.flush()
        if gate and number == 1:
            sys.stdin.readline()


if __name__ == "__main__":
    main()
