"""A systemd Type=notify service: after DELAY seconds it sends READY=1, then serves until stopped.

Usage: notify_ready.py DELAY [STATUS...]
Each STATUS is sent as `STATUS=...` before READY=1 (a start-up's progress), and
`STATUS=serving` after it. The protocol is spoken for real: one AF_UNIX datagram per
message to the socket $NOTIFY_SOCKET names (`@name` is the abstract namespace),
as sd_notify(3) does. Prints `ready` once READY=1 is sent; lives at most 300 s.
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
    delay = float(sys.argv[1])
    for status in sys.argv[2:]:
        notify(f"STATUS={status}")
    time.sleep(delay)
    notify("READY=1")
    print("ready", flush=True)
    notify("STATUS=serving")
    time.sleep(300)


if __name__ == "__main__":
    main()
