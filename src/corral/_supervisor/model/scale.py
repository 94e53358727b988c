"""PURE: `corral scale NAME N`, and how long an operator's scale outlives config changes.

A scale sets a program's instance count at run time. It is kept, by value, with the
config's `numprocs` at the time (`base`): a reload whose config still says `base` keeps
the scale, one that changed `numprocs` means the config now decides, and the scale is
dropped. The state file carries the scales (runtime/checkpoint.py), so a daemon
started again on the same config brings the program back at its scaled size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from corral._errors import InvalidSpec
from corral._supervisor.model.program import Program

__all__ = ["MAX_INSTANCES", "Scaled", "apply_scales", "check_count"]

MAX_INSTANCES = 10_000
"""The most instances `scale` gives one program: each costs two log files and a driver."""


@dataclass(frozen=True, slots=True)
class Scaled:
    """A program's instance count set by `scale`, and the config's numprocs it replaced."""

    count: int
    """Instances asked for."""
    base: int
    """The config's `numprocs` when it was asked: a config that changes it ends the scale."""


def check_count(count: object) -> int:
    """`count` if it is a whole number from 1 to MAX_INSTANCES, else InvalidSpec."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_INSTANCES:
        raise InvalidSpec(
            f"scale takes a number of instances from 1 to {MAX_INSTANCES}, got {count!r}"
        )
    return count


def apply_scales(
    programs: Mapping[str, Program], scales: Mapping[str, Scaled]
) -> tuple[dict[str, Program], dict[str, Scaled]]:
    """The programs with each scale applied whose `base` is still the config's numprocs,
    and the scales so kept; the others are dropped (their program changed or is gone)."""
    scaled = dict(programs)
    kept: dict[str, Scaled] = {}
    for name, scale in scales.items():
        program = programs.get(name)
        if program is None or program.numprocs != scale.base:
            continue
        try:
            scaled[name] = dataclasses.replace(program, numprocs=scale.count)
        except InvalidSpec:  # the new config's log names no longer fit at that count
            continue
        kept[name] = scale
    return scaled, kept
