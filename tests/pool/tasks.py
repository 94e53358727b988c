"""Functions the pool tests run in workers (importable there by reference: plain pickle)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from corral.pool import SoftTimeout  # imported with the module: before any task's timer runs


def add(a: int, b: int) -> int:
    return a + b


def square(x: int) -> int:
    return x * x


class Refused(Exception):
    """Raised on purpose by `refuse`."""


def refuse(why: str) -> None:
    raise Refused(why)


def pid() -> int:
    return os.getpid()


def identity_of(value: object) -> int:
    return id(value)


def exit_with(code: int) -> None:
    os._exit(code)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def lock() -> object:
    return threading.Lock()  # cannot be pickled


def sleep_then(seconds: float, value: int) -> int:
    time.sleep(seconds)  # the task's own work, not a test waiting
    return value


def block(path: str) -> None:
    """Report our pid through `path`, then wait for a signal."""
    Path(path).write_text(str(os.getpid()))
    signal.pause()


def start_grandchild_and_sleep(path: str) -> None:
    """Start a child that sleeps a minute, report our pid and its pid through `path`, sleep."""
    child = subprocess.Popen(["sleep", "60"])
    Path(path + ".tmp").write_text(f"{os.getpid()} {child.pid}")
    os.rename(path + ".tmp", path)
    time.sleep(60)  # the task's work: it is ended long before


def initialized() -> str:
    return os.environ.get("POOL_INIT", "")


def set_marker(value: str) -> None:
    os.environ["POOL_INIT"] = value


class Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("holds a lock")
        self.lock = threading.Lock()


def raise_unpicklable() -> None:
    raise Unpicklable


def big_result(size: int) -> bytes:
    return b"x" * size


def echo(value: bytes) -> bytes:
    return value


def ignore_term() -> None:
    """An initializer: this worker ignores SIGTERM (only SIGKILL ends it)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def ignore_term_and_sleep(path: str) -> None:
    """Ignore SIGTERM, report our pid through `path`, then sleep (only SIGKILL ends us)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Path(path + ".tmp").write_text(str(os.getpid()))
    os.rename(path + ".tmp", path)
    time.sleep(60)  # the task's work: it is ended long before


def hold_until(path: str) -> None:
    """Keep the worker busy until `path` exists (at most a minute): the tests queue
    tasks behind it, then create the file."""
    end = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.002)  # the task's own wait for the test's go


def record(path: str, name: str) -> None:
    """Append `name` as one line to `path` (O_APPEND: one write, never torn)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (name + "\n").encode())
    finally:
        os.close(fd)


_HELD: list[bytes] = []


def grow(size: int) -> int:
    """Keep `size` bytes alive in this worker (touched, so they are resident); our pid."""
    _HELD.append(b"\x01" * size)  # written, so resident (zeroed pages may not be)
    return os.getpid()


def clean_up_on_soft_timeout(seconds: float) -> str:
    """Work for `seconds`; at the soft timeout, clean up and return what happened."""
    try:
        time.sleep(seconds)  # the task's work, interrupted by the soft timeout
    except SoftTimeout:
        return "cleaned up"
    return "finished"


def sleep_through(seconds: float) -> str:
    """Ignore the soft timeout's exception and keep working (the hard timeout ends us)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(SoftTimeout):
            time.sleep(0.05)  # the task's work
    return "finished"


def nofile_limit() -> tuple[int, int]:
    """The worker's own RLIMIT_NOFILE (soft, hard), as setrlimit(2) left it."""
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)


def uid() -> int:
    return os.getuid()


def hog(mib: int) -> int:
    """Touch `mib` MiB (every page written): past a cgroup memory cap, the OOM killer."""
    block = b"\x01" * (mib << 20)
    return len(block)
