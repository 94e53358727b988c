"""An import from end to end: detect the format, convert, write TOML, prove corral loads it.

`import_config` reads a source file, hands it to its format's converter (one
module each), renders the `Draft` as TOML and loads that text with corral's own
config loader (`parse_config`) before anyone writes it: a value the loader refuses
(a user this machine lacks, a signal name it does not know) is reported at the
source line that produced it. `write_output` puts the text in place atomically,
never over an existing file unless told to.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from corral._control.importing import pm2, procfile, supervisord
from corral._control.importing.emit import toml_document
from corral._control.importing.report import Draft, Note, Origin, read_text, refuse
from corral._errors import ConfigError
from corral._supervisor.config.load import parse_config

__all__ = ["FORMATS", "Imported", "detect", "import_config", "write_output"]

CONVERTERS: dict[str, Callable[[str], Draft]] = {
    "supervisord": supervisord.convert,
    "procfile": procfile.convert,
    "pm2": pm2.convert,
}
FORMATS = tuple(CONVERTERS)

_INI_HEADER = re.compile(r"\[[^\]\[]+\]\s*(?:[;#].*)?")
_PROCFILE_LINE = re.compile(r"[A-Za-z0-9_-]+:(\s.*)?")


@dataclass(frozen=True, slots=True)
class Imported:
    """A converted config: its TOML text and what did not carry over."""

    source: str
    kind: str
    text: str
    notes: tuple[Note, ...]


def import_config(
    path: str, *, kind: str | None = None, target: str | None = None, env_name: str | None = None
) -> Imported:
    """The corral TOML for the config at `path`, checked by corral's loader.

    `kind` forces the format (one of FORMATS); `target` is where the TOML will be
    written, which relative defaults resolve against (the working directory when
    it goes to stdout); `env_name` picks a PM2 file's `env_NAME`. `ConfigError` names
    the source file and line on bad input.
    """
    source = os.path.abspath(path)
    text = read_text(source)
    kind = kind or detect(source, text)
    if env_name is not None and kind != "pm2":
        refuse(source, "a PM2 ecosystem file with --env", f"a {kind} file")
    draft = pm2.convert(source, env_name) if kind == "pm2" else CONVERTERS[kind](source)
    expanded = [
        Note(
            origin,
            f"%(ENV_{name})s",
            "expanded at import from this environment; the output holds its value",
        )
        for name, origin in draft.expanded.items()
    ]
    notes = sorted(
        [*draft.notes, *expanded],
        key=lambda note: (note.origin.file != source, note.origin.file, note.origin.line),
    )
    draft.notes = notes
    toml = render(draft)
    check(toml, draft, os.path.abspath(target or "corral.toml"))
    return Imported(source, kind, toml, tuple(notes))


def detect(path: str, text: str) -> str:
    """The format of a source, by its file name, else by its first lines."""
    name = os.path.basename(path).lower()
    if name == "procfile" or name.startswith("procfile."):
        return "procfile"
    if name.endswith((".json", ".js", ".cjs")):
        return "pm2"
    if name.endswith((".conf", ".ini")):
        return "supervisord"
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and line.strip()[0] not in "#;"
    ]
    if lines and _INI_HEADER.fullmatch(lines[0]):
        return "supervisord"
    if "module.exports" in text or (lines and lines[0][0] in "{["):
        return "pm2"
    if lines and all(_PROCFILE_LINE.fullmatch(line) for line in lines):
        return "procfile"
    refuse(
        path,
        "a supervisord config, a Procfile or a PM2 ecosystem file (or name one with --from)",
        "none of these",
    )


def render(draft: Draft) -> str:
    """The draft as TOML, headed by where it came from and what did not carry over."""
    base = os.path.dirname(draft.source)
    comments = [f"Imported by `corral import` from {draft.source} ({draft.kind})."]
    if draft.expanded:
        used = ", ".join(f"${name} ({_near(o, base)})" for name, o in draft.expanded.items())
        comments.append(f"Expanded at import from the importing environment: {used}.")
    if draft.notes:
        comments += [
            "",
            f"Settings with no equal in corral, and what the import did (files in {base}):",
        ]
        comments += [f"  {_near(n.origin, base)}: {n.setting}: {n.action}" for n in draft.notes]
    tables: dict[str, Mapping[str, object]] = {
        "daemon": draft.daemon,
        "sockets": draft.sockets,
        "programs": draft.programs,
    }
    return toml_document(comments, tables)


def _near(origin: Origin, base: str) -> str:
    """FILE:LINE with FILE relative to the imported file's directory."""
    return f"{os.path.relpath(origin.file, base)}:{origin.line}"


def check(toml: str, draft: Draft, target: str) -> None:
    """Load the TOML with corral's loader; a refusal is reported at its source line."""
    try:
        parse_config(toml, path=target)
    except ConfigError as exc:
        raise _blamed(exc, draft) from None


def _blamed(error: ConfigError, draft: Draft) -> ConfigError:
    """The loader's error moved onto the source setting that produced the value."""
    errors = [_blame_one(one, draft) for one in (error, *error.more)]
    first = errors[0]
    return ConfigError(
        file=first.file,
        line=first.line,
        key=first.key,
        expected=first.expected,
        got=first.got,
        hint=first.hint,
        more=errors[1:],
    )


def _blame_one(error: ConfigError, draft: Draft) -> ConfigError:
    found = draft.origin_of(error.key) if error.key else None
    hint = f"corral refuses it as {error.key}" + (f": {error.hint}" if error.hint else "")
    if found is None:
        return ConfigError(
            file=draft.source,
            line=None,
            key=error.key,
            expected=error.expected,
            got=error.got,
            hint=hint,
        )
    origin, setting = found
    return ConfigError(
        file=origin.file,
        line=origin.line,
        key=setting,
        expected=error.expected,
        got=error.got,
        hint=hint,
    )


def write_output(text: str, path: str, *, force: bool) -> None:
    """Write `text` to `path` atomically (a temporary file renamed, or linked, into place).

    Without `force` an existing file is kept and `FileExistsError` raised; the link
    makes that check and the write one step, so a file made meanwhile is not lost.
    The file gets mode 0600: it may hold values expanded from the environment.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".corral-import-", suffix=".toml", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        if force:
            os.replace(temporary, path)
            return
        try:
            os.link(temporary, path)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise FileExistsError(errno.EEXIST, "exists", path) from None
            raise
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
