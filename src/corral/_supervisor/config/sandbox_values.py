"""Value kinds of the [programs.NAME.sandbox] tables; names are checked against this machine.

Users, groups, capabilities, rlimits, syscalls and seccomp presets are checked
by the sandbox's own name tables (`corral._sandbox.names`), so the config and the
library accept exactly the same names. A miss is reported at its key, or at its
element of an array, with the "did you mean" those tables give.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from typing import TypeVar

from corral._errors import InvalidSpec
from corral._sandbox import names
from corral._sandbox.spec import Rlimit
from corral._supervisor.config.kinds import (
    SIZE,
    Invalid,
    Kind,
    Problem,
    described,
    invalid,
    is_integer,
    shown,
)
from corral._supervisor.config.positions import KeyPath

T = TypeVar("T")

BYTE_RLIMITS = frozenset({"as", "core", "data", "fsize", "memlock", "msgqueue", "rss", "stack"})
"""Resource limits measured in bytes: they also take sizes like "64M"."""

_OCTAL = re.compile(r"(?:0o)?([0-7]{1,4})")


def suggestion(exc: InvalidSpec) -> str | None:
    """The "did you mean X?" that the name tables end their messages with, if any."""
    _, found, rest = str(exc).partition("; did you mean ")
    return f"did you mean {rest}" if found else None


def _known(check: Callable[[T], object], value: T, path: KeyPath, expected: str) -> None:
    try:
        check(value)
    except InvalidSpec as exc:
        raise invalid(path, expected, shown(value), suggestion(exc)) from None


def _each(
    value: object, path: KeyPath, expected: str, convert: Callable[[object, KeyPath], T]
) -> list[T]:
    """Every element of an array converted; a problem for each bad element, at its index."""
    if not isinstance(value, list):
        raise invalid(path, expected, described(value))
    problems: list[Problem] = []
    items: list[T] = []
    for index, item in enumerate(value):
        try:
            items.append(convert(item, (*path, index)))
        except Invalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise Invalid(problems)
    return items


def _string(value: object, path: KeyPath, expected: str) -> str:
    if not isinstance(value, str):
        raise invalid(path, expected, described(value))
    return value


# -- identity --------------------------------------------------------------------

_USER = "a user of this machine: a name, or a uid (an integer >= 0)"
_GROUP = "a group of this machine: a name, or a gid (an integer >= 0)"


def _account(
    value: object, path: KeyPath, expected: str, check: Callable[[str | int], None]
) -> str | int:
    if not isinstance(value, str) and not is_integer(value):
        raise invalid(path, expected, described(value))
    if is_integer(value) and value < 0:
        raise invalid(path, expected, shown(value))
    _known(check, value, path, expected)
    return value


def _user(value: object, path: KeyPath) -> str | int:
    return _account(value, path, _USER, names.check_user)


def _group(value: object, path: KeyPath) -> str | int:
    return _account(value, path, _GROUP, names.check_group)


USER = Kind(_USER, _user)
GROUP = Kind(_GROUP, _group)

_GROUPS = "an array of groups of this machine (names or gids)"
GROUPS = Kind(_GROUPS, lambda value, path: tuple(_each(value, path, _GROUPS, _group)))

_UMASK = 'a umask: octal digits in a string ("027"), or an integer (0o027)'
_MODE = 'permission bits: octal digits in a string ("660"), or an integer (0o660)'


def _octal(value: object, path: KeyPath, words: str, what: str) -> int:
    """Permission bits (a umask, a file mode) from octal digits or an integer, at most 0o777."""
    if isinstance(value, str):
        match = _OCTAL.fullmatch(value.strip().lower())
        if match is None:
            raise invalid(path, words, shown(value), 'octal digits 0-7, like "027"')
        bits = int(match[1], 8)
    elif is_integer(value):
        bits = value
    else:
        raise invalid(path, words, described(value))
    if not 0 <= bits <= 0o777:
        raise invalid(path, words, shown(value), f"{what} is at most 0o777")
    return bits


def _umask(value: object, path: KeyPath) -> int:
    return _octal(value, path, _UMASK, "a umask")


def _show_umask(value: object) -> str:
    return f'"{value:03o}"' if is_integer(value) else "unset"


MODE = Kind(_MODE, lambda value, path: _octal(value, path, _MODE, "a mode"), _show_umask)
"""A file's permission bits (a unix socket's `mode`)."""
UMASK = Kind(_UMASK, _umask, _show_umask)

_CAPABILITY = "a capability name (CAP_NET_BIND_SERVICE, or net_bind_service)"
_CAPABILITIES = 'an array of capability names, like ["CAP_NET_BIND_SERVICE"]'


def _capability(value: object, path: KeyPath) -> str:
    name = _string(value, path, _CAPABILITY)
    try:
        return names.normalise_capability(name)
    except InvalidSpec as exc:
        raise invalid(path, _CAPABILITY, shown(value), suggestion(exc)) from None


CAPABILITIES = Kind(
    _CAPABILITIES,
    lambda value, path: frozenset(_each(value, path, _CAPABILITIES, _capability)),
)

# -- rlimits ---------------------------------------------------------------------

_RLIMITS = 'a table of NAME = LIMIT, where a LIMIT is a number, "unlimited" or [soft, hard]'
_RLIMIT_NAME = "a resource limit name (nofile, nproc, core, as, fsize, cpu, ...)"
_PAIR = "[soft, hard]: two limits, soft <= hard"


def _rlimits(value: object, path: KeyPath) -> dict[str, Rlimit]:
    if not isinstance(value, dict):
        raise invalid(path, _RLIMITS, described(value))
    problems: list[Problem] = []
    limits: dict[str, Rlimit] = {}
    for name, item in value.items():
        where = (*path, name)
        try:
            short = _rlimit_name(name, where)
            if short in limits:
                raise invalid(where, "each limit set once", f"{name!r}, {short} again")
            limits[short] = _rlimit(short, item, where)
        except Invalid as exc:
            problems.extend(exc.problems)
    if problems:
        raise Invalid(problems)
    return limits


def _rlimit_name(name: str, path: KeyPath) -> str:
    try:
        return names.check_rlimit(name)
    except InvalidSpec as exc:
        raise invalid(path, _RLIMIT_NAME, f"unknown limit {name!r}", suggestion(exc)) from None


def _rlimit(short: str, value: object, path: KeyPath) -> Rlimit:
    if isinstance(value, list):
        if len(value) != 2:
            raise invalid(path, _PAIR, shown(value))
        sides = _each(value, path, _PAIR, lambda side, where: _side(short, side, where))
        soft, hard = sides
    else:
        soft = hard = _side(short, value, path)
    try:
        return Rlimit(soft=soft, hard=hard)
    except InvalidSpec as exc:
        raise invalid(path, _PAIR, shown(value), str(exc)) from None


def _side(short: str, value: object, path: KeyPath) -> int | None:
    """One limit: a number, "unlimited" (None), or for byte limits a size like "64M"."""
    in_bytes = short in BYTE_RLIMITS
    expected = (
        'bytes (an integer or a size like "64M"), or "unlimited"'
        if in_bytes
        else 'an integer >= 0, or "unlimited"'
    )
    if value == "unlimited":
        return None
    if is_integer(value) and value >= 0:
        return value
    if isinstance(value, str) and in_bytes:
        size = SIZE.convert(value, path)
        assert isinstance(size, int)
        return size
    got = shown(value) if is_integer(value) or isinstance(value, str) else described(value)
    raise invalid(path, expected, got)


RLIMITS = Kind(_RLIMITS, _rlimits)

# -- cgroup ----------------------------------------------------------------------

_MEMORY = 'a size of at least 1 byte: an integer, or a string like "64M", "1G"'


def _size_kind(expected: str, least: int) -> Kind:
    """A size in bytes of at least `least`, reported as `expected` when it is not."""

    def convert(value: object, path: KeyPath) -> int:
        try:
            size = SIZE.convert(value, path)
        except Invalid as exc:
            (problem,) = exc.problems
            raise invalid(path, expected, problem.got, problem.hint) from None
        assert isinstance(size, int)
        if size < least:
            raise invalid(path, expected, shown(value))
        return size

    return Kind(expected, convert, SIZE.show)


MEMORY = _size_kind(_MEMORY, 1)
SWAP = _size_kind('a size (0 turns swap off): an integer, or a string like "64M", "1G"', 0)

_CORES = "CPU cores, a number > 0 and <= 1024 (0.5 is half a core)"


def _cores(value: object, path: KeyPath) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(path, _CORES, described(value))
    if not math.isfinite(value) or not 0 < value <= 1024:
        raise invalid(path, _CORES, shown(value))
    return float(value)


CORES = Kind(_CORES, _cores)

# -- seccomp ---------------------------------------------------------------------

_SYSCALL = "a system call name of this machine's architecture"
_SYSCALLS = 'an array of system call names, like ["ptrace", "mount"]'
_PRESET = "a seccomp preset name"
_PRESETS = 'an array of seccomp preset names, like ["no-network"]'


def _syscall(value: object, path: KeyPath) -> str:
    name = _string(value, path, _SYSCALL)
    _known(names.check_syscall, name, path, _SYSCALL)
    return name


def _preset(value: object, path: KeyPath) -> str:
    # Whether it exists is checked with the table's `default` (sandbox.py): each
    # preset is made for one kind of filter.
    return _string(value, path, _PRESET)


SYSCALLS = Kind(_SYSCALLS, lambda value, path: frozenset(_each(value, path, _SYSCALLS, _syscall)))
PRESETS = Kind(_PRESETS, lambda value, path: tuple(_each(value, path, _PRESETS, _preset)))

# -- namespaces ------------------------------------------------------------------

_ABSOLUTE = "an absolute path"
_ABSOLUTES = "an array of absolute paths"


def _absolute(value: object, path: KeyPath) -> str:
    text = _string(value, path, _ABSOLUTE)
    if not text.startswith("/") or "\0" in text:
        raise invalid(path, _ABSOLUTE, shown(value))
    return text


ABSOLUTE_PATH = Kind(_ABSOLUTE, _absolute)
ABSOLUTE_PATHS = Kind(
    _ABSOLUTES, lambda value, path: tuple(_each(value, path, _ABSOLUTES, _absolute))
)

_HOSTNAME = "a hostname of 1 to 64 characters"


def _hostname(value: object, path: KeyPath) -> str:
    text = _string(value, path, _HOSTNAME)
    if not 0 < len(text) <= 64:
        raise invalid(path, _HOSTNAME, shown(value))
    return text


HOSTNAME = Kind(_HOSTNAME, _hostname)

_ADDRESS = 'an IP address with a prefix length, like "10.200.0.1/30"'


def _address(value: object, path: KeyPath) -> str:
    text = _string(value, path, _ADDRESS)
    try:
        ipaddress.ip_interface(text)
    except ValueError as exc:
        raise invalid(path, _ADDRESS, shown(value), str(exc)) from None
    if "/" not in text:
        raise invalid(path, _ADDRESS, shown(value), "add the prefix length, like /30")
    return text


ADDRESS = Kind(_ADDRESS, _address)
