"""A `Draft` as TOML text: the stdlib reads TOML but does not write it, so this does.

Only what a corral config holds is written: strings, integers, floats, booleans,
arrays of those, and tables (each nested table gets its own `[a.b.c]` header).
Strings are TOML basic strings with every character TOML requires escaped; a key
that is not a bare key (`web.v2`, a name with a space) is quoted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

__all__ = ["key", "string", "toml_document", "value"]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def string(text: str) -> str:
    """A TOML basic string holding exactly `text`."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def key(name: str) -> str:
    """A TOML key: bare when it can be, else quoted."""
    return name if _BARE.fullmatch(name) else string(name)


def value(item: object) -> str:
    """One TOML value (not a table)."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        if not math.isfinite(item):
            raise ValueError(f"no TOML for {item!r} here")
        return repr(item)
    if isinstance(item, str):
        return string(item)
    if isinstance(item, list | tuple):
        return "[" + ", ".join(value(element) for element in item) + "]"
    raise TypeError(f"no TOML for {type(item).__name__}")


def toml_document(comments: Iterable[str], tables: Mapping[str, Mapping[str, object]]) -> str:
    """Comment lines, then each top-level table (`daemon`, `sockets`, `programs`) in order.

    A table whose values are all tables (`sockets`, `programs`) is written as its
    children's headers only: `[programs.web]`, never an empty `[programs]`.
    """
    lines = [f"# {line}".rstrip() for line in comments]
    for name, table in tables.items():
        if table:
            lines += _table((name,), table)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(path: tuple[str, ...], table: Mapping[str, object]) -> list[str]:
    scalars = [(name, item) for name, item in table.items() if not isinstance(item, Mapping)]
    nested = [(name, item) for name, item in table.items() if isinstance(item, Mapping)]
    lines: list[str] = []
    if scalars or not nested:
        lines += ["", "[" + ".".join(key(part) for part in path) + "]"]
        lines += [f"{key(name)} = {value(item)}" for name, item in scalars]
    for name, item in nested:
        lines += _table((*path, name), item)
    return lines
