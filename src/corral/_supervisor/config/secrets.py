"""Token and key files: private to the daemon's user, checked and read when the config loads.

A root daemon that accepts whatever token file it is given hands the API to anyone who
can read or rewrite that file. So a secret file must be a regular file owned by the
user the daemon runs as, that neither group nor others may read or write; a token must
be at least MIN_TOKEN_BYTES of visible ASCII (it travels in a header). Each refusal is
one `Invalid` naming the file and why, reported at the key that names it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence

from corral._supervisor.config.kinds import Invalid, Kind, Problem, described, invalid
from corral._supervisor.config.positions import KeyPath
from corral._supervisor.config.settings import MIN_TOKEN_BYTES, ApiToken

__all__ = ["DEFAULT_TOKEN_NAME", "TOKENS", "check_private", "read_token"]

DEFAULT_TOKEN_NAME = "default"
"""The name `[daemon] http_token_file`'s token has in the audit log."""

_MAX_TOKEN_FILE = 4096
"""More than this is not a token file; nothing past it is read."""
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_TOKENS = "an array of tables [[daemon.tokens]], each with name and file"


def check_private(file: str, path: KeyPath, what: str) -> int:
    """Open `file` for reading, refusing unless it is private to our user; returns the fd.

    O_NONBLOCK keeps a FIFO planted at the path from hanging the load; O_NOCTTY and
    O_CLOEXEC keep the fd from becoming anything but a read of this file.
    """
    expected = f"{what} only the daemon's user may read or write"
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
    try:
        fd = os.open(file, flags)
    except OSError as exc:
        raise invalid(path, expected, f"{file}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        _check_mode(file, info, path, expected)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_mode(file: str, info: os.stat_result, path: KeyPath, expected: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise invalid(path, expected, f"{file}: not a regular file")
    if info.st_uid != os.geteuid():
        owner = f"owned by uid {info.st_uid}, not by the daemon's user (uid {os.geteuid()})"
        raise invalid(path, expected, f"{file}: {owner}", f"chown {os.geteuid()} {file}")
    if info.st_mode & 0o066:
        mode = f"mode {stat.S_IMODE(info.st_mode):04o} lets group or others read or write it"
        raise invalid(path, expected, f"{file}: {mode}", f"chmod 600 {file}")


def read_token(name: str, file: str, path: KeyPath) -> ApiToken:
    """The token in `file` (surrounding whitespace ignored), checked as the module says."""
    fd = check_private(file, path, "a token file")
    try:
        raw = os.read(fd, _MAX_TOKEN_FILE + 1)
    except OSError as exc:
        raise invalid(path, "a readable token file", f"{file}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    expected = f"a token of at least {MIN_TOKEN_BYTES} visible ASCII characters"
    token = raw.strip()
    if len(raw) > _MAX_TOKEN_FILE:
        raise invalid(path, expected, f"{file}: longer than {_MAX_TOKEN_FILE} bytes")
    if not all(0x21 <= byte <= 0x7E for byte in token):
        raise invalid(path, expected, f"{file}: whitespace, control or non-ASCII bytes inside")
    if len(token) < MIN_TOKEN_BYTES:
        got = f"{file}: {len(token)} bytes" if token else f"{file}: empty"
        hint = f"make one with: (umask 077; head -c 32 /dev/urandom | base64 > {file})"
        raise invalid(path, expected, got, hint)
    return ApiToken(name, token.decode("ascii"))


def _tokens(value: object, path: KeyPath) -> tuple[tuple[str, str], ...]:
    """[[daemon.tokens]] as (name, file) pairs, file as written (the caller resolves it)."""
    if not isinstance(value, list):
        raise invalid(path, _TOKENS, described(value))
    problems: list[Problem] = []
    pairs: list[tuple[str, str]] = []
    for index, entry in enumerate(value):
        try:
            pairs.append(_token_entry(entry, (*path, index)))
        except Invalid as exc:
            problems.extend(exc.problems)
    problems += _duplicates(pairs, path)
    if problems:
        raise Invalid(problems)
    return tuple(pairs)


def _token_entry(entry: object, path: KeyPath) -> tuple[str, str]:
    if not isinstance(entry, dict):
        raise invalid(path, "a table with name and file", described(entry))
    problems = [
        Problem((*path, key), "a key of a token: file, name", f"unknown key {key!r}")
        for key in entry
        if key not in ("name", "file")
    ]
    name, file = entry.get("name"), entry.get("file")
    if not (isinstance(name, str) and _NAME.fullmatch(name)):
        got = "nothing" if name is None else described(name)
        expected = "a name of 1 to 64 letters, digits or _ . @ -"
        problems.append(Problem((*path, "name"), expected, got))
    if not (isinstance(file, str) and file and "\0" not in file):
        got = "nothing" if file is None else described(file)
        problems.append(Problem((*path, "file"), "a path string", got))
    if problems:
        raise Invalid(problems)
    return str(name), str(file)


def _duplicates(pairs: Sequence[tuple[str, str]], path: KeyPath) -> list[Problem]:
    seen: set[str] = set()
    problems: list[Problem] = []
    for index, (name, _) in enumerate(pairs):
        if name in seen:
            where = (*path, index, "name")
            problems.append(Problem(where, "a name no other token has", repr(name)))
        seen.add(name)
    return problems


TOKENS = Kind(_TOKENS, _tokens)
"""The kind of [[daemon.tokens]]: each entry's name and file, names unique."""
