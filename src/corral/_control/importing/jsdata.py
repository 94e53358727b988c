"""The plain-data subset of JavaScript (and JSON) that PM2 ecosystem files are written in.

An ecosystem file is a program, and corral does not run it: only a literal is
read, `module.exports = {...}` (or `export default`, or JSON on its own), made of
objects (keys bare, quoted or numeric; trailing commas allowed), arrays, strings
(quotes of three kinds, a template only without `${`), numbers, true, false and
null, with comments. Anything else (a function, `require`, `process.env`, an
operator) is refused at its line, with what was found there. Every object knows
the line of each of its keys, so a report can name it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NoReturn

from corral._control.importing.report import Origin, refuse

__all__ = ["JsArray", "JsObject", "parse_data"]

_WORD = re.compile(r"[A-Za-z_$][\w$]*")
_NUMBER = re.compile(
    r"(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)"
)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


class JsObject(dict[str, object]):
    """An object literal, with the line of each key."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: dict[str, int] = {}


class JsArray(list[object]):
    """An array literal, with the line of each element."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.lines: list[int] = []


MAX_DEPTH = 64
"""Objects and arrays nested deeper than this are refused (an ecosystem file needs 4)."""


@dataclass(slots=True)
class _Reader:
    text: str
    file: str
    at: int = 0
    depth: int = 0

    @property
    def line(self) -> int:
        return self.text.count("\n", 0, self.at) + 1

    def fail(self, expected: str) -> NoReturn:
        found = self.text[self.at : self.at + 30].split("\n")[0] or "the end of the file"
        refuse(
            Origin(self.file, self.line),
            expected,
            f"`{found}`" if self.at < len(self.text) else found,
        )

    def skip(self) -> None:
        """Past whitespace and comments."""
        while self.at < len(self.text):
            if self.text[self.at].isspace():
                self.at += 1
            elif self.text.startswith("//", self.at):
                end = self.text.find("\n", self.at)
                self.at = len(self.text) if end < 0 else end
            elif self.text.startswith("/*", self.at):
                end = self.text.find("*/", self.at + 2)
                if end < 0:
                    self.fail("a comment closed by */")
                self.at = end + 2
            else:
                return

    def peek(self) -> str:
        self.skip()
        return self.text[self.at : self.at + 1]

    def take(self, literal: str) -> bool:
        self.skip()
        if self.text.startswith(literal, self.at):
            self.at += len(literal)
            return True
        return False

    def word(self) -> str | None:
        self.skip()
        match = _WORD.match(self.text, self.at)
        return match[0] if match else None


def parse_data(text: str, file: str) -> object:
    """The literal a PM2 ecosystem file exports (or a JSON file holds)."""
    reader = _Reader(text, file)
    reader.take("#!") and _to_line_end(reader)
    _directive(reader)
    if reader.peek() not in ("{", "[") and not _exports(reader):
        reader.fail("module.exports = { ... } or a JSON object")
    data = _value(reader)
    reader.take(";")
    reader.skip()
    if reader.at < len(text):
        reader.fail("nothing after the exported data (an ecosystem file must be plain data)")
    return data


def _to_line_end(reader: _Reader) -> bool:
    end = reader.text.find("\n", reader.at)
    reader.at = len(reader.text) if end < 0 else end
    return True


def _directive(reader: _Reader) -> None:
    """An optional 'use strict'; before the export."""
    for quote in ("'", '"'):
        if reader.take(f"{quote}use strict{quote}"):
            reader.take(";")


def _exports(reader: _Reader) -> bool:
    """`module.exports =` or `export default`."""
    start = reader.at
    if reader.take("module") and reader.take(".") and reader.take("exports") and reader.take("="):
        return True
    reader.at = start
    if reader.take("export") and reader.take("default"):
        return True
    reader.at = start
    return False


def _value(reader: _Reader) -> object:
    char = reader.peek()
    line = reader.line
    if char in "{[":
        if reader.depth >= MAX_DEPTH:
            reader.fail(f"objects and arrays nested at most {MAX_DEPTH} deep")
        reader.depth += 1
        nested = _object(reader, line) if char == "{" else _array(reader, line)
        reader.depth -= 1
        return nested
    if char in "'\"`":
        return _string(reader)
    if (
        char in {"-", "+"}
        or char.isdigit()
        or (char == "." and reader.text[reader.at + 1 : reader.at + 2].isdigit())
    ):
        return _number(reader)
    word = reader.word()
    if word in ("true", "false", "null"):
        reader.at += len(word)
        return {"true": True, "false": False, "null": None}[word]
    reader.fail("plain data (a string, number, true, false, null, array or object)")


def _object(reader: _Reader, line: int) -> JsObject:
    reader.take("{")
    result = JsObject(line)
    while not reader.take("}"):
        key_line = reader.line
        char = reader.peek()
        if char in "'\"":
            key = _string(reader)
        elif char.isdigit():
            key = str(_number(reader))
        else:
            key = reader.word() or reader.fail("a key (a name or a quoted string)")
            reader.at += len(key)
        if not reader.take(":"):
            reader.fail(f"`:` after the key {key!r} (methods and shorthand are not plain data)")
        result[key] = _value(reader)
        result.lines[key] = key_line
        if not reader.take(","):
            if reader.take("}"):
                break
            reader.fail("`,` or `}` in an object")
    return result


def _array(reader: _Reader, line: int) -> JsArray:
    reader.take("[")
    result = JsArray(line)
    while not reader.take("]"):
        result.lines.append(reader.line)
        result.append(_value(reader))
        if not reader.take(","):
            if reader.take("]"):
                break
            reader.fail("`,` or `]` in an array")
    return result


def _number(reader: _Reader) -> int | float:
    sign = -1 if reader.take("-") else 1
    if sign == 1:
        reader.take("+")
    match = _NUMBER.match(reader.text, reader.at)
    if match is None:
        reader.fail("a number")
    reader.at = match.end()
    if _WORD.match(reader.text, reader.at):
        reader.fail("a number ended by , ] or }")
    text = match[0].replace("_", "")
    if text[:2].lower() in ("0x", "0o", "0b"):
        return sign * int(text, 0)
    number = float(text)
    if not math.isfinite(number):
        reader.fail("a finite number")
    return sign * (int(number) if number.is_integer() and re.fullmatch(r"\d+", text) else number)


def _string(reader: _Reader) -> str:
    quote = reader.text[reader.at]
    start_line = reader.line
    reader.at += 1
    out: list[str] = []
    text = reader.text
    while True:
        if reader.at >= len(text):
            refuse(
                Origin(reader.file, start_line),
                f"a string closed by {quote}",
                "the end of the file",
            )
        char = text[reader.at]
        if char == quote:
            reader.at += 1
            return "".join(out)
        if quote == "`" and text.startswith("${", reader.at):
            reader.fail("a template string without ${...} (an expression is not plain data)")
        if char == "\n" and quote != "`":
            refuse(
                Origin(reader.file, start_line),
                f"a string closed by {quote} on its line",
                "a line break",
            )
        if char == "\\":
            out.append(_escape(reader))
            continue
        out.append(char)
        reader.at += 1


def _escape(reader: _Reader) -> str:
    text = reader.text
    char = text[reader.at + 1 : reader.at + 2]
    reader.at += 2
    if char in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[char]
    if char == "\n":
        return ""
    if char == "x":
        return _code(reader, 2)
    if char == "u":
        if text.startswith("{", reader.at):
            end = text.find("}", reader.at)
            digits = text[reader.at + 1 : end] if end > 0 else ""
            if not re.fullmatch(r"[0-9a-fA-F]{1,6}", digits):
                reader.fail("an escape \\u{HEX}")
            reader.at = end + 1
            return chr(int(digits, 16))
        code = _code(reader, 4)
        if "\ud800" <= code <= "\udbff" and reader.text.startswith("\\u", reader.at):
            low = _code(reader, 4, skip=2)
            if "\udc00" <= low <= "\udfff":
                return chr(0x10000 + ((ord(code) - 0xD800) << 10) + (ord(low) - 0xDC00))
        if "\ud800" <= code <= "\udfff":
            reader.fail("a \\u escape of a character (a surrogate only in a pair)")
        return code
    return char


def _code(reader: _Reader, size: int, skip: int = 0) -> str:
    reader.at += skip
    digits = reader.text[reader.at : reader.at + size]
    if not re.fullmatch(rf"[0-9a-fA-F]{{{size}}}", digits):
        reader.fail(f"an escape of {size} hexadecimal digits")
    reader.at += size
    return chr(int(digits, 16))
