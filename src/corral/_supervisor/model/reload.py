"""PURE: what a reload changes: old programs against new ones, compared by value.

Only added, removed and changed programs are touched. Any difference in a
program's spec makes it "changed" and it restarts as a whole, numprocs included
(growing from 2 to 3 instances restarts all three): simple and predictable, like
supervisord's `update`, and a program whose spec did not change is never touched.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from corral._supervisor.model.program import Program

__all__ = ["ReloadPlan", "diff_programs"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadPlan:
    """Program names by what a reload does to them, each sorted by priority, then name.

    That is start order; stop in reverse (lower priority starts first, stops last).
    """

    added: tuple[str, ...]
    """In the new config only: start them (if autostart)."""
    removed: tuple[str, ...]
    """In the old config only: stop them and forget them."""
    changed: tuple[str, ...]
    """In both, with different specs: stop them, then start them with the new spec."""
    unchanged: tuple[str, ...]
    """In both, equal: leave them running as they are."""

    @property
    def is_empty(self) -> bool:
        """Whether the reload changes nothing."""
        return not (self.added or self.removed or self.changed)


def diff_programs(
    old: Mapping[str, Program], new: Mapping[str, Program], *, restart: Collection[str] = ()
) -> ReloadPlan:
    """Compare two configs' programs (by name, then by value) and plan the reload.

    `restart` names programs that count as changed even if equal: those whose
    socket got a new address, which their running instances do not have.
    """
    both = [name for name in new if name in old]
    kept = {name for name in both if old[name] == new[name] and name not in restart}
    return ReloadPlan(
        added=_ordered((name for name in new if name not in old), new),
        removed=_ordered((name for name in old if name not in new), old),
        changed=_ordered((name for name in both if name not in kept), new),
        unchanged=_ordered((name for name in both if name in kept), new),
    )


def _ordered(names: Iterable[str], programs: Mapping[str, Program]) -> tuple[str, ...]:
    return tuple(sorted(names, key=lambda name: (programs[name].priority, name)))
