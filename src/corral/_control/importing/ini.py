"""supervisord's INI files read with the line of every section and key, includes followed.

The dialect is the one supervisord reads: `[section]` headers, `key = value` or
`key: value` (names are case-insensitive), `;` and `#` comments on their own line
or after whitespace, indented lines continuing a value, and `[include] files =`
globs relative to the including file. A line that fits none of these, a key before
any section, a key or section given twice, or an include that names a missing file
is an error at its line.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from corral._control.importing.report import Origin, read_text, refuse

__all__ = ["Entry", "Section", "read_config"]

_HEADER = re.compile(r"\[(?P<name>[^\]]*)\]\s*(?:[;#].*)?")
_INLINE_COMMENT = re.compile(r"\s[;#]")


@dataclass(frozen=True, slots=True)
class Entry:
    """One `key = value`, the value with continuation lines joined by newlines."""

    key: str
    value: str
    origin: Origin


@dataclass(slots=True)
class Section:
    """One `[name]` section of one file."""

    name: str
    origin: Origin
    entries: dict[str, Entry] = field(default_factory=dict)

    @property
    def here(self) -> str:
        """supervisord's `%(here)s`: the directory of the file holding the section."""
        return os.path.dirname(self.origin.file)


Expand = Callable[[Section, Entry], str]
"""How the `[include]` section's `files` value is expanded (`%(here)s`, `%(ENV_X)s`)."""


def read_config(path: str, expand: Expand) -> list[Section]:
    """Every section of `path` and of the files it includes, in reading order."""
    sections: list[Section] = []
    seen: dict[str, Origin] = {}
    _read(os.path.abspath(path), expand, sections, seen, ())
    return sections


def _read(
    path: str, expand: Expand, out: list[Section], seen: dict[str, Origin], chain: tuple[str, ...]
) -> None:
    own = parse_ini(read_text(path), path)
    for section in own:
        first = seen.get(section.name)
        if first is not None:
            refuse(
                section.origin,
                f"each section once (the first [{section.name}] is at {first})",
                f"[{section.name}] again",
            )
        seen[section.name] = section.origin
        if section.name != "include":
            out.append(section)
    for section in own:
        if section.name == "include":
            for file in _included(section, expand):
                if file in chain or file == path:
                    refuse(section.origin, "includes without a cycle", f"{file} includes itself")
                _read(file, expand, out, seen, (*chain, path))


def _included(section: Section, expand: Expand) -> list[str]:
    """The files an `[include]` section names, each glob sorted, missing plain names refused."""
    entry = section.entries.get("files")
    unknown = [key for key in section.entries if key != "files"]
    if unknown:
        refuse(
            section.entries[unknown[0]].origin,
            "only files in [include]",
            f"unknown key {unknown[0]!r}",
            unknown[0],
        )
    if entry is None:
        refuse(section.origin, "a files = ... key in [include]", "nothing", "files")
    files: list[str] = []
    for pattern in expand(section, entry).split():
        full = os.path.join(section.here, os.path.expanduser(pattern))
        if glob.has_magic(full):
            files += sorted(name for name in glob.glob(full) if os.path.isfile(name))
        elif os.path.isfile(full):
            files.append(os.path.abspath(full))
        else:
            refuse(
                entry.origin,
                "an included file that exists",
                f"{pattern!r} ({full} is missing)",
                "files",
            )
    return [os.path.abspath(file) for file in files]


def parse_ini(text: str, path: str) -> list[Section]:
    """The sections of one file's text, without following includes."""
    sections: list[Section] = []
    section: Section | None = None
    last: Entry | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        origin = Origin(path, number)
        if not stripped or stripped[0] in ";#":
            continue
        if raw[0] in " \t" and last is not None and section is not None:
            last = Entry(last.key, f"{last.value}\n{_value(stripped)}".strip(), last.origin)
            section.entries[last.key] = last
            continue
        header = _HEADER.fullmatch(stripped)
        if header:
            section, last = Section(header["name"].strip(), origin), None
            sections.append(section)
            continue
        if stripped.startswith("["):
            refuse(origin, "a section header closed by ]", repr(stripped))
        key, value = _split(stripped, origin)
        if section is None:
            refuse(origin, "a [section] header before the first key", repr(stripped))
        if key in section.entries:
            first = section.entries[key].origin
            refuse(
                origin,
                f"each key once in [{section.name}] (first at line {first.line})",
                f"{key} again",
                key,
            )
        last = section.entries[key] = Entry(key, _value(value), origin)
    return sections


def _split(line: str, origin: Origin) -> tuple[str, str]:
    """`key = value` or `key: value`, split at the first of the two."""
    cut = min((at for at in (line.find("="), line.find(":")) if at >= 0), default=-1)
    if cut <= 0:
        refuse(origin, "a [section] header or a key = value line", repr(line))
    return line[:cut].strip().lower(), line[cut + 1 :].strip()


def _value(text: str) -> str:
    """A value without its inline comment (a ; or # after whitespace)."""
    found = _INLINE_COMMENT.search(text)
    return (text[: found.start()] if found else text).strip()
