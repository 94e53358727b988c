"""Print `ready`; on SIGTERM create MARK, then exit 0 only once RELEASE exists (at most 300 s).

Usage: slow_stop.py MARK RELEASE
A stop that the test holds open for as long as it likes: MARK says the stop began.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from types import FrameType

_MAX_LIFETIME = 300.0


def main() -> None:
    mark, release = sys.argv[1], sys.argv[2]

    def stopping(number: int, frame: FrameType | None) -> None:
        with open(mark, "a"):
            pass
        deadline = time.monotonic() + _MAX_LIFETIME
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.01)  # a test helper; the test waits for MARK, not for time
        sys.exit(0)

    signal.signal(signal.SIGTERM, stopping)
    print("ready", flush=True)
    time.sleep(_MAX_LIFETIME)


if __name__ == "__main__":
    main()
