"""Resource use of process trees: CPU seconds and RSS summed over each tree.

Generic: a tree is named by any key and found by its process group plus every
process that descends from a member. One process table serves every tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from corral._platform import ProcUsage, process_table


@dataclass(frozen=True, slots=True)
class Usage:
    """A tree's totals at one moment."""

    cpu_seconds: float
    """CPU time (user + system) used by the tree's live members."""
    rss_bytes: int
    """Resident memory of the tree's live members."""
    processes: int
    """Live members counted."""


def tree_usage(groups: Mapping[str, int]) -> dict[str, Usage]:
    """Usage of each tree, given key -> process group id (the root's pid)."""
    if not groups:
        return {}
    return {key: total(members) for key, members in tree_members(process_table(), groups).items()}


def total(members: list[ProcUsage]) -> Usage:
    """The sums over a tree's members."""
    return Usage(
        cpu_seconds=sum(p.cpu_seconds for p in members),
        rss_bytes=sum(p.rss_bytes for p in members),
        processes=len(members),
    )


def tree_members(
    table: Mapping[int, ProcUsage], groups: Mapping[str, int]
) -> dict[str, list[ProcUsage]]:
    """Each tree's live members in `table`: its process group and their descendants."""
    children: dict[int, list[ProcUsage]] = {}
    by_group: dict[int, list[ProcUsage]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc)
        by_group.setdefault(proc.pgid, []).append(proc)
    return {key: _with_descendants(by_group.get(g, []), children) for key, g in groups.items()}


def _with_descendants(
    members: list[ProcUsage], children: dict[int, list[ProcUsage]]
) -> list[ProcUsage]:
    seen: dict[int, ProcUsage] = {proc.pid: proc for proc in members}
    frontier = list(members)
    while frontier:
        proc = frontier.pop()
        for child in children.get(proc.pid, ()):
            if child.pid not in seen:
                seen[child.pid] = child
                frontier.append(child)
    return list(seen.values())
