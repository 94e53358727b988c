"""cgroups for sandboxed instances: the driver for this machine's layout, and the probes.

`detect()` reads the layout once (layout.py): if any v1 controller hierarchy is
mounted, the machine runs cgroup v1 or the hybrid layout, whose v2 tree has no
controllers, so the v1 driver is chosen; otherwise the unified v2 hierarchy. The
drivers themselves can also be built on any hierarchy (the tests drive both here).
docs/decisions/0005-cgroups.md has the v1/v2 mapping and what is unsupported where.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from corral._platform.features import Feature, FeatureStatus
from corral._platform.linux.cgroups import layout
from corral._platform.linux.cgroups.driver import (
    Cgroup,
    CgroupDriver,
    CgroupStepFailed,
    Controller,
    Missing,
    Usage,
)
from corral._platform.linux.cgroups.layout import Hierarchy, instance_name, join

__all__ = [
    "CONTROLLER_OF",
    "Cgroup",
    "CgroupDriver",
    "CgroupStepFailed",
    "Controller",
    "Missing",
    "Usage",
    "detect",
    "driver_for",
    "instance_name",
    "join",
    "probe",
    "status_of",
]

CONTROLLER_OF: dict[Feature, Controller | None] = {
    Feature.CGROUPS: None,
    Feature.CGROUP_MEMORY: "memory",
    Feature.CGROUP_CPU: "cpu",
    Feature.CGROUP_PIDS: "pids",
}
"""The controller each cgroup feature needs (None: creating cgroups at all)."""


@functools.cache
def detect() -> CgroupDriver | None:
    """The driver for this machine's cgroup layout, or None when no hierarchy is mounted."""
    return driver_for(layout.hierarchies())


def driver_for(hierarchies: Sequence[Hierarchy]) -> CgroupDriver | None:
    """v1 when any v1 controller hierarchy is there (legacy or hybrid), else v2."""
    from corral._platform.linux.cgroups.v1 import V1Driver
    from corral._platform.linux.cgroups.v2 import V2Driver

    v1 = [h for h in hierarchies if h.version == 1]
    if v1:
        return V1Driver(v1)
    v2 = next((h for h in hierarchies if h.version == 2), None)
    return None if v2 is None else V2Driver(v2)


def probe(feature: Feature) -> FeatureStatus:
    """The status of a cgroup feature with this machine's driver."""
    return status_of(detect(), feature)


def status_of(driver: CgroupDriver | None, feature: Feature) -> FeatureStatus:
    """The status of a cgroup feature with `driver` (None: no hierarchy found)."""
    if driver is None:
        return FeatureStatus(
            feature=feature,
            supported=False,
            reason="no cgroup file system is mounted (/proc/self/mountinfo lists no cgroup2 "
            "and no cgroup v1 controller), or our own cgroup is not visible in it",
            needs="a mounted cgroup2 file system (or cgroup v1 controllers)",
        )
    missing = driver.problem(CONTROLLER_OF[feature])
    if missing is None:
        return FeatureStatus(feature=feature, supported=True)
    return FeatureStatus(
        feature=feature, supported=False, reason=missing.reason, needs=missing.needs
    )
