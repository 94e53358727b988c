"""A Type=notify service with a watchdog: ready at once, PINGS pings, then it hangs.

Usage: notify_watchdog.py PINGS
It reads its period from $WATCHDOG_USEC (as sd_watchdog_enabled(3) does), reports
it as `STATUS=watchdog N us`, sends READY=1, then WATCHDOG=1 every quarter period
PINGS times, then stops pinging without exiting (a hung service). Prints `ready`
after READY=1; lives at most 300 s.
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
    pings = int(sys.argv[1])
    usec = int(os.environ["WATCHDOG_USEC"])
    notify(f"READY=1\nSTATUS=watchdog {usec} us")
    print("ready", flush=True)
    for _ in range(pings):
        time.sleep(usec / 4e6)
        notify("WATCHDOG=1")
    notify("STATUS=hung")
    time.sleep(300)


if __name__ == "__main__":
    main()
