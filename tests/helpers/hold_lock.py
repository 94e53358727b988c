"""Take a corral FileLock (or lead a LocalElection) from another process.

Usage:
  hold_lock.py hold PATH        take the lock, print `ready`, hold it (at most 300 s)
  hold_lock.py lead PATH        become leader of the election at PATH, print `ready`, lead
  hold_lock.py contend PATH LOG COUNT
                                COUNT times: take the lock, append `PID begin` and then
                                `PID end` to LOG under it, release; print `done` at the end
"""

from __future__ import annotations

import os
import sys
import time

from corral.coordinate import FileLock, LocalElection

_MAX_LIFETIME = 300.0
_ACQUIRE_TIMEOUT = 60.0


def contend(path: str, log: str, count: int) -> None:
    lock = FileLock(path, timeout=_ACQUIRE_TIMEOUT)
    pid = os.getpid()
    for _ in range(count):
        with lock, open(log, "a") as out:
            out.write(f"{pid} begin\n")
            out.flush()
            time.sleep(0.0005)  # widen the window in which a second holder would show
            out.write(f"{pid} end\n")
    print("done", flush=True)


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "contend":
        contend(path, sys.argv[3], int(sys.argv[4]))
        return
    held: object
    if mode == "hold":
        held = FileLock(path, owner="helper").acquire(_ACQUIRE_TIMEOUT)
    else:
        held = LocalElection(path, owner="helper").campaign(_ACQUIRE_TIMEOUT)
    print("ready", flush=True)
    assert held
    time.sleep(_MAX_LIFETIME)


if __name__ == "__main__":
    main()
