"""Fork sleeping children until the kernel says no; report how many forks failed.

Usage: fork_bomb.py [--fd N] [--tries K]
The root tries K forks (default 200). Each child writes its pid to fd N (with
--fd) and sleeps (at most 60 s). A fork refused with EAGAIN (a pids limit, or
RLIMIT_NPROC) is counted and the root tries again, up to K tries in all. The root
then prints `forked <n> failed <m>` and `ready`, and sleeps (at most 60 s).
"""

from __future__ import annotations

import errno
import os
import sys
import time

_MAX_LIFETIME = 60.0
_DEFAULT_TRIES = 200


def main() -> None:
    fd = int(sys.argv[sys.argv.index("--fd") + 1]) if "--fd" in sys.argv else None
    tries = (
        int(sys.argv[sys.argv.index("--tries") + 1]) if "--tries" in sys.argv else _DEFAULT_TRIES
    )
    forked = failed = 0
    for _ in range(tries):
        try:
            pid = os.fork()
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                raise
            failed += 1
            continue
        if pid == 0:
            _child(fd)
        forked += 1
    print(f"forked {forked} failed {failed}", flush=True)
    print("ready", flush=True)
    time.sleep(_MAX_LIFETIME)


def _child(fd: int | None) -> None:
    if fd is not None:
        os.write(fd, f"{os.getpid()}\n".encode())
    time.sleep(_MAX_LIFETIME)
    os._exit(0)


if __name__ == "__main__":
    main()
