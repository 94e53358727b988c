"""The child that times tree scans: `python -m bench.daemon.scanner TREES SCANS`.

It starts TREES marked `sleep` processes (each in a group of its own, as corral
starts a program), then times `corral._platform.find_trees` for all of them, SCANS
times in each of two roles, interleaved: as a library caller (not a child subreaper)
and as the daemon is (a child subreaper, via prctl). The floor is the part no scan
can skip here: reading the stat file of every process (the parent links). It prints
one JSON object, {role: [milliseconds, ...]}, and ends its trees by pid (our
unreaped children) before it exits, on SIGTERM too. Its own process is the scan's caller, so
the crowd the benchmark started is not its descendant, just as it is not the daemon's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from typing import NoReturn

from bench.daemon.crowd import end
from corral._platform import find_trees
from corral._platform.linux.prctl import set_child_subreaper

TREE_LIFETIME = "600"
"""Seconds a tree's `sleep` lives if this child is SIGKILLed before it ends them."""


def start_trees(count: int, pids: list[int]) -> list[tuple[bytes, int | None]]:
    """`count` marked `sleep`s, each leading its own group; pids go to `pids` as they start."""
    sleep = shutil.which("sleep")
    if sleep is None:
        raise RuntimeError("`sleep` is not on PATH")
    requests: list[tuple[bytes, int | None]] = []
    for i in range(count):
        marker = f"bench-{os.getpid()}-{i}"
        env = {**os.environ, "CORRAL_TREE": marker}
        pid = os.posix_spawn(sleep, [sleep, TREE_LIFETIME], env, setpgroup=0)
        pids.append(pid)
        requests.append((f"CORRAL_TREE={marker}".encode(), pid))
    return requests


def stat_floor() -> None:
    """Read the stat file of every process and nothing else, without parsing it.

    Written here, not taken from corral, so that it is the same in every version compared.
    """
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                fd = os.open(f"/proc/{name}/stat", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.read(fd, 1024)
                finally:
                    os.close(fd)


def time_roles(requests: list[tuple[bytes, int | None]], scans: int) -> dict[str, list[float]]:
    """Milliseconds per scan for each role, interleaved round by round."""

    def as_library() -> None:
        set_child_subreaper(False)
        find_trees(requests)

    def as_daemon() -> None:
        set_child_subreaper(True)
        find_trees(requests)

    roles: dict[str, Callable[[], None]] = {
        "library": as_library,
        "subreaper": as_daemon,
        "stat floor": stat_floor,
    }
    times: dict[str, list[float]] = {role: [] for role in roles}
    for i in range(1 + scans):
        for role, scan in roles.items():
            start = time.perf_counter()
            scan()
            if i:  # the first round warms the caches
                times[role].append((time.perf_counter() - start) * 1000)
    set_child_subreaper(False)
    return times


def _exit_on_term(signum: int, frame: object) -> NoReturn:
    sys.exit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_on_term)
    trees, scans = int(sys.argv[1]), int(sys.argv[2])
    pids: list[int] = []
    try:
        requests = start_trees(trees, pids)
        found = find_trees(requests)
        if sorted(len(members) for members in found) != [1] * trees:
            raise RuntimeError(f"expected one member per tree, found {[len(m) for m in found]}")
        print(json.dumps(time_roles(requests, scans)), flush=True)
    finally:
        end(pids)
    return 0


if __name__ == "__main__":
    sys.exit(main())
