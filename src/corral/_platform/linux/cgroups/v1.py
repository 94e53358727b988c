"""cgroup v1: a hierarchy per controller (or per group of co-mounted controllers).

An instance gets a directory in each hierarchy it uses, and the child joins each
one (cgroups(7)). Besides the controllers its limits need, it joins memory,
cpuacct and pids where usable, for usage, and the freezer, for killing. Limits
map to v1 files (Documentation/admin-guide/cgroup-v1/):

- memory_max: memory.limit_in_bytes.
- memory_high: none. memory.soft_limit_in_bytes only reclaims under machine-wide
  memory pressure and never throttles, so it is not the same limit: an error.
- memory_swap_max: memory.memsw.limit_in_bytes counts memory *plus* swap, so it is
  written as memory_max + memory_swap_max and needs memory_max. The file exists
  only with swap accounting (CONFIG_MEMCG_SWAP, swapaccount=1); else an error.
- cpu_quota: cpu.cfs_period_us = 100000 and cpu.cfs_quota_us = cores x period.
  The kernel refuses a quota under 1000 us (cpu_quota below 0.01) with EINVAL.
- cpu_weight: cpu.shares = weight x 1024 / 100, at least 2: v2's default weight
  100 is v1's default 1024 shares, and the ratio between two programs is kept.
- pids_max: pids.max.

Killing: a v1 frozen task does not die of SIGKILL until it is thawed, so the kill
loop freezes (freezer.state FROZEN), lists, signals, then thaws.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

from corral._errors import UnsupportedFeature
from corral._platform.linux.cgroups import layout
from corral._platform.linux.cgroups.driver import (
    FREEZE_TIMEOUT,
    Controller,
    Missing,
    Usage,
    kill_until_empty,
    nothing_to_freeze,
    procs,
    read,
    read_int,
    read_keyed,
    send_kill,
    try_write,
    wait_for,
    write,
)
from corral._platform.linux.cgroups.layout import Hierarchy, remove_when_empty

CFS_PERIOD_US = 100_000
_ORDER = ("memory", "cpu", "cpuacct", "pids", "freezer")
_OPTIONAL = ("memory", "cpuacct", "pids", "freezer")  # usage and killing, where usable
_TRACKING = ("freezer", "pids", "memory", "cpuacct", "cpu")  # whose cgroup.procs is the truth


def shares_for(weight: int) -> int:
    """cpu.shares for a v2-style weight (1..10000): 100 -> 1024, at least 2."""
    return max(2, round(weight * 1024 / 100))


class V1Driver:
    """The v1 (legacy or hybrid) layout: controllers each in their own hierarchy."""

    version = 1

    def __init__(self, hierarchies: Sequence[Hierarchy]) -> None:
        self.hierarchies = {
            name: h for h in hierarchies if h.version == 1 for name in h.controllers
        }

    def problem(self, controller: Controller | None) -> Missing | None:
        """Why `controller` (None: cgroups at all) cannot be used; None if it can."""
        if controller is not None:
            return self._unusable(controller)
        if any(self._unusable(name) is None for name in _TRACKING):
            return None
        first = self._unusable("freezer") or self._unusable("pids")
        return first or Missing(reason="no cgroup v1 controller", needs="cgroups")

    def _unusable(self, name: str) -> Missing | None:
        found = self.hierarchies.get(name)
        if found is None:
            mounted = ", ".join(sorted(self.hierarchies)) or "none"
            return Missing(
                reason=f"cgroup v1: no hierarchy has the {name} controller (mounted: {mounted})",
                needs=f"the {name} controller mounted as a cgroup v1 hierarchy",
            )
        if not os.access(found.own, os.W_OK):
            return Missing(
                reason=f"cgroup v1: our {name} cgroup {found.own} is not writable by "
                f"uid {os.geteuid()}",
                needs="root, or write access to our own cgroup (a delegated cgroup)",
            )
        return None

    def create(self, name: str, controllers: frozenset[Controller]) -> V1Cgroup:
        """Directories corral.<pid>/<name> in each hierarchy the instance uses."""
        unusable = self.problem(None)
        if unusable is not None:
            raise UnsupportedFeature("cgroups", **_fields(unusable))
        for controller in controllers:
            missing = self._unusable(controller)
            if missing is not None:
                raise UnsupportedFeature(f"cgroup-{controller}", **_fields(missing))
        wanted: set[str] = {*controllers, *(c for c in _OPTIONAL if self._unusable(c) is None)}
        if not wanted & set(_TRACKING):
            wanted |= {next(c for c in _TRACKING if self._unusable(c) is None)}
        directories: dict[str, str] = {}
        by_mount: dict[str, str] = {}
        try:
            for each in sorted(wanted, key=_ORDER.index):
                found = self.hierarchies[each]
                if found.mount not in by_mount:
                    by_mount[found.mount] = layout.make_instance(found, name)
                directories[each] = by_mount[found.mount]
        except BaseException:
            for directory in by_mount.values():
                layout.remove_instance(directory)
            raise
        return V1Cgroup(directories)

    def __repr__(self) -> str:
        return f"<V1Driver {' '.join(sorted(self.hierarchies))}>"


class V1Cgroup:
    """An instance cgroup: a directory per v1 hierarchy."""

    __slots__ = ("_by_controller", "_tracking")

    def __init__(self, directories: dict[str, str]) -> None:
        self._by_controller = directories
        self._tracking = next(directories[c] for c in _TRACKING if c in directories)

    @property
    def directories(self) -> tuple[str, ...]:
        """Its directory in each hierarchy, in a fixed order."""
        return tuple(dict.fromkeys(self._by_controller.values()))

    def _path(self, controller: str, name: str) -> str | None:
        directory = self._by_controller.get(controller)
        return None if directory is None else os.path.join(directory, name)

    def _dir(self, controller: str) -> str:
        directory = self._by_controller.get(controller)
        if directory is None:  # create() refuses a limit without its controller
            raise UnsupportedFeature(
                f"cgroup-{controller}",
                reason=f"this instance has no {controller} cgroup",
                needs=f"the {controller} controller",
            )
        return directory

    # -- limits ----------------------------------------------------------------

    def set_memory_max(self, limit: int) -> None:
        write(self._dir("memory"), "memory.limit_in_bytes", str(limit))

    def set_memory_high(self, limit: int) -> None:
        raise UnsupportedFeature(
            "cgroup-memory",
            reason="memory_high has no cgroup v1 equivalent (memory.soft_limit_in_bytes "
            "only reclaims under machine-wide memory pressure and never throttles)",
            needs="cgroup v2 (memory.high)",
        )

    def set_memory_swap_max(self, limit: int, *, memory_max: int | None) -> None:
        directory = self._dir("memory")
        if memory_max is None:
            raise UnsupportedFeature(
                "cgroup-memory",
                reason="cgroup v1 limits memory and swap together "
                "(memory.memsw.limit_in_bytes), so memory_swap_max needs memory_max too",
                needs="memory_max set as well, or cgroup v2 (memory.swap.max)",
            )
        if not os.path.exists(os.path.join(directory, "memory.memsw.limit_in_bytes")):
            raise UnsupportedFeature(
                "cgroup-memory",
                reason="memory_swap_max needs memory.memsw.limit_in_bytes, which this "
                "kernel does not provide (swap accounting is off)",
                needs="swapaccount=1 on the kernel command line, or cgroup v2",
            )
        write(directory, "memory.memsw.limit_in_bytes", str(memory_max + limit))

    def set_cpu_quota(self, cores: float) -> None:
        directory = self._dir("cpu")
        write(directory, "cpu.cfs_period_us", str(CFS_PERIOD_US))
        write(directory, "cpu.cfs_quota_us", str(max(1, round(cores * CFS_PERIOD_US))))

    def set_cpu_weight(self, weight: int) -> None:
        write(self._dir("cpu"), "cpu.shares", str(shares_for(weight)))

    def set_pids_max(self, limit: int) -> None:
        write(self._dir("pids"), "pids.max", str(limit))

    # -- usage -----------------------------------------------------------------

    def usage(self) -> Usage:
        """Memory, CPU time, pids and OOM kills, from whichever hierarchies it joined."""
        memory = self._by_controller.get("memory")
        cpuacct = self._path("cpuacct", "cpuacct.usage")
        pids = self._path("pids", "pids.current")
        nanoseconds = None if cpuacct is None else read_int(cpuacct)
        if memory is None:
            return Usage(cpu_seconds=_seconds(nanoseconds), pids=_int(pids))
        return Usage(
            memory_current=read_int(f"{memory}/memory.usage_in_bytes"),
            memory_peak=read_int(f"{memory}/memory.max_usage_in_bytes"),
            cpu_seconds=_seconds(nanoseconds),
            pids=_int(pids),
            oom_kills=read_keyed(f"{memory}/memory.oom_control", "oom_kill"),
        )

    # -- ending ----------------------------------------------------------------

    def members(self) -> list[int]:
        """Pids in it now (sub-cgroups included); [] once removed."""
        return procs(self._tracking)

    def frozen(self) -> contextlib.AbstractContextManager[None]:
        """Freeze it for the block (the freezer hierarchy), so nobody forks meanwhile."""
        freezer = self._by_controller.get("freezer")
        return nothing_to_freeze() if freezer is None else _frozen(freezer)

    def kill_members(self, pids: list[int]) -> None:
        send_kill(pids)

    def kill_all(self) -> list[int]:
        """SIGKILL every member until it is empty (bounded); returns the pids killed."""
        return kill_until_empty(self)

    def remove(self) -> None:
        """Remove every directory, killing what is left first (bounded)."""
        remove_when_empty(self, self.directories)

    def __repr__(self) -> str:
        return f"<V1Cgroup {self._tracking}>"


@contextlib.contextmanager
def _frozen(freezer: str) -> Iterator[None]:
    if not try_write(freezer, "freezer.state", "FROZEN"):  # kill unfrozen; the rounds repeat
        yield
        return
    try:
        state = os.path.join(freezer, "freezer.state")
        wait_for(lambda: (read(state) or "").strip() in ("FROZEN", ""), FREEZE_TIMEOUT)
        yield
    finally:
        try_write(freezer, "freezer.state", "THAWED")  # fails only once it is gone


def _seconds(nanoseconds: int | None) -> float | None:
    return None if nanoseconds is None else nanoseconds / 1e9


def _int(path: str | None) -> int | None:
    return None if path is None else read_int(path)


def _fields(missing: Missing) -> dict[str, str]:
    return {"reason": missing.reason, "needs": missing.needs}
