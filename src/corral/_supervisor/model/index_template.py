"""PURE: `{index}` in a program's arguments and environment values, substituted per instance.

`{index}` is the instance's number (0 for NAME:0); `{9100 + index}` and `{index - 1}`
are simple arithmetic, so each instance gets its own port or name. A pair of braces is
an expression when what it holds names `index`; it must then be `index` and decimal
integers with `+` or `-` between them, nothing else (no `*`, no other names), or the
config is refused when it is read (`InvalidSpec`; config/kinds.py reports it at its
key), never at a start. `{{...}}` around such a pair stands for it literally. Every
other brace is left as it is, so the JSON, awk programs, `find -exec {}` and inline
scripts (`{child.pid}`) that commands already hold mean what they meant.

A text is parsed into literal pieces and linear terms (`coefficient * index +
constant`), so rendering an instance's value is arithmetic and joins, no parsing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corral._errors import InvalidSpec

__all__ = ["EXPECTED", "IndexTemplate", "count_expressions", "parse_template", "substitute"]

EXPECTED = (
    "{index} arithmetic: index, integers, + and - (e.g. {9100 + index}); "
    "{{...}} around it for the text itself"
)
"""What a brace expression may be, in words: config messages and the reference use it."""

_BRACES = re.compile(r"\{\{([^{}]*)\}\}|\{([^{}]*)\}")
_NAMES_INDEX = re.compile(r"\bindex\b")
_TERM = re.compile(r"\s*([+-])?\s*(index|\d+)\s*")


@dataclass(frozen=True, slots=True)
class _Linear:
    """`coefficient * index + constant`: what one expression in braces computes."""

    coefficient: int
    constant: int

    def at(self, index: int) -> str:
        return str(self.coefficient * index + self.constant)


@dataclass(frozen=True, slots=True)
class IndexTemplate:
    """A parsed text: literal pieces and expressions, in order."""

    parts: tuple[str | _Linear, ...]

    @property
    def varies(self) -> bool:
        """Whether the text differs between instances (it holds an expression)."""
        return any(isinstance(part, _Linear) for part in self.parts)

    def render(self, index: int) -> str:
        """The text for instance `index`."""
        return "".join(part if isinstance(part, str) else part.at(index) for part in self.parts)


def parse_template(text: str) -> IndexTemplate:
    """`text` parsed, or InvalidSpec naming the first malformed expression."""
    parts: list[str | _Linear] = []
    end = 0
    for match in _BRACES.finditer(text):
        escaped, inside = match[1], match[2]
        if not _NAMES_INDEX.search(escaped if inside is None else inside):
            continue  # not an expression: left as it is
        parts.append(text[end : match.start()])
        end = match.end()
        parts.append(f"{{{escaped}}}" if inside is None else _expression(inside, text))
    parts.append(text[end:])
    return IndexTemplate(tuple(part for part in parts if part != ""))


def _expression(source: str, text: str) -> _Linear:
    """The linear term `source` (the inside of one pair of braces) computes."""
    coefficient = constant = 0
    position = 0
    while position < len(source) or position == 0:
        term = _TERM.match(source, position)
        first = position == 0
        if term is None or term.end() == position or (term[1] is None) != first:
            raise InvalidSpec(f"{{{source}}} in {text!r} is not {{index}} arithmetic")
        sign = -1 if term[1] == "-" else 1
        if term[2] == "index":
            coefficient += sign
        else:
            constant += sign * int(term[2])
        position = term.end()
    return _Linear(coefficient, constant)


def count_expressions(text: str) -> int:
    """How many brace pairs in `text` are expressions (name `index`), escaped ones included."""
    return sum(
        1
        for match in _BRACES.finditer(text)
        if _NAMES_INDEX.search(match[1] if match[2] is None else match[2])
    )


def substitute(text: str, index: int) -> str:
    """`text` for instance `index`; a text without an expression is returned as it is."""
    if "index" not in text:
        return text
    return parse_template(text).render(index)
