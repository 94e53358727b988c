"""PURE: what a user's targets ("all", "web", "web:*", "web:0") name, as instance names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from corral._errors import InvalidSpec, UnknownTarget
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
    everything = False
    chosen: dict[str, set[int] | None] = {}
    """Program name -> the indexes named, or None for all of its instances."""
    for target in targets:
        if target == ALL:
            everything = True
            continue
        name, colon, index = target.partition(":")
        program = programs.get(name)
        if program is None:
            raise _unknown(target, programs)
        if not colon or index == "*":
            chosen[name] = None
            continue
        number = _index(index, program)
        if number is None:
            raise _unknown(target, programs)
        if (indexes := chosen.setdefault(name, set())) is not None:
            indexes.add(number)
    if everything:
        return list(_instances(programs))
    # In program order, without listing every instance of a thousand to find one.
    names: list[str] = []
    for name, program in programs.items():
        if name not in chosen:
            continue
        indexes = chosen[name]
        if indexes is None:
            names.extend(program.instance_names())
        else:
            names.extend(program.instance_name(number) for number in sorted(indexes))
    return names


def resolve_program(target: str, what: str, programs: Mapping[str, Program]) -> Program:
    """The program `target` names, for an operation on programs only (`what`: "scale").

    An instance ("web:0", "web:*") or "all" is an InvalidSpec saying what to write;
    an unknown name is UnknownTarget with a "did you mean".
    """
    name, colon, _ = target.partition(":")
    if target == ALL or colon:
        example = name if colon and name in programs else "web"
        raise InvalidSpec(
            f"{what} takes a program, not {'all' if target == ALL else 'an instance'} "
            f"({target!r}): name one program, such as {example!r}"
        )
    program = programs.get(name)
    if program is None:
        raise _unknown(target, programs)
    return program


def _index(text: str, program: Program) -> int | None:
    """The instance index `text` names exactly ("0", not "00" or "+0"), if in range."""
    if not (text.isascii() and text.isdigit()) or (len(text) > 1 and text[0] == "0"):
        return None
    number = int(text)
    return number if number < program.numprocs else None


def _instances(programs: Mapping[str, Program]) -> Iterator[str]:
    for program in programs.values():
        yield from program.instance_names()


def _unknown(target: str, programs: Mapping[str, Program]) -> UnknownTarget:
    candidates = [ALL, *programs, *_instances(programs)]
    import difflib  # only for a bad name: a running daemon need not hold it (130 KiB)

    close = difflib.get_close_matches(target, candidates, n=_SUGGESTIONS)
    return UnknownTarget(target, suggestions=close, known=list(programs))
