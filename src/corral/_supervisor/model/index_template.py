"""PURE: `{index}` in a program's arguments and environment values, substituted per instance.

`{index}` is the instance's number (0 for NAME:0); `{9100 + index}` and `{index - 1}`
are simple arithmetic, so each instance gets its own port or name. An expression
holds `index` at least once, decimal integers, and `+` or `-` between them; nothing
else (no `*`, no other names), so what a config means is plain to read. `{{` and `}}`
stand for a literal brace. Anything else in braces is refused when the config is read
(`InvalidSpec`; config/kinds.py reports it at its key), never at a start.

A text is parsed into literal pieces and linear terms (`coefficient * index +
constant`), so rendering an instance's value is arithmetic and joins, no parsing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corral._errors import InvalidSpec

__all__ = ["EXPECTED", "IndexTemplate", "parse_template", "substitute"]

EXPECTED = (
    "{index} arithmetic: index, integers, + and - (e.g. {9100 + index}); "
    "{{ and }} for a literal brace"
)
"""What a brace expression may be, in words: config messages and the reference use it."""

_BRACES = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|\{|\}")
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
    """`text` parsed, or InvalidSpec naming the first malformed brace and what is expected."""
    parts: list[str | _Linear] = []
    end = 0
    for match in _BRACES.finditer(text):
        parts.append(text[end : match.start()])
        end = match.end()
        token = match[0]
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif match[1] is None:
            raise InvalidSpec(f"a lone {token!r} in {text!r}: write {token * 2} for a literal one")
        else:
            parts.append(_expression(match[1], text))
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
    if coefficient == 0 and "index" not in source:
        raise InvalidSpec(f"{{{source}}} in {text!r} does not use index")
    return _Linear(coefficient, constant)


def substitute(text: str, index: int) -> str:
    """`text` for instance `index`; a text without braces is returned as it is."""
    if "{" not in text and "}" not in text:
        return text
    return parse_template(text).render(index)
