"""What `corral doctor` reports: each feature, whether this machine has it, and what uses it.

Pure: it turns the platform's feature table (`features()`) into rows, and the CLI
renders them. The sandbox options that need no feature (user, group, groups,
umask, rlimits) work on any POSIX system and get no row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypedDict

from corral._platform.features import Feature, FeatureStatus

Group: TypeAlias = Literal["sandbox", "process"]

SANDBOX_USES: Mapping[Feature, str] = {
    Feature.NO_NEW_PRIVS: "no_new_privs",
    Feature.CAPABILITIES: "capabilities",
    Feature.CGROUPS: "cgroup (any limit), memory, pids, cpu",
    Feature.CGROUP_MEMORY: "memory, cgroup.memory_max, memory_high, memory_swap_max",
    Feature.CGROUP_CPU: "cpu, cgroup.cpu_quota, cpu_weight",
    Feature.CGROUP_PIDS: "pids, cgroup.pids_max",
    Feature.SECCOMP: "seccomp",
    Feature.NS_PID: "namespaces.pid, init",
    Feature.NS_NET: "namespaces.net, veth",
    Feature.NS_MOUNT: "namespaces.mount, private_tmp, read_only, hidden, root",
    Feature.NS_UTS: "namespaces.hostname",
    Feature.NS_IPC: "namespaces.ipc",
    Feature.NS_USER: "namespaces.user",
    Feature.APPARMOR: "sandbox profile --load (a profile is written without it)",
}
"""The sandbox config keys (under [programs.NAME.sandbox]) each feature makes possible."""

PROCESS_USES: Mapping[Feature, str] = {
    Feature.PIDFD: "exit notification without a thread per process",
    Feature.PIDFD_EXIT_INFO: "the real exit status of a child something else reaped",
    Feature.PROC_SCAN: "finding and ending a whole tree, double-forked members too",
    Feature.SPAWN_CHDIR: "a working directory without going through a shell",
    Feature.SPAWN_CLOSEFROM: "closing stray fds in a child when we hold many",
    Feature.FD_LISTING: "finding stray inheritable fds without probing every number",
    Feature.RENAME_EXCHANGE: "log rotation during which the log's name never goes missing",
    Feature.SUBREAPER: "adopting the orphans of supervised programs",
}
"""What the process-management features are for; each has a fallback."""


_GROUPS: tuple[tuple[Group, Mapping[Feature, str]], ...] = (
    ("sandbox", SANDBOX_USES),
    ("process", PROCESS_USES),
)


class DoctorRowJSON(TypedDict):
    """One row of `corral doctor --json`."""

    feature: str
    group: Group
    supported: bool
    used_by: str
    reason: str
    needs: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorRow:
    """One feature of this machine: whether it is there, what uses it, and if not, why."""

    feature: str
    """The feature's name, as UnsupportedFeature errors give it ("cgroup-memory")."""
    group: Group
    """sandbox: needed by a sandbox option; process: process management (has a fallback)."""
    supported: bool
    used_by: str
    """The config keys (sandbox) or the behaviour (process) that depend on it."""
    reason: str = ""
    """Why it is missing; empty when supported."""
    needs: str = ""
    """What would make it available; empty when supported."""

    def as_json(self) -> DoctorRowJSON:
        """The row as `corral doctor --json` prints it."""
        return DoctorRowJSON(
            feature=self.feature,
            group=self.group,
            supported=self.supported,
            used_by=self.used_by,
            reason=self.reason,
            needs=self.needs,
        )


def doctor_rows(statuses: Mapping[Feature, FeatureStatus]) -> list[DoctorRow]:
    """The rows for `statuses` (from `features()`): sandbox features first, in table order."""
    rows: list[DoctorRow] = []
    for group, uses in _GROUPS:
        for feature, used_by in uses.items():
            status = statuses.get(feature)
            if status is not None:
                rows.append(_row(status, group, used_by))
    return rows


def _row(status: FeatureStatus, group: Group, used_by: str) -> DoctorRow:
    return DoctorRow(
        feature=status.feature.value,
        group=group,
        supported=status.supported,
        used_by=used_by,
        reason="" if status.supported else status.reason,
        needs="" if status.supported else status.needs,
    )
