"""Key path -> line number in a TOML text, for error messages (tomllib reports none).

A small scanner that runs only over text tomllib has already accepted, so it can
be lenient: it follows table headers (`[a.b]`, `[[a.b]]`), dotted and quoted keys,
inline tables and arrays (which may span lines), skips strings and comments, and
records the line where each key, table and array element first appears. Array
elements are recorded under their index, so `exit_codes = [0,\\n "x"]` can point
at the line of `"x"`.
"""

from __future__ import annotations

import bisect
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

KeyPath: TypeAlias = tuple[str | int, ...]
"""Keys from the document root, e.g. ("programs", "web", "exit_codes", 1)."""

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = frozenset(",]}#\r\n")
_BLANK = frozenset(" \t\r\n")


def format_key(path: KeyPath) -> str:
    """The path as a user would write it: programs.web.exit_codes[1], programs."a b"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        shown = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        text += f".{shown}" if text else shown
    return text


@dataclass(frozen=True, slots=True)
class Positions:
    """Where each key of one TOML document starts."""

    lines: Mapping[KeyPath, int]
    """1-based line of each key, table and array element seen."""

    def line_of(self, path: KeyPath) -> int | None:
        """The line of `path`, else of its nearest recorded parent (a missing key's table)."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def scan_positions(text: str) -> Positions:
    """Scan a TOML document that tomllib accepts; the result maps key paths to lines."""
    return Positions(_Scanner(text).run())


class _Scanner:
    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._newlines = [index for index, char in enumerate(text) if char == "\n"]
        self._lines: dict[KeyPath, int] = {}
        self._explicit: set[KeyPath] = set()
        self._array_tables: dict[KeyPath, int] = {}

    def run(self) -> dict[KeyPath, int]:
        table: KeyPath = ()
        while self._skip_blank():
            if self._peek() == "[":
                table = self._header()
            else:
                self._key_value(table)
        return self._lines

    def _header(self) -> KeyPath:
        line = self._line()
        is_array = self._text.startswith("[[", self._pos)
        self._pos += 2 if is_array else 1
        key = self._key()
        table = (*self._resolve(key[:-1]), key[-1])
        self._skip_spaces()
        self._pos += 2 if is_array else 1
        if is_array:
            index = self._array_tables.get(table, 0)
            self._array_tables[table] = index + 1
            self._mark(table, line)
            table = (*table, index)
        self._mark(table, line)
        return table

    def _resolve(self, key: tuple[str, ...]) -> KeyPath:
        """Inside `[[a]]`, a later `[a.b]` means the last element of a."""
        path: KeyPath = ()
        for part in key:
            path = (*path, part)
            count = self._array_tables.get(path)
            if count:
                path = (*path, count - 1)
        return path

    def _key_value(self, table: KeyPath) -> None:
        line = self._line()
        path = (*table, *self._key())
        self._mark(path, line)
        self._skip_spaces()
        self._pos += 1  # the "="
        self._value(path)

    def _value(self, path: KeyPath) -> None:
        self._skip_spaces()
        char = self._peek()
        if self._text.startswith(('"""', "'''"), self._pos):
            self._skip_multiline_string()
        elif char in ('"', "'"):
            self._pos = self._string_end(self._pos)
        elif char == "[":
            self._array(path)
        elif char == "{":
            self._inline_table(path)
        else:
            while self._pos < len(self._text) and self._text[self._pos] not in _SCALAR_END:
                self._pos += 1

    def _array(self, path: KeyPath) -> None:
        self._pos += 1
        index = 0
        while self._skip_blank() and self._peek() != "]":
            item = (*path, index)
            self._mark(item, self._line())
            self._value(item)
            index += 1
            self._skip_blank()
            if self._peek() == ",":
                self._pos += 1
        self._pos += 1

    def _inline_table(self, path: KeyPath) -> None:
        self._pos += 1
        while self._skip_blank() and self._peek() != "}":
            line = self._line()
            key = (*path, *self._key())
            self._mark(key, line)
            self._skip_spaces()
            self._pos += 1  # the "="
            self._value(key)
            self._skip_blank()
            if self._peek() == ",":
                self._pos += 1
        self._pos += 1

    def _key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self._skip_spaces()
            parts.append(self._simple_key())
            self._skip_spaces()
            if self._peek() != ".":
                return tuple(parts)
            self._pos += 1

    def _simple_key(self) -> str:
        start = self._pos
        if self._peek() in ('"', "'"):
            self._pos = self._string_end(start)
            raw = self._text[start : self._pos]
            if raw.startswith("'"):
                return raw[1:-1]
            decoded: str = tomllib.loads(f"k = {raw}")["k"]
            return decoded
        match = _BARE_KEY.match(self._text, start)
        self._pos = match.end() if match else start + 1
        return self._text[start : self._pos]

    def _string_end(self, start: int) -> int:
        """Just past the one-line string that opens at `start`."""
        quote = self._text[start]
        pos = start + 1
        while pos < len(self._text) and self._text[pos] != quote:
            pos += 2 if quote == '"' and self._text[pos] == "\\" else 1
        return pos + 1

    def _skip_multiline_string(self) -> None:
        delimiter = self._text[self._pos : self._pos + 3]
        pos = self._pos + 3
        while pos < len(self._text) and not self._text.startswith(delimiter, pos):
            pos += 2 if delimiter == '"""' and self._text[pos] == "\\" else 1
        pos += 3
        for _ in range(2):  # up to two quotes may end the content: """a"""""
            if self._text.startswith(delimiter[0], pos):
                pos += 1
        self._pos = pos

    def _mark(self, path: KeyPath, line: int) -> None:
        """Parents keep their first line; an explicit definition wins over an implied one."""
        for end in range(1, len(path)):
            self._lines.setdefault(path[:end], line)
        if path not in self._explicit:
            self._explicit.add(path)
            self._lines[path] = line

    def _line(self) -> int:
        return bisect.bisect_left(self._newlines, self._pos) + 1

    def _peek(self) -> str:
        return self._text[self._pos] if self._pos < len(self._text) else ""

    def _skip_spaces(self) -> None:
        while self._peek() in (" ", "\t"):
            self._pos += 1

    def _skip_blank(self) -> bool:
        """Skip whitespace, newlines and comments; False at the end of the text."""
        while self._pos < len(self._text):
            char = self._text[self._pos]
            if char == "#":
                newline = self._text.find("\n", self._pos)
                self._pos = len(self._text) if newline < 0 else newline
            elif char in _BLANK:
                self._pos += 1
            else:
                return True
        return False
