"""Value kinds of the config file: each checks one TOML value and converts it.

A kind raises `Invalid` holding `Problem`s that name the key path, what was
expected and what was found; load.py turns them into `ConfigError`s with a file
and line. A wrong type shows the type found ("a string '2'"); a bad value of the
right type shows the value alone ("'sometimes'").
"""

from __future__ import annotations

import json
import math
import re
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeGuard, cast

from corral._errors import InvalidSpec
from corral._platform import parse_signal
from corral._supervisor.config.positions import KeyPath
from corral._supervisor.model.index_template import EXPECTED as _INDEX_EXPECTED
from corral._supervisor.model.index_template import count_expressions, parse_template

_SIZE = re.compile(r"(\d+)\s*(?:([KMG])(?:I?B)?|B)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
_SIGNAL_NAMES = tuple(sig.name.removeprefix("SIG") for sig in signal.Signals)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the config, at a key path."""

    path: KeyPath
    expected: str
    got: str | None = None
    hint: str | None = None


class Invalid(Exception):
    """Every problem found in one value or table; nothing was built from it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problem.expected for problem in self.problems))


def invalid(
    path: KeyPath, expected: str, got: str | None = None, hint: str | None = None
) -> Invalid:
    """An `Invalid` holding one problem."""
    return Invalid([Problem(path, expected, got, hint)])


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """ "did you mean X?" for the closest choice, or None when nothing is close."""
    import difflib  # only for a bad value: a running daemon need not hold it (130 KiB)

    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]}?" if close else None


def shown(value: object) -> str:
    """A value as TOML would spell it, shortened for a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def toml_text(value: object) -> str:
    """A value spelled as TOML, for defaults in the reference."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple | frozenset):
        items = sorted(value) if isinstance(value, frozenset) else value
        return "[" + ", ".join(toml_text(item) for item in items) + "]"
    return repr(value)


def described(value: object) -> str:
    """A value with its TOML type, for wrong-type messages: "a string '2'"."""
    if isinstance(value, dict):
        return "a table"
    kinds = {bool: "a boolean", str: "a string", int: "an integer", float: "a float"}
    kind = kinds.get(type(value), "an array" if isinstance(value, list) else "a date/time")
    return f"{kind} {shown(value)}"


def is_integer(value: object) -> TypeGuard[int]:
    """An int that is not a bool (TOML true is not the number 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


Convert = Callable[[object, KeyPath], object]


@dataclass(frozen=True, slots=True)
class Kind:
    """How one key's value is checked and converted, and how its default is shown."""

    expected: str
    """What the value must be, in words; messages and the reference both use it."""
    convert: Convert
    show: Callable[[object], str] = toml_text
    """Renders a default for the reference, spelled as TOML."""


def _integer_words(low: int | None, high: int | None) -> str:
    if high is not None:
        return f"an integer from {low} to {high}"
    return "an integer" if low is None else f"an integer >= {low}"


def _integer(value: object, path: KeyPath, low: int | None, high: int | None) -> int:
    expected = _integer_words(low, high)
    if not is_integer(value):
        raise invalid(path, expected, described(value))
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(path, expected, shown(value))
    return value


def integer(low: int | None = None, high: int | None = None) -> Kind:
    """An integer, optionally within bounds (`high` needs `low`)."""
    return Kind(_integer_words(low, high), lambda value, path: _integer(value, path, low, high))


def _number_words(low: float, high: float | None, what: str) -> str:
    bound = f">= {low:g}" if high is None else f"from {low:g} to {high:g}"
    return f"{what} {bound}"


def _number(value: object, path: KeyPath, low: float, high: float | None, what: str) -> float:
    expected = _number_words(low, high, what)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(path, expected, described(value))
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        raise invalid(path, expected, shown(value))
    return float(value)


def number(low: float, high: float | None = None, what: str = "a number") -> Kind:
    """A finite int or float within bounds, converted to float."""
    expected = _number_words(low, high, what)
    return Kind(expected, lambda value, path: _number(value, path, low, high, what))


def _boolean(value: object, path: KeyPath) -> bool:
    if not isinstance(value, bool):
        raise invalid(path, "true or false", described(value))
    return value


BOOLEAN = Kind("true or false", _boolean)


_PATH = "a path string"


