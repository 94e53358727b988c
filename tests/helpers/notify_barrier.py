"""A Type=notify service that syncs with its manager through BARRIER=1, then says ready.

Usage: notify_barrier.py
As sd_notify_barrier(3) does: it sends `BARRIER=1` to $NOTIFY_SOCKET with the write
end of a fresh pipe (SCM_RIGHTS), closes its own copy, and waits (at most 10 s) for
the read end to hang up, which happens once the manager has closed the fd it got.
Then it sends `READY=1` with `STATUS=barrier passed` (or `STATUS=barrier timed out`),
prints `ready` and lives at most 300 s.
"""

from __future__ import annotations

import os
import select
import socket
import time


def main() -> None:
    address = os.environ["NOTIFY_SOCKET"]
    read, write = os.pipe()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, write.to_bytes(4, "little"))]
        sock.sendmsg([b"BARRIER=1"], fds, 0, address)
        os.close(write)
        poller = select.poll()
        poller.register(read, select.POLLHUP)
        passed = bool(poller.poll(10_000))
        outcome = "passed" if passed else "timed out"
        sock.sendto(f"READY=1\nSTATUS=barrier {outcome}".encode(), address)
    print("ready", flush=True)
    time.sleep(300)


if __name__ == "__main__":
    main()
