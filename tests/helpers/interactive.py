"""An adder: prints `ready`, then for each stdin line "A B" prints A+B; at EOF prints `bye`."""

from __future__ import annotations

import sys


def main() -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        a, b = line.split()
        print(int(a) + int(b), flush=True)
    print("bye", flush=True)


if __name__ == "__main__":
    main()
