"""Read and validate a config file, all or nothing.

Nothing is built unless the whole file validates, so a reload with a broken file
leaves the running config in place. Every problem found is reported: the
`ConfigError` raised is the first in file order and carries the rest in `more`.
A TOML syntax error stops at the first one (the parser cannot go on).
"""

from __future__ import annotations

import ast
import errno as _errno
import math
import os
import re
import tomllib

from corral._errors import ConfigError
from corral._supervisor.config.kinds import Invalid, Problem
from corral._supervisor.config.positions import format_key, scan_positions
from corral._supervisor.config.schema import build_config
from corral._supervisor.config.settings import Config, DaemonSettings

__all__ = [
    "Config",
    "ConfigError",
    "DaemonSettings",
    "config_error_at",
    "load_config",
    "parse_config",
]

_WHERE = re.compile(
    r"(?P<what>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)"
)
_DECLARED_TWICE = re.compile(r"Cannot declare (?P<key>\(.*\)) twice")


def load_config(path: str | os.PathLike[str]) -> Config:
    """The validated config in the file at `path`, or ConfigError naming file, line and key."""
    file = os.path.abspath(path)
    try:
        with open(file, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        reason = f"{exc.strerror} [{_errno.errorcode.get(exc.errno or 0, exc.errno)}]"
        raise ConfigError(
            file=file, line=None, key=None, expected="a readable config file", got=reason
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        got = f"the byte {data[exc.start]:#04x}"
        raise ConfigError(file=file, line=line, key=None, expected="UTF-8 text", got=got) from None
    return parse_config(text, path=file)


def parse_config(text: str, *, path: str) -> Config:
    """The validated config in `text`, read from `path` (relative paths resolve beside it)."""
    file = os.path.abspath(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(str(exc), text, file) from None
    try:
        return build_config(data, path=file)
    except Invalid as exc:
        raise _config_error(exc.problems, text, file) from None


def config_error_at(file: str, problems: tuple[Problem, ...]) -> ConfigError:
    """A ConfigError for problems found after the file was read (a socket it names cannot
    be bound): lines come from the file as it is now, or are unknown if it cannot be read."""
    try:
        with open(file, encoding="utf-8-sig") as stream:
            text = stream.read()
    except (OSError, UnicodeDecodeError):
        text = ""
    return _config_error(problems, text, file)


def _config_error(problems: tuple[Problem, ...], text: str, file: str) -> ConfigError:
    """The first problem in file order, carrying the others."""
    positions = scan_positions(text)
    errors = [
        ConfigError(
            file=file,
            line=positions.line_of(problem.path),
            key=format_key(problem.path) or None,
            expected=problem.expected,
            got=problem.got,
            hint=problem.hint,
        )
        for problem in problems
    ]
    errors.sort(key=lambda error: error.line or math.inf)
    first = errors[0]
    return ConfigError(
        file=file,
        line=first.line,
        key=first.key,
        expected=first.expected,
        got=first.got,
        hint=first.hint,
        more=errors[1:],
    )


def _syntax_error(message: str, text: str, file: str) -> ConfigError:
    """tomllib's message, with its line and column taken out into fields."""
    match = _WHERE.fullmatch(message)
    what = match["what"] if match else message
    line = int(match["line"]) if match and match["line"] else _last_line(text)
    column = int(match["column"]) if match and match["column"] else None
    twice = _DECLARED_TWICE.fullmatch(what)
    if twice:
        key = format_key(ast.literal_eval(twice["key"]))
        expected, got = "each table declared once", f"a second [{key}]"
        return ConfigError(file=file, line=line, column=column, key=key, expected=expected, got=got)
    if what == "Cannot overwrite a value":
        expected, hint = "each key defined once", "a key or table is defined a second time"
    elif what.startswith("Expected "):
        expected, hint = what.removeprefix("Expected "), None
    else:
        expected, hint = "valid TOML", what
    return ConfigError(file=file, line=line, column=column, key=None, expected=expected, hint=hint)


def _last_line(text: str) -> int:
    """The line tomllib means by "end of document"."""
    return max(1, len(text.splitlines()))
