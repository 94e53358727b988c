"""Copy stdin to stdout until EOF; with PREFIX, line by line with PREFIX before each line.

Usage: copy_stdin.py [PREFIX]
"""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) < 2:
        sys.stdout.buffer.write(sys.stdin.buffer.read())
        return
    prefix = sys.argv[1]
    for line in sys.stdin:
        sys.stdout.write(prefix + line)


if __name__ == "__main__":
    main()
