"""Trap a stop signal, print `ready`, then wait (at most 300 s) to be signalled.

Usage: trap_term.py ignore|exit [SIGNAME]   (SIGNAME defaults to SIGTERM)
`ignore` ignores the signal, so only SIGKILL ends it. `exit` prints `got SIGNAME`
and exits 0 when the signal arrives.
"""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType

_MAX_LIFETIME = 300.0


def main() -> None:
    mode = sys.argv[1]
    sig = signal.Signals[sys.argv[2] if len(sys.argv) > 2 else "SIGTERM"]
    if mode == "ignore":
        signal.signal(sig, signal.SIG_IGN)
    else:
        signal.signal(sig, _exit_on)
    print("ready", flush=True)
    time.sleep(_MAX_LIFETIME)


def _exit_on(number: int, frame: FrameType | None) -> None:
    print(f"got {signal.Signals(number).name}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
