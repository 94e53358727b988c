"""Write the given text to stderr, then exit with CODE (or kill itself with a SIG name).

Usage: exit_with.py CODE|SIGNAME [stderr text ...]  (each further argument is one line)
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    how, *lines = sys.argv[1:]
    for line in lines:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()
    if how.startswith("SIG"):
        sig = signal.Signals[how]
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        signal.pause()  # the signal ends us before this returns
    sys.exit(int(how))


if __name__ == "__main__":
    main()
