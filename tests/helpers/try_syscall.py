"""Try some system calls and print one JSON line with each call's outcome.

Usage: try_syscall.py CALL [CALL ...]
CALL is one of: getcwd, uname, mkdir (then rmdir, in the working directory),
socket-inet, socket-inet6, socket-unix: calls whose failure Python reports
(unlike getppid, whose -EPERM comes back as the value -1). An outcome is "ok"
or the errno name ("EPERM"). Each attempt is announced on stderr ("trying
mkdir") first, so a call that kills the process (a seccomp kill action) is the
last one announced.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from collections.abc import Callable


def _socket(family: int) -> Callable[[], None]:
    def attempt() -> None:
        socket.socket(family, socket.SOCK_STREAM).close()

    return attempt


def _mkdir() -> None:
    name = f"made-by-{os.getpid()}"
    os.mkdir(name)
    os.rmdir(name)


CALLS: dict[str, Callable[[], object]] = {
    "getcwd": os.getcwd,
    "uname": os.uname,
    "socket-inet": _socket(socket.AF_INET),
    "socket-inet6": _socket(socket.AF_INET6),
    "socket-unix": _socket(socket.AF_UNIX),
    "mkdir": _mkdir,
}


def outcome(name: str) -> str:
    try:
        CALLS[name]()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return "ok"


def main() -> None:
    results: dict[str, str] = {}
    for name in sys.argv[1:]:
        print(f"trying {name}", file=sys.stderr, flush=True)
        results[name] = outcome(name)
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
