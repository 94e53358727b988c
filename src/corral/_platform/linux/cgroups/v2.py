"""cgroup v2: one unified hierarchy, controllers enabled top-down.

A controller works in a cgroup only if its parent lists it in
cgroup.subtree_control (Documentation/admin-guide/cgroup-v2.rst). corral writes
only inside its own corral.<pid> directory, which holds no processes, so it can
enable there whatever our own cgroup passes down. It never changes our own
cgroup: that one holds us (and maybe others), and the "no internal processes"
rule forbids a non-root cgroup with processes to enable controllers for its
children anyway. A controller our cgroup does not pass down is unsupported, and
the reason says which file lacks it.

Limits: memory.max, memory.high, memory.swap.max, cpu.max ("<quota> <period>",
period 100000 us), cpu.weight, pids.max. A missing file (a kernel without swap
accounting has no memory.swap.max) is an UnsupportedFeature naming it. Membership,
cgroup.freeze (5.2+) and cgroup.kill (5.14+) need no controller, nor does the CPU
time in cpu.stat, so a v2 tree with no controllers (the hybrid layout) still
gives kill, removal and CPU usage.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

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

CPU_PERIOD_US = 100_000
_OPTIONAL: tuple[Controller, ...] = ("memory", "pids", "cpu")  # for usage, where passed down


class V2Driver:
    """The unified (v2) layout, in a pure v2 system or the v2 tree of a hybrid one."""

    version = 2

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.hierarchy = hierarchy

    def problem(self, controller: Controller | None) -> Missing | None:
        """Why `controller` (None: cgroups at all) cannot be used; None if it can."""
        own = self.hierarchy.own
        if not os.access(own, os.W_OK):
            return Missing(
                reason=f"cgroup v2: our cgroup {own} is not writable by uid {os.geteuid()}",
                needs="root, or a delegated cgroup (systemd Delegate=yes)",
            )
        if controller is None:
            return None
        if controller not in self.hierarchy.controllers:
            offered = " ".join(sorted(self.hierarchy.controllers)) or "nothing"
            return Missing(
                reason=f"cgroup v2 at {self.hierarchy.mount}: the {controller} controller is "
                f"not available to our cgroup {own} (its cgroup.controllers lists {offered})",
                needs=f"{controller} enabled in cgroup.subtree_control above our cgroup; "
                "a hybrid layout binds controllers to cgroup v1 instead",
            )
        enabled = _enabled(own)
        if controller not in enabled:
            return Missing(
                reason=f"cgroup v2: our cgroup {own} does not pass the {controller} controller "
                f"down (its cgroup.subtree_control lists {' '.join(sorted(enabled)) or 'nothing'})",
                needs=f"+{controller} in {own}/cgroup.subtree_control, which corral leaves alone "
                "(start corral in a delegated cgroup that enables it)",
            )
        return None

    def create(self, name: str, controllers: frozenset[Controller]) -> V2Cgroup:
        """corral.<pid>/<name> beneath our cgroup, with these controllers enabled."""
        for controller in (None, *sorted(controllers)):
            missing = self.problem(controller)
            if missing is not None:
                feature = "cgroups" if controller is None else f"cgroup-{controller}"
                raise UnsupportedFeature(feature, reason=missing.reason, needs=missing.needs)
        wanted = set(controllers) | {c for c in _OPTIONAL if self.problem(c) is None}

        def enable(parent: str) -> None:
            missing = sorted(wanted - _enabled(parent))
            if missing:
                write(parent, "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))

        return V2Cgroup(layout.make_instance(self.hierarchy, name, enable))

    def __repr__(self) -> str:
        return f"<V2Driver {self.hierarchy.mount} own={self.hierarchy.own}>"


class V2Cgroup:
    """An instance cgroup in the unified hierarchy."""

    __slots__ = ("directory",)

    def __init__(self, directory: str) -> None:
        self.directory = directory

    @property
    def directories(self) -> tuple[str, ...]:
        """Its one directory."""
        return (self.directory,)

    def _write(self, name: str, value: str, feature: str, limit: str) -> None:
        if not os.path.exists(os.path.join(self.directory, name)):
            raise UnsupportedFeature(
                feature,
                reason=f"{limit} needs {name}, which cgroup v2 does not offer here "
                f"(no such file in {self.directory})",
                needs=f"the {feature.removeprefix('cgroup-')} controller enabled for our "
                "cgroups" + (" and swap accounting" if name == "memory.swap.max" else ""),
            )
        write(self.directory, name, value)

    # -- limits ----------------------------------------------------------------

    def set_memory_max(self, limit: int) -> None:
        self._write("memory.max", str(limit), "cgroup-memory", "memory_max")

    def set_memory_high(self, limit: int) -> None:
        self._write("memory.high", str(limit), "cgroup-memory", "memory_high")

    def set_memory_swap_max(self, limit: int, *, memory_max: int | None) -> None:
        self._write("memory.swap.max", str(limit), "cgroup-memory", "memory_swap_max")

    def set_cpu_quota(self, cores: float) -> None:
        quota = max(1, round(cores * CPU_PERIOD_US))
        self._write("cpu.max", f"{quota} {CPU_PERIOD_US}", "cgroup-cpu", "cpu_quota")

    def set_cpu_weight(self, weight: int) -> None:
        self._write("cpu.weight", str(weight), "cgroup-cpu", "cpu_weight")

    def set_pids_max(self, limit: int) -> None:
        self._write("pids.max", str(limit), "cgroup-pids", "pids_max")

    # -- usage -----------------------------------------------------------------

    def usage(self) -> Usage:
        """Memory, CPU time, pids and OOM kills (None for a controller not enabled)."""
        here = self.directory
        microseconds = read_keyed(f"{here}/cpu.stat", "usage_usec")
        return Usage(
            memory_current=read_int(f"{here}/memory.current"),
            memory_peak=read_int(f"{here}/memory.peak"),
            cpu_seconds=None if microseconds is None else microseconds / 1e6,
            pids=read_int(f"{here}/pids.current"),
            oom_kills=read_keyed(f"{here}/memory.events", "oom_kill"),
        )

    # -- ending ----------------------------------------------------------------

    def members(self) -> list[int]:
        """Pids in it now (sub-cgroups included); [] once removed."""
        return procs(self.directory)

    def frozen(self) -> contextlib.AbstractContextManager[None]:
        """Freeze it for the block (cgroup.freeze), so nobody forks meanwhile."""
        if not os.path.exists(os.path.join(self.directory, "cgroup.freeze")):
            return nothing_to_freeze()
        return _frozen(self.directory)

    def kill_members(self, pids: list[int]) -> None:
        """cgroup.kill where the kernel has it (sub-cgroups included), else each pid."""
        has_kill = os.path.exists(os.path.join(self.directory, "cgroup.kill"))
        if not (has_kill and try_write(self.directory, "cgroup.kill", "1")):
            send_kill(pids)

    def kill_all(self) -> list[int]:
        """SIGKILL every member until it is empty (bounded); returns the pids killed."""
        return kill_until_empty(self)

    def remove(self) -> None:
        """Remove its directory, killing what is left first (bounded)."""
        remove_when_empty(self, self.directories)

    def __repr__(self) -> str:
        return f"<V2Cgroup {self.directory}>"


def _enabled(directory: str) -> set[str]:
    return set((read(os.path.join(directory, "cgroup.subtree_control")) or "").split())


@contextlib.contextmanager
def _frozen(directory: str) -> Iterator[None]:
    if not try_write(directory, "cgroup.freeze", "1"):  # kill unfrozen; the rounds repeat
        yield
        return
    try:
        events = os.path.join(directory, "cgroup.events")
        wait_for(lambda: "frozen 1" in (read(events) or "frozen 1"), FREEZE_TIMEOUT)
        yield
    finally:
        try_write(directory, "cgroup.freeze", "0")  # fails only once it is gone
