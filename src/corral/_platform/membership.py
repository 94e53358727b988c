"""What names a process tree to `_platform.tree_members`: its identity, on any platform.

What a member is, is said once, in linux/procfs.py. Stopping a tree
(`_process.tree`) and counting and charging it (status, metrics, Prometheus) ask
the same scan, so what stop kills is what status counts.
"""

from __future__ import annotations

from typing import Protocol


class CgroupMembers(Protocol):
    """A cgroup as far as membership needs it: who is in it now."""

    def members(self) -> list[int]:
        """Pids in it now (sub-cgroups included); [] once removed."""
        ...


class TreeIdentity(Protocol):
    """What names one tree: `_process.tree.Tree` is one."""

    @property
    def root(self) -> int:
        """The pid corral spawned."""
        ...

    @property
    def pgid(self) -> int:
        """Its process group (the root's pid, unless it joined another)."""
        ...

    @property
    def marker(self) -> bytes:
        """Its b"CORRAL_TREE=..." environment entry."""
        ...

    @property
    def cgroup(self) -> CgroupMembers | None:
        """The sandbox's cgroup, when it has one."""
        ...
