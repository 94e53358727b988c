"""What the harness reads in /proc: CPU time, RSS, children, and whether a pid still lives.

A pid alone can be reused once its process is reaped, so a `Proc` pairs the pid with
its start time (field 22 of /proc/PID/stat, in clock ticks since boot): the harness
only ever signals or waits for a process whose start time still matches.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0]); None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(b")") + 2 :].decode().split()


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds of these processes, all their threads (dead ones too)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_bytes(pids: Iterable[int]) -> int:
    """Sum of VmRSS over these processes."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def children(pid: int) -> list[int]:
    """Direct children of `pid`, over all its threads."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def comm(pid: int) -> str | None:
    """The process's command name (what it exec'd, 15 characters at most)."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().decode(errors="replace").strip()
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class Proc:
    """One process: its pid and start time, so pid reuse cannot fool the harness."""

    pid: int
    start: int
    name: str

    @classmethod
    def of(cls, pid: int) -> Proc | None:
        """The live process with this pid now, or None."""
        fields = _stat_fields(pid)
        if fields is None:
            return None
        return cls(pid, int(fields[19]), comm(pid) or "?")

    def alive(self) -> bool:
        """True while this very process exists and is not a zombie."""
        fields = _stat_fields(self.pid)
        return fields is not None and int(fields[19]) == self.start and fields[0] != "Z"

    def kill(self) -> None:
        """SIGKILL this process if it is still the one recorded."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def descendants(pids: Iterable[int]) -> list[Proc]:
    """These processes and every descendant reachable through /proc children lists."""
    found: list[Proc] = []
    todo = list(pids)
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        proc = Proc.of(pid)
        if proc is not None:
            found.append(proc)
            todo.extend(children(pid))
    return found


def marked(variable: bytes) -> list[Proc]:
    """Every process (but this one) whose environment holds `variable` (b"NAME=value")."""
    found: list[Proc] = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if variable in env:
            proc = Proc.of(int(entry))
            if proc is not None and proc.alive():
                found.append(proc)
    return found


def wait_gone(procs: Iterable[Proc], timeout: float) -> list[Proc]:
    """Wait until none of `procs` is alive; return those still alive at the deadline."""
    left = list(procs)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        left = [p for p in left if p.alive()]
        if left:
            time.sleep(0.02)
    return [p for p in left if p.alive()]


class ChildCounter:
    """Counts a daemon's direct children that have exec'd a given command name.

    Children already seen with that name are remembered, so each poll reads only the
    children lists and the names of new pids: cheap enough to poll every few ms.
    """

    def __init__(self, parents: Iterable[int], name: str) -> None:
        self.parents = tuple(parents)
        self.name = name
        self._known: set[int] = set()

    def count(self) -> int:
        """How many children named `name` the parents have now (zombies included)."""
        now = {c for p in self.parents for c in children(p)}
        self._known &= now
        for pid in now - self._known:
            if comm(pid) == self.name:
                self._known.add(pid)
        return len(self._known)
