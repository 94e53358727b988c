"""CgroupLimits -> an instance cgroup made in the parent, joined by the child before exec.

Planning checks each feature a set limit needs (memory, cpu, pids; cgroups at
all for an empty CgroupLimits, which still gives the instance a cgroup to be
found and killed by), creates the instance cgroup beneath our own, writes the
limits, and adds one child step per hierarchy that moves the child in. A limit
the layout cannot express (memory_high on cgroup v1) is an UnsupportedFeature
naming it, never skipped; a write the kernel refuses is a failed step naming the
file ("cgroup: cpu.cfs_quota_us: invalid argument").
"""

from __future__ import annotations

import functools
import os

from corral._errors import UnsupportedFeature
from corral._platform import Feature, feature_status
from corral._platform.linux.cgroups import Cgroup, Controller, detect, instance_name, join
from corral._sandbox.plan import Plan
from corral._sandbox.spec import CgroupLimits

_FEATURE: dict[Controller, Feature] = {
    "memory": Feature.CGROUP_MEMORY,
    "cpu": Feature.CGROUP_CPU,
    "pids": Feature.CGROUP_PIDS,
}


def controllers_for(limits: CgroupLimits) -> frozenset[Controller]:
    """The controllers the limits set in `limits` need."""
    needed: set[Controller] = set()
    if any(v is not None for v in (limits.memory_max, limits.memory_high, limits.memory_swap_max)):
        needed.add("memory")
    if limits.cpu_quota is not None or limits.cpu_weight is not None:
        needed.add("cpu")
    if limits.pids_max is not None:
        needed.add("pids")
    return frozenset(needed)


def plan_cgroup(limits: CgroupLimits, plan: Plan, *, label: str) -> None:
    """Create the instance cgroup for `limits`, and the child's steps to join it."""
    needed = controllers_for(limits)
    feature_status(Feature.CGROUPS).require()
    for controller in sorted(needed):
        feature_status(_FEATURE[controller]).require()
    driver = detect()
    if driver is None:  # only when a test forced the features on
        raise UnsupportedFeature("cgroups", reason="no cgroup hierarchy found", needs="cgroups")
    cgroup = driver.create(instance_name(label), needed)
    runtime = InstanceCgroup(cgroup)
    plan.cleanup.append(runtime.remove)
    _write_limits(limits, cgroup, plan.limits)
    for directory in cgroup.directories:
        procs = os.path.join(directory, "cgroup.procs")
        plan.add("cgroup", f"cgroup: join {directory}", functools.partial(join, procs))
    plan.cgroup = runtime


def _write_limits(limits: CgroupLimits, cgroup: Cgroup, summary: dict[str, object]) -> None:
    if limits.memory_max is not None:
        cgroup.set_memory_max(limits.memory_max)
    if limits.memory_high is not None:
        cgroup.set_memory_high(limits.memory_high)
    if limits.memory_swap_max is not None:
        cgroup.set_memory_swap_max(limits.memory_swap_max, memory_max=limits.memory_max)
    if limits.cpu_quota is not None:
        cgroup.set_cpu_quota(limits.cpu_quota)
    if limits.cpu_weight is not None:
        cgroup.set_cpu_weight(limits.cpu_weight)
    if limits.pids_max is not None:
        cgroup.set_pids_max(limits.pids_max)
    for key in ("memory_max", "memory_high", "memory_swap_max", "cpu_quota", "cpu_weight",
                "pids_max"):  # fmt: skip
        value = getattr(limits, key)
        if value is not None:
            summary[f"cgroup.{key}"] = value


class InstanceCgroup:
    """The cgroup of one sandboxed process, as the runtime sees it (plan.CgroupRuntime)."""

    __slots__ = ("_cgroup",)

    def __init__(self, cgroup: Cgroup) -> None:
        self._cgroup = cgroup

    @property
    def paths(self) -> tuple[str, ...]:
        """Its directory in each hierarchy."""
        return self._cgroup.directories

    def usage(self) -> dict[str, int | float | None]:
        """memory_current, memory_peak, cpu_seconds, pids, oom_kills (None where unknown)."""
        return self._cgroup.usage().as_dict()

    def members(self) -> list[int]:
        """Pids in it now (sub-cgroups included); [] once removed."""
        return self._cgroup.members()

    def kill_all(self) -> list[int]:
        """SIGKILL every process in it until it is empty (bounded); the pids killed."""
        return self._cgroup.kill_all()

    def remove(self) -> None:
        """Remove its directories (killing anything left in it first, bounded)."""
        self._cgroup.remove()

    def __repr__(self) -> str:
        return f"<InstanceCgroup {' '.join(self.paths)}>"
