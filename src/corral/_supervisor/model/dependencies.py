"""PURE: program dependencies (`depends_on`): the conditions, the graph's checks, the order.

`depends_on = { db = "healthy", migrate = "completed", cache = "started" }` says a
program starts only once each dependency has reached its condition, as systemd's
Requires= with After= does: started means every instance RUNNING (ready, with
`notify`), healthy the same with every health check passing, completed every
instance EXITED with an expected code (for one-shot programs). Stopping goes the
other way: a program's dependents stop before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal, Protocol

Condition = Literal["started", "healthy", "completed"]
CONDITIONS: tuple[Condition, ...] = ("started", "healthy", "completed")
FAILURE_POLICIES = ("stop", "restart", "ignore")


class Dependent(Protocol):
    """What the graph needs of a program."""

    @property
    def name(self) -> str: ...

    @property
    def priority(self) -> int: ...

    @property
    def depends_on(self) -> tuple[tuple[str, str], ...]: ...


def find_cycle(programs: Mapping[str, Dependent]) -> list[str] | None:
    """A dependency cycle as [a, b, ..., a], or None (every name must be defined).

    Depth-first, iterative (a chain of a thousand programs is no recursion limit).
    """
    done: set[str] = set()
    for start in sorted(programs):
        if start in done:
            continue
        path = [start]
        position = {start: 0}
        next_child = [0]
        while path:
            name = path[-1]
            needs = _needs(programs[name])
            if next_child[-1] == len(needs):
                done.add(name)
                del position[name]
                path.pop()
                next_child.pop()
                continue
            following = needs[next_child[-1]]
            next_child[-1] += 1
            if following in position:
                return [*path[position[following] :], following]
            if following not in done:
                position[following] = len(path)
                path.append(following)
                next_child.append(0)
    return None


def with_dependencies(names: Iterable[str], programs: Mapping[str, Dependent]) -> set[str]:
    """`names` and every program they need, transitively."""
    return _reach(names, lambda name: _needs(programs[name]))


def with_dependents(names: Iterable[str], programs: Mapping[str, Dependent]) -> set[str]:
    """`names` and every program that needs one of them, transitively."""
    needed_by: dict[str, list[str]] = {}
    for program in programs.values():
        for dependency in _needs(program):
            needed_by.setdefault(dependency, []).append(program.name)
    return _reach(names, lambda name: needed_by.get(name, ()))


def _reach(names: Iterable[str], edges: Callable[[str], Iterable[str]]) -> set[str]:
    """Every name reachable from `names` along `edges`, the names themselves included."""
    found: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending.extend(edges(name))
    return found


def start_layers(names: Iterable[str], programs: Mapping[str, Dependent]) -> list[list[str]]:
    """`names` in layers: each layer's dependencies (among `names`) are in earlier ones.

    Within a layer, by (priority, name), the order without dependencies. The graph
    must be acyclic (the config refuses a cycle).
    """
    left = set(names)
    layers: list[list[str]] = []
    while left:
        ready = [n for n in left if not (set(_needs(programs[n])) & left)]
        layers.append(sorted(ready, key=lambda n: (programs[n].priority, n)))
        left -= set(ready)
    return layers


def _needs(program: Dependent) -> Sequence[str]:
    return [name for name, _ in program.depends_on]
