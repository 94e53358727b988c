"""The seam both cgroup drivers satisfy, the Usage record, and the shared kill loop.

A driver (`v1.V1Driver`, `v2.V2Driver`) says which controllers this machine lets
us use and creates instance cgroups; an instance (`Cgroup`) takes limits, reports
usage, kills every member and removes itself. File-level errors become a
`CgroupStepFailed` whose step names the file ("cgroup: pids.max"), so a failed
spawn says exactly what could not be written.

Killing every member is the same dance on both versions (cgroups(7)): freeze the
cgroup so nothing forks any more, list cgroup.procs (now complete), SIGKILL each
(or write cgroup.kill, Linux 5.14+), thaw (v1 frozen tasks die only once thawed),
and repeat until the cgroup is empty, bounded in rounds and time. The pids killed
are returned, so a caller that adopted them (a subreaper) can reap them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

from corral._platform.posix.child import ChildStepFailed

Controller = Literal["memory", "cpu", "pids"]
"""The controllers a limit can need (the features CGROUP_MEMORY, CGROUP_CPU, CGROUP_PIDS)."""

KILL_ROUNDS = 50
KILL_TIMEOUT = 5.0
"""Upper bound on one `kill_all`; past it the survivors are left for the next call."""
FREEZE_TIMEOUT = 0.5
"""How long to wait for a freeze to take hold before killing anyway."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Missing:
    """Why a cgroup feature is unusable here, and what it would need."""

    reason: str
    needs: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """What an instance cgroup has used; None where this layout cannot tell."""

    memory_current: int | None = None
    """Bytes charged now (v2 memory.current, v1 memory.usage_in_bytes)."""
    memory_peak: int | None = None
    """Most bytes ever charged (v2 memory.peak, v1 memory.max_usage_in_bytes)."""
    cpu_seconds: float | None = None
    """CPU time used (v2 cpu.stat usage_usec, v1 cpuacct.usage)."""
    pids: int | None = None
    """Processes and threads now (pids.current)."""
    oom_kills: int | None = None
    """Processes the OOM killer killed in it (v2 memory.events, v1 memory.oom_control)."""

    def as_dict(self) -> dict[str, int | float | None]:
        """The fields as a plain dict (for status and the API)."""
        return asdict(self)


class CgroupStepFailed(ChildStepFailed):
    """A cgroup file could not be created or written while preparing a spawn.

    It is a step of the spawn like the child's own (its `step` names the file), so
    it reaches the caller as a SpawnError the same way: "cgroup: pids.max: ...".
    """


class Cgroup(Protocol):
    """One instance cgroup: a directory in each hierarchy it uses."""

    @property
    def directories(self) -> tuple[str, ...]:
        """Its directory in each hierarchy (the child joins every one)."""
        ...

    def set_memory_max(self, limit: int) -> None: ...
    def set_memory_high(self, limit: int) -> None: ...
    def set_memory_swap_max(self, limit: int, *, memory_max: int | None) -> None: ...
    def set_cpu_quota(self, cores: float) -> None: ...
    def set_cpu_weight(self, weight: int) -> None: ...
    def set_pids_max(self, limit: int) -> None: ...

    def members(self) -> list[int]:
        """Pids in it now (its sub-cgroups included); [] once removed."""
        ...

    def usage(self) -> Usage:
        """What it has used so far."""
        ...

    def kill_all(self) -> list[int]:
        """SIGKILL every member until it is empty (bounded); returns the pids killed."""
        ...

    def remove(self) -> None:
        """Remove its directories, killing what is left in it first (bounded)."""
        ...


class CgroupDriver(Protocol):
    """A cgroup layout (v2, or v1 controllers): what it can do, and instances in it."""

    @property
    def version(self) -> int: ...

    def problem(self, controller: Controller | None) -> Missing | None:
        """Why `controller` (None: cgroups at all) is unusable here; None when usable."""
        ...

    def create(self, name: str, controllers: frozenset[Controller]) -> Cgroup:
        """A new instance cgroup `name` with (at least) these controllers."""
        ...


# -- files -----------------------------------------------------------------------


def write(directory: str, name: str, value: str) -> None:
    """Write `value` to the cgroup file `name`; CgroupStepFailed naming the file on error."""
    path = os.path.join(directory, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        detail = (exc.strerror or str(exc)).lower()
        raise CgroupStepFailed(
            f"cgroup: {name}", exc.errno or 0, f"{detail} (writing {value!r} to {path})"
        ) from exc


def try_write(directory: str, name: str, value: str) -> bool:
    """`write`, reporting failure as False (freezing, thawing and cgroup.kill fall back)."""
    try:
        write(directory, name, value)
    except OSError:
        return False
    return True


def read(path: str) -> str | None:
    """The text of a cgroup file, or None when it does not exist (or is gone)."""
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None


def read_int(path: str) -> int | None:
    """A file holding one number ("max" reads as None)."""
    text = read(path)
    if text is None or not text.strip().isdigit():
        return None
    return int(text)


def read_keyed(path: str, key: str) -> int | None:
    """The value of `key` in a "key value" per line file (memory.events, cpu.stat)."""
    for line in (read(path) or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def procs(directory: str) -> list[int]:
    """Pids in `directory`'s cgroup.procs and those of its sub-cgroups."""
    found: list[int] = []
    for here, _, _ in os.walk(directory):
        found.extend(int(pid) for pid in (read(os.path.join(here, "cgroup.procs")) or "").split())
    return found


# -- waiting and killing -------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Re-check `condition` with a short, growing back-off (the kernel sends no event
    for a v1 freeze or an emptied v1 cgroup); True once it holds, False at the deadline."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    return True


class Members(Protocol):
    """What the shared kill and remove loops need of an instance."""

    def members(self) -> list[int]: ...
    def frozen(self) -> contextlib.AbstractContextManager[None]: ...
    def kill_members(self, pids: list[int]) -> None: ...


def kill_until_empty(cgroup: Members) -> list[int]:
    """Freeze, list, SIGKILL, thaw, until no member is left; returns every pid killed."""
    killed: list[int] = []
    deadline = time.monotonic() + KILL_TIMEOUT
    for _ in range(KILL_ROUNDS):
        if not cgroup.members():
            break
        with cgroup.frozen():
            pids = cgroup.members()
            cgroup.kill_members(pids)
        killed.extend(pids)
        left = deadline - time.monotonic()
        if left <= 0 or wait_for(lambda: not cgroup.members(), min(left, 0.5)):
            break
    return killed


def send_kill(pids: list[int]) -> None:
    """SIGKILL each pid, ignoring those already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def nothing_to_freeze() -> Iterator[None]:
    """The `frozen()` of a layout without a freezer: the kill rounds repeat instead."""
    yield
