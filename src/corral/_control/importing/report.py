"""What an import produces before it is written: the corral tables, and notes on the way.

A source format's converter fills one `Draft`: the `[daemon]`, `[sockets.NAME]` and
`[programs.NAME]` values in corral's own key names, the source line each value came
from (so a value the config loader refuses is blamed on the line that produced it),
and one `Note` per source setting that has no equal in corral, saying what was done
with it. A source that cannot be read at all raises `ConfigError` through `refuse`,
naming the source file and line, like the loader does for a corral file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

from corral._errors import ConfigError
from corral._supervisor.config.positions import format_key

__all__ = ["Draft", "Note", "Origin", "refuse"]


@dataclass(frozen=True, slots=True)
class Origin:
    """A place in a source file."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Note:
    """One source setting with no equal in corral, and what the import did with it."""

    origin: Origin
    setting: str
    """The setting as the source names it: `stdout_logfile`, `[group:web]`, `watch`."""
    action: str
    """What was done: "dropped: ...", "approximated: ...", "expanded at import: ..."."""

    def __str__(self) -> str:
        return f"{self.origin}: {self.setting}: {self.action}"


def refuse(
    origin: Origin | str, expected: str, got: str | None = None, key: str | None = None
) -> NoReturn:
    """Stop the import: the source (file, or file and line) is not what it should be."""
    if isinstance(origin, Origin):
        raise ConfigError(file=origin.file, line=origin.line, key=key, expected=expected, got=got)
    raise ConfigError(file=origin, line=None, key=key, expected=expected, got=got)


@dataclass(slots=True)
class Draft:
    """The corral config an import builds, with where each value came from."""

    source: str
    """The file imported (the first one, for a supervisord config with includes)."""
    kind: str
    """The source format: "supervisord", "procfile" or "pm2"."""
    daemon: dict[str, object] = field(default_factory=dict)
    sockets: dict[str, dict[str, object]] = field(default_factory=dict)
    programs: dict[str, dict[str, object]] = field(default_factory=dict)
    origins: dict[tuple[str, ...], tuple[Origin, str]] = field(default_factory=dict)
    """(table, name, key...) -> where the value came from and the source setting's name."""
    notes: list[Note] = field(default_factory=list)
    expanded: dict[str, Origin] = field(default_factory=dict)
    """Environment variables expanded at import, each with where it was first used."""

    def note(self, origin: Origin, setting: str, action: str) -> None:
        """Record a setting that has no equal, and what was done with it."""
        self.notes.append(Note(origin, setting, action))

    def put(self, path: tuple[str, ...], value: object, origin: Origin, setting: str) -> None:
        """Set one value, at ("programs", NAME, KEY[, SUBKEY]) and the like."""
        table: dict[str, dict[str, Any]] = {
            "daemon": self.daemon,
            "sockets": self.sockets,
            "programs": self.programs,
        }
        if _has_nul(value):
            refuse(origin, "a value without NUL bytes", repr(value), setting)
        target = table[path[0]]
        for part in path[1:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
        self.origins[path] = (origin, setting)

    def origin_of(self, key: str) -> tuple[Origin, str] | None:
        """Where the value at a key the loader names (`programs.web.exit_codes[1]`) came from:
        the source of the longest recorded path that the key is, or lies inside."""
        best: tuple[int, tuple[Origin, str]] | None = None
        for path, found in self.origins.items():
            prefix = format_key(path)
            inside = key == prefix or key.startswith((prefix + ".", prefix + "["))
            if inside and (best is None or len(prefix) > best[0]):
                best = (len(prefix), found)
        return None if best is None else best[1]


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return isinstance(value, list | tuple) and any(_has_nul(item) for item in value)


def read_text(path: str) -> str:
    """A source file's text, or `ConfigError` naming the file (and line of a bad byte)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        refuse(path, "a readable file", exc.strerror or str(exc))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        refuse(Origin(path, line), "UTF-8 text", f"the byte {data[exc.start]:#04x}")
