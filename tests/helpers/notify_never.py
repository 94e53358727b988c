"""A Type=notify service that never gets ready: it says it is starting, then waits.

Usage: notify_never.py [EXTEND_SECONDS]
Sends `STATUS=starting` (and, given EXTEND_SECONDS, `EXTEND_TIMEOUT_USEC=` for that
long) to $NOTIFY_SOCKET but never READY=1, prints `ready` and lives at most 300 s,
until its ready_timeout ends it.
"""

from __future__ import annotations

import os
import socket
import sys
import time


def notify(message: str) -> None:
    """Send one sd_notify message, as sd_notify(3) does."""
    address = os.environ["NOTIFY_SOCKET"]
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)


def main() -> None:
    notify("STATUS=starting")
    if len(sys.argv) > 1:
        notify(f"EXTEND_TIMEOUT_USEC={round(float(sys.argv[1]) * 1e6)}")
    print("ready", flush=True)
    time.sleep(300)


if __name__ == "__main__":
    main()
