"""Count attempts in a file and exit with the code listed for this attempt.

Usage: attempt.py COUNTER CODE [CODE ...]
Appends one line to COUNTER, then exits with the CODE whose position is the
number of lines now in COUNTER (the last CODE repeats once the list runs out).
"""

from __future__ import annotations

import sys


def main() -> None:
    counter, *codes = sys.argv[1:]
    with open(counter, "a+") as f:
        f.write("attempt\n")
        f.seek(0)
        attempt = len(f.readlines())
    code = int(codes[min(attempt, len(codes)) - 1])
    print(f"attempt {attempt} exits {code}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
