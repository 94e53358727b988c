"""supervisord's `%(name)s` expansions, and `%(process_num)d` turned into corral's `{index}`.

supervisord formats each value with Python's `%` operator against a table of
names: `ENV_X` (its environment), `here` (the directory of the file holding the
section), `program_name`, `group_name`, `host_node_name`, `numprocs` and
`process_num`. Here a value becomes pieces, literal text and `ProcessNum`s (the one
name that differs between instances); `%%` is a percent sign. Everything else is
known at import and becomes text; a name that is not in the table, a `%(` without
its `)`, or a `%` that starts no expansion is an error at the value's line.

`index_text` writes pieces as one corral text for every instance (`{index}`
arithmetic, checked against what supervisord would have made of each instance);
`first_text` is instance 0's value, for keys that are the same for all instances.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from corral._control.importing.report import Origin, refuse
from corral._supervisor.model.index_template import parse_template

__all__ = ["ProcessNum", "escape", "expand", "first_text", "index_text", "varies"]

_SPEC = re.compile(
    r"%\((?P<name>[^()]*)\)(?P<flags>[-#0 "
    r"+]*)(?P<width>\d*)(?:\.(?P<precision>\d+))?(?P<kind>[a-zA-Z]?)"
)
_BRACES = re.compile(r"\{\{[^{}]*\}\}|\{[^{}]*\}")
_NAMES_INDEX = re.compile(r"\bindex\b")


@dataclass(frozen=True, slots=True)
class ProcessNum:
    """`%(process_num)...d` in a value: the instance's number, formatted."""

    spec: str
    """The format after the name: "d", "02d"."""
    start: int
    """supervisord's numprocs_start: instance 0's process_num."""

    def at(self, index: int) -> str:
        """The text supervisord gives instance `index`."""
        return f"%{self.spec}" % (self.start + index)  # supervisord's own operator

    @property
    def width(self) -> int:
        digits = self.spec[:-1].lstrip("-#0 +").split(".")[0]
        return int(digits) if digits else 0

    @property
    def padded(self) -> bool:
        """Zero-padded to a width of 2 or more (`02d`): corral's `{index}` is never padded."""
        return self.spec.startswith("0") and self.spec[-1] in "di" and self.width > 1


Pieces = tuple[str | ProcessNum, ...]


def expand(
    text: str, names: Mapping[str, object], origin: Origin, setting: str, used: dict[str, Origin]
) -> Pieces:
    """`text` with every expansion made; `process_num` stays a `ProcessNum`.

    `names` maps each name available here to its value (`process_num` to its start
    number); every `ENV_X` also resolves from the environment given as `ENV_X` keys.
    The environment variables used are added to `used`.
    """
    pieces: list[str | ProcessNum] = []
    literal: list[str] = []
    position = 0
    while True:
        found = text.find("%", position)
        if found < 0:
            literal.append(text[position:])
            break
        literal.append(text[position:found])
        if text.startswith("%%", found):
            literal.append("%")
            position = found + 2
            continue
        match = _SPEC.match(text, found)
        if not text.startswith("%(", found):
            got = f"a lone % in {text!r}"
            refuse(origin, "an expansion %(name)s, or %% for a percent sign", got, setting)
        if ")" not in text[found:]:
            refuse(
                origin,
                "a closed expansion %(name)s",
                f"{text[found:]!r} (no closing parenthesis)",
                setting,
            )
        if match is None or not match["kind"]:
            refuse(
                origin,
                "an expansion %(name)s or %(name)d",
                f"{text[found:]!r} (no format letter after the name)",
                setting,
            )
        name, kind = match["name"], match["kind"]
        if kind not in "sdir":
            refuse(origin, "an expansion ending in s or d", f"%({name}){kind}", setting)
        if name not in names:
            available = ", ".join([*sorted(n for n in names if not n.startswith("ENV_")), "ENV_X"])
            if name.startswith("ENV_"):
                refuse(
                    origin,
                    f"an environment variable {name[4:]} set when importing",
                    f"%({name})s, which is not set",
                    setting,
                )
            refuse(
                origin,
                f"an expansion supervisord knows here: {available}",
                f"%({name}){kind}",
                setting,
            )
        if name.startswith("ENV_"):
            used.setdefault(name[4:], origin)
        spec = text[match.start("flags") : match.end()]
        if name == "process_num":
            _format(0, spec, origin, setting)  # the spec checked once; at() formats each one
            pieces += ["".join(literal), ProcessNum(spec, int(str(names[name])))]
            literal = []
        else:
            literal.append(_format(names[name], spec, origin, setting))
        position = match.end()
    pieces.append("".join(literal))
    return tuple(piece for piece in pieces if piece != "")


def _format(item: object, spec: str, origin: Origin, setting: str) -> str:
    """One expansion, formatted by the % operator as supervisord formats it."""
    try:
        return f"%{spec}" % (item,)
    except (TypeError, ValueError):
        refuse(origin, f"a value %{spec} can format", repr(item), setting)


def _instance_text(pieces: Pieces, index: int) -> str:
    return "".join(p if isinstance(p, str) else p.at(index) for p in pieces)


def first_text(pieces: Pieces) -> str:
    """Instance 0's value."""
    return _instance_text(pieces, 0)


def index_text(pieces: Pieces, count: int) -> tuple[str, bool]:
    """One corral text (`{index}` arithmetic) for `count` instances, and whether it is exact.

    `80%(process_num)02d` is `{8000+index}` while every number fits the width; a
    padded number elsewhere (`w-%(process_num)02d`) cannot be padded by corral and
    becomes `{index}`, which is not exact. Literal braces that corral would read as
    an expression are doubled.
    """
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(escape(piece))
            continue
        previous = out[-1] if out else ""
        digits = re.search(r"\d+$", previous)
        fits = piece.start + count <= 10**piece.width
        if (
            piece.padded
            and digits
            and fits
            and not (digits[0].startswith("0") and len(digits[0]) > 1)
        ):
            out[-1] = previous[: digits.start()]
            base = int(digits[0]) * 10**piece.width + piece.start
        else:
            base = piece.start
        out.append(f"{{{base}+index}}" if base else "{index}")  # no space: shlex splits later
    text = "".join(out)
    template = parse_template(text)
    sample = sorted({*range(min(count, 256)), count - 1})  # numprocs may be large
    exact = all(template.render(i) == _instance_text(pieces, i) for i in sample)
    return text, exact


def escape(text: str) -> str:
    """Literal text as corral reads it back: `{index}` doubled, other braces left alone."""
    return _BRACES.sub(lambda m: "{" + m[0] + "}" if _NAMES_INDEX.search(m[0]) else m[0], text)


def varies(pieces: Sequence[str | ProcessNum]) -> bool:
    """Whether the value differs between instances."""
    return any(isinstance(piece, ProcessNum) for piece in pieces)
