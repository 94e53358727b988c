"""PURE: what a user's targets ("all", "web", "web:*", "web:0") name, as instance names."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence

from corral._errors import UnknownTarget
from corral._supervisor.model.program import Program

__all__ = ["ALL", "resolve_targets"]

ALL = "all"
"""The target that names every instance of every program."""

_SUGGESTIONS = 3


def resolve_targets(targets: Sequence[str], programs: Mapping[str, Program]) -> list[str]:
    """The instance names the targets name, in program order, each once.

    "all" names every instance; "web" (or "web:*", as supervisorctl writes it) every
    instance of web; "web:0" one. Anything else raises UnknownTarget with a "did you
    mean". "all" always means everything, even if a program is named "all".
    """
    wanted: set[str] = set()
    for target in targets:
        wanted.update(_resolve_one(target, programs))
    return [name for name in _instances(programs) if name in wanted]


def _resolve_one(target: str, programs: Mapping[str, Program]) -> Sequence[str]:
    if target == ALL:
        return list(_instances(programs))
    name, colon, index = target.partition(":")
    program = programs.get(name)
    if program is not None:
        instances = program.instance_names()
        if not colon or index == "*":
            return instances
        if target in instances:
            return [target]
    raise _unknown(target, programs)


def _instances(programs: Mapping[str, Program]) -> Iterator[str]:
    for program in programs.values():
        yield from program.instance_names()


def _unknown(target: str, programs: Mapping[str, Program]) -> UnknownTarget:
    candidates = [ALL, *programs, *_instances(programs)]
    close = difflib.get_close_matches(target, candidates, n=_SUGGESTIONS)
    return UnknownTarget(target, suggestions=close, known=list(programs))