def _path(value: object, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise invalid(path, _PATH, described(value))
    if not value or "\0" in value:
        raise invalid(path, _PATH, shown(value))
    return value


PATH = Kind(_PATH, _path)
"""A path; schema.py resolves it against the config file's directory."""


_ADDRESS = 'a "host:port" string, e.g. "127.0.0.1:9180" or "[::1]:9180" (port 0 to 65535)'


def _address(value: object, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise invalid(path, _ADDRESS, described(value))
    host, sep, port = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise invalid(path, _ADDRESS, shown(value))
    return value


ADDRESS = Kind(_ADDRESS, _address)
"""A TCP address to listen on; `split_address` takes it apart."""


_LISTEN = (
    'a "host:port" TCP address ("127.0.0.1:8080", "[::1]:8080") or a unix socket path '
    '("/run/web.sock", or "./web.sock" beside the config file)'
)


def _listen(value: object, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise invalid(path, _LISTEN, described(value))
    if "/" in value:
        return _path(value, path)
    try:
        return _address(value, path)
    except Invalid:
        hint = 'a relative unix socket path starts with "./"'
        raise invalid(path, _LISTEN, shown(value), hint) from None


LISTEN = Kind(_LISTEN, _listen)
"""Where a `[sockets.NAME]` listens: an ADDRESS, or a path (it holds a '/')."""

_NAMES = "an array of names (strings)"


def _names(value: object, path: KeyPath) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise invalid(path, _NAMES, described(value))
    wrong = [Problem((*path, i), "a name", described(v)) for i, v in enumerate(value)]
    problems = [p for p, item in zip(wrong, value, strict=True) if not isinstance(item, str)]
    if problems:
        raise Invalid(problems)
    names = cast(list[str], value)
    repeated = [
        Problem((*path, i), "a name not listed before", shown(name))
        for i, name in enumerate(names)
        if name in names[:i]
    ]
    if repeated:
        raise Invalid(repeated)
    return tuple(names)


NAMES = Kind(_NAMES, _names)
"""Names of things defined elsewhere in the file; schema.py checks they are."""


_DEPENDS_ON = (
    'a table of PROGRAM = "started", "healthy" or "completed" '
    "(or an array of program names, each meaning started)"
)
_CONDITIONS = ("started", "healthy", "completed")


def _depends_on(value: object, path: KeyPath) -> tuple[tuple[str, str], ...]:
    if isinstance(value, list):
        return tuple((name, "started") for name in _names(value, path))
    if not isinstance(value, dict):
        raise invalid(path, _DEPENDS_ON, described(value))
    problems = [
        Problem((*path, name), f"one of {', '.join(_CONDITIONS)}", described(condition))
        for name, condition in value.items()
        if condition not in _CONDITIONS
    ]
    if problems:
        raise Invalid(problems)
    return tuple(sorted(cast(dict[str, str], value).items()))


DEPENDS_ON = Kind(_DEPENDS_ON, _depends_on)
"""Programs this one needs, with the condition each must reach; schema.py checks the
names exist, none is the program itself, and there is no cycle."""


def split_address(address: str) -> tuple[str, int]:
    """("host", port) of an ADDRESS value, IPv6 brackets removed."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _text(value: object, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise invalid(path, "a string", described(value))
    if not value or "\0" in value:
        raise invalid(path, "a non-empty string without NUL bytes", shown(value))
    return value


TEXT = Kind("a string", _text)
"""A non-empty string; what it must say is checked by the spec it fills."""


def choice(options: Sequence[str]) -> Kind:
    """One of a fixed set of strings, with a "did you mean" for near misses."""
    expected = "one of " + ", ".join(options)

    def convert(value: object, path: KeyPath) -> str:
        if not isinstance(value, str):
            raise invalid(path, expected, described(value))
        if value not in options:
            raise invalid(path, expected, shown(value), did_you_mean(value, options))
        return value

    return Kind(expected, convert)


_SIGNAL = "a signal name or number (TERM, SIGTERM, 15)"


def _signal(value: object, path: KeyPath) -> signal.Signals:
    if not isinstance(value, str) and not is_integer(value):
        raise invalid(path, _SIGNAL, described(value))
    try:
        return parse_signal(value)
    except InvalidSpec:
        word = value.upper().removeprefix("SIG") if isinstance(value, str) else ""
        raise invalid(path, _SIGNAL, shown(value), did_you_mean(word, _SIGNAL_NAMES)) from None


def _show_signal(value: object) -> str:
    return f'"{value.name.removeprefix("SIG")}"' if isinstance(value, signal.Signals) else "?"


SIGNAL = Kind(_SIGNAL, _signal, _show_signal)


_SIZE_WORDS = 'a size: bytes as an integer >= 0, or a string like "64K", "10MB", "1G"'


def _size(value: object, path: KeyPath) -> int:
    if is_integer(value) and value >= 0:
        return value
    if not isinstance(value, str):
        raise invalid(path, _SIZE_WORDS, shown(value) if is_integer(value) else described(value))
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise invalid(path, _SIZE_WORDS, shown(value), "units are B, K, M, G (powers of 1024)")
    return int(match[1]) * _SIZE_UNITS[(match[2] or "").upper()]


def _show_size(value: object) -> str:
    if not is_integer(value):
        return toml_text(value)
    for unit in ("G", "M", "K"):
        if value and value % _SIZE_UNITS[unit] == 0:
            return f'"{value // _SIZE_UNITS[unit]}{unit}B"'
    return str(value)


SIZE = Kind(_SIZE_WORDS, _size, _show_size)


_COMMAND = "a command: an array of strings, or one string split like a shell"
_NO_NUL = "arguments without NUL bytes"


def _command(value: object, path: KeyPath) -> tuple[str, ...]:
    if isinstance(value, str):
        import shlex  # only for a command given as one string; arrays need no shlex

        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise invalid(
                path, "a command line a shell could split", shown(value), str(exc)
            ) from None
    elif isinstance(value, list):
        wrong = [index for index, arg in enumerate(value) if not isinstance(arg, str)]
        if wrong:
            raise Invalid([_not_an_argument(path, index, value[index]) for index in wrong])
        argv = value
    else:
        raise invalid(path, _COMMAND, described(value))
    if not argv or not argv[0]:
        raise invalid(path, "a command with a program name", shown(value))
    nul = [index for index, arg in enumerate(argv) if "\0" in arg]
    if nul and isinstance(value, str):  # exec takes C strings: a NUL would fail every start
        raise invalid(path, _NO_NUL, shown(value))
    if nul:
        raise Invalid([Problem((*path, index), _NO_NUL, shown(argv[index])) for index in nul])
    return tuple(argv)


def _not_an_argument(path: KeyPath, index: int, value: object) -> Problem:
    return Problem((*path, index), "a string (each argument is a string)", described(value))


COMMAND = Kind(_COMMAND, _command)

_ENVIRONMENT = 'a table of NAME = "value" (an integer value becomes its digits)'


def _environment(value: object, path: KeyPath) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise invalid(path, _ENVIRONMENT, described(value))
    problems: list[Problem] = []
    pairs: list[tuple[str, str]] = []
    for name, item in value.items():
        where = (*path, name)
        if not name or "=" in name or "\0" in name:
            problems.append(Problem(where, "a variable name without '=' or NUL", shown(name)))
        elif is_integer(item) or (isinstance(item, str) and "\0" not in item):
            pairs.append((name, str(item)))
        else:
            hint = f'quote it: {name} = "..."' if not isinstance(item, str) else None
            problems.append(Problem(where, "a string or an integer", described(item), hint))
    if problems:
        raise Invalid(problems)
    return tuple(sorted(pairs))


def _show_environment(value: object) -> str:
    pairs = value if isinstance(value, tuple) else ()
    return "{" + ", ".join(f"{name} = {json.dumps(text)}" for name, text in pairs) + "}"


ENVIRONMENT = Kind(_ENVIRONMENT, _environment, _show_environment)


def _index_problems(value: object, path: KeyPath, hint: str = "") -> list[Problem]:
    """A problem at each string (or array item, or table value) with a malformed `{...}`."""
    if isinstance(value, str):
        try:
            parse_template(value)
        except InvalidSpec as exc:
            return [Problem(path, _INDEX_EXPECTED, shown(value), f"{exc}{hint}")]
        return []
    items = value.items() if isinstance(value, dict) else enumerate(cast(list[object], value))
    return [
        problem
        for key, item in items
        if isinstance(item, str)
        for problem in _index_problems(item, (*path, key))
    ]


_SPLIT_HINT = " (a command string is split at spaces first: quote an expression with spaces)"


def _split_apart(value: str, path: KeyPath) -> Problem:
    """A command string whose split cut an expression in pieces (spaces inside its braces)."""
    return Problem(path, _INDEX_EXPECTED, shown(value), "an expression was split" + _SPLIT_HINT)


def with_index(kind: Kind) -> Kind:
    """`kind`, whose strings may hold `{index}` expressions (model/index_template.py).

    Each malformed one is reported at its own argument or variable; in a command given
    as one string, at the key, after the string is split as the command will be.
    """

    def convert(value: object, path: KeyPath) -> object:
        converted = kind.convert(value, path)
        if isinstance(value, str) and isinstance(converted, tuple):
            problems = [p for arg in converted for p in _index_problems(arg, path, _SPLIT_HINT)]
            split = sum(count_expressions(arg) for arg in converted)
            if not problems and split != count_expressions(value):
                problems = [_split_apart(value, path)]
        else:
            problems = _index_problems(value, path) if isinstance(value, list | dict) else []
        if problems:
            raise Invalid(problems[:1] if isinstance(value, str) else problems)
        return converted

    return Kind(kind.expected, convert, kind.show)


_EXIT_CODES = "an array of exit codes (integers 0-255)"


def _exit_codes(value: object, path: KeyPath) -> frozenset[int]:
    if not isinstance(value, list):
        raise invalid(path, _EXIT_CODES, described(value))
    problems = [
        Problem((*path, index), "an exit code from 0 to 255", _shown_code(code))
        for index, code in enumerate(value)
        if not is_integer(code) or not 0 <= code <= 255
    ]
    if problems:
        raise Invalid(problems)
    return frozenset(value)


def _shown_code(code: object) -> str:
    return shown(code) if is_integer(code) else described(code)


EXIT_CODES = Kind(_EXIT_CODES, _exit_codes)
