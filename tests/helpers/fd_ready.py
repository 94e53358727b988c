"""An s6-style service: after DELAY seconds it writes a newline to its notification fd.

Usage: fd_ready.py DELAY
The fd number comes from $NOTIFY_FD (s6's notification-fd). It writes "\n" there,
closes it, prints `ready`, and lives at most 300 s.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    fd = int(os.environ["NOTIFY_FD"])
    time.sleep(float(sys.argv[1]))
    os.write(fd, b"\n")
    os.close(fd)
    print("ready", flush=True)
    time.sleep(300)


if __name__ == "__main__":
    main()
