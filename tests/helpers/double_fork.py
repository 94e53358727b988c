"""Leave a grandchild behind in its own session, the way a daemon does.

Usage: double_fork.py [--fd N] [--root-exits] [--no-setsid] [--detach]
The process forks; the child calls setsid() (unless --no-setsid) and forks again,
then exits at once, so the grandchild is re-parented (to the nearest subreaper,
else init) and is in another session and process group. The grandchild reports
its pid back over a pipe and sleeps (at most 300 s); it keeps stdout and stderr
open unless --detach, which points them at /dev/null as a daemon would. The root
reaps the intermediate child, prints `<grandchild pid>` and `ready` (and writes
`<root pid> <grandchild pid>` to fd N with --fd), then sleeps too, unless
--root-exits.
"""

from __future__ import annotations

import os
import sys
import time
from typing import NoReturn

_MAX_LIFETIME = 300.0


def main() -> None:
    fd = int(sys.argv[sys.argv.index("--fd") + 1]) if "--fd" in sys.argv else None
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        _intermediate(write)
    os.close(write)
    with os.fdopen(read) as report:
        grandchild = int(report.readline())
    os.waitpid(child, 0)
    if fd is not None:
        os.write(fd, f"{os.getpid()} {grandchild}\n".encode())
    print(grandchild, flush=True)
    print("ready", flush=True)
    if "--root-exits" not in sys.argv:
        time.sleep(_MAX_LIFETIME)


def _intermediate(write: int) -> NoReturn:
    if "--no-setsid" not in sys.argv:
        os.setsid()
    if os.fork() == 0:
        if "--detach" in sys.argv:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            os.close(null)
        os.write(write, f"{os.getpid()}\n".encode())
        os.close(write)
        time.sleep(_MAX_LIFETIME)
    os._exit(0)


if __name__ == "__main__":
    main()
