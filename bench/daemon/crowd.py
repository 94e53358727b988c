"""A crowd: N unrelated `sleep` processes, outside any corral tree, ended with certainty.

Each is our own child, started with os.posix_spawn in a process group of the
crowd's own, with /dev/null for stdio and without `CORRAL_TREE` in its environment.
A child's pid cannot be reused until its parent reaps it, so killing each kept pid
and then waiting for it ends exactly those processes: nothing is signalled by name,
and no pid that another process took over is ever signalled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterator

CROWD_MAX = 10_000
"""Upper bound on the crowd: pid_max here is 32,768, and the rest of the machine needs some."""
LIFETIME = "900"
"""Seconds each `sleep` lives, should the benchmark itself be SIGKILLed before it ends them."""
SPAWN_TIMEOUT = 120.0


@contextlib.contextmanager
def crowd(size: int) -> Iterator[list[int]]:
    """`size` x `sleep`, our children; each is SIGKILLed and reaped on the way out."""
    if not 0 <= size <= CROWD_MAX:
        raise ValueError(f"a crowd is 0 to {CROWD_MAX} processes, not {size}")
    sleep = shutil.which("sleep")
    if sleep is None:
        raise RuntimeError("`sleep` is not on PATH")
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_TREE"}
    null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    pids: list[int] = []
    deadline = time.monotonic() + SPAWN_TIMEOUT
    try:
        for _ in range(size):
            group = pids[0] if pids else 0
            pids.append(
                os.posix_spawn(sleep, [sleep, LIFETIME], env, file_actions=null, setpgroup=group)
            )
            if time.monotonic() > deadline:
                raise TimeoutError(f"started only {len(pids)} of {size} in {SPAWN_TIMEOUT} s")
        yield pids
    finally:
        end(pids)


def end(pids: list[int]) -> None:
    """SIGKILL each of our (unreaped) children in `pids`, reap each, and prove none is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    left = set(pids).intersection(children())
    if left:
        raise RuntimeError(
            f"{len(left)} crowd processes are still our children: {sorted(left)[:10]}"
        )


def children() -> list[int]:
    """Pids whose parent is this process (live or zombie), from /proc/PID/stat."""
    me = os.getpid()
    found: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{name}/stat", "rb") as f:
            raw = f.read()
            if int(raw[raw.rfind(b")") + 2 :].split()[1]) == me:
                found.append(int(name))
    return found
