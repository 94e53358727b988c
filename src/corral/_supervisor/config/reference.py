"""Render docs/config-reference.md from the schema tables and the spec field docstrings.

The schema is the one source: its tables give the keys, kinds and defaults, and a
key's description is the attribute docstring of the spec field it fills unless
the table gives config-specific words. A test fails when the file is stale;
regenerate it with `python -m corral._supervisor.config.reference --write`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corral._docstrings import attribute_docs
from corral._supervisor.config.alerts import ALERT
from corral._supervisor.config.kinds import Kind
from corral._supervisor.config.listeners import LISTENER
from corral._supervisor.config.sandbox import CGROUP, NAMESPACES, SANDBOX, SECCOMP, VETH
from corral._supervisor.config.schema import (
    BACKOFF,
    COMPAT,
    DAEMON,
    HEALTH,
    LOGS,
    METRICS,
    PROGRAM,
    SOCKET,
    START_LIMIT,
    WEB,
)
from corral._supervisor.config.table import Key, Table

DOCS_FILE = Path(__file__).resolve().parents[4] / "docs" / "config-reference.md"
"""Where the reference lives in a source checkout."""

_INTRO = """\
# Config reference

<!-- GENERATED from src/corral/_supervisor/config/schema.py and the spec field
     docstrings by `python -m corral._supervisor.config.reference --write`.
     Do not edit; tests/supervisor/config/test_reference.py checks it is fresh. -->

The daemon reads one TOML file: `[daemon]` for the daemon itself, `[metrics]` for
resource sampling, and one `[programs.NAME]` per supervised program. A minimal file:

```toml
[daemon]
socket = "/run/corral/corral.sock"
log_dir = "/var/log/corral"

[programs.web]
command = ["python3", "-m", "http.server", "8000"]
```

Conventions:

- **All or nothing.** The whole file is validated before anything is built; a reload
  with a broken file keeps the running config. Every problem is reported, in file
  order, as `FILE:LINE: KEY: expected WHAT; got VALUE`, with a "did you mean" for
  misspelt keys, policies and signals (and for supervisord's names of keys).
- **Paths** resolve against the config file's directory when relative; `~` expands.
- **Durations** are seconds, as an integer or a float.
- **Booleans** are `true` or `false`; TOML keeps them apart from numbers, and so does
  corral (`numprocs = true` is an error, not 1).
- **Sizes** are bytes as an integer, or a string with a unit: `"64K"`, `"10MB"`,
  `"1G"` (powers of 1024; `B` and `iB` suffixes are optional).
- **Signals** are names with or without `SIG`, in any case, or numbers: `"TERM"`,
  `"SIGTERM"`, `15`.
- **Environment values** are strings; an integer is accepted and becomes its
  digits (`PORT = 8000`); floats, booleans and dates are rejected (quote them).
- **Nested tables** (`backoff`, `start_limit`, `logs`, `sandbox` and its `cgroup`,
  `seccomp` and `namespaces`) may be written inline, `backoff = { initial = 0.5 }`,
  or as their own `[programs.NAME.backoff]` table.
- **Sandbox names** (users, groups, capabilities, rlimits, syscalls) are checked
  against this machine when the file is read, with a "did you mean"; what the
  machine supports is checked when a program starts: `corral doctor` shows it in
  advance. [sandbox.md](sandbox.md) is the guide.
- A program reads `/dev/null` as stdin; its stdout and stderr go to log files under
  `log_dir`.
"""


def render_reference() -> str:
    """The whole reference as Markdown."""
    sections = [_INTRO]
    for table, heading in (
        (DAEMON, "`[daemon]`"),
        (METRICS, "`[metrics]`"),
        (PROGRAM, "`[programs.NAME]`"),
        (BACKOFF, "`backoff` (in `[programs.NAME]`)"),
        (START_LIMIT, "`start_limit` (in `[programs.NAME]`)"),
        (LOGS, "`logs` (in `[programs.NAME]`)"),
        (HEALTH, "`[programs.NAME.health]`"),
        (SANDBOX, "`[programs.NAME.sandbox]`"),
        (CGROUP, "`[programs.NAME.sandbox.cgroup]`"),
        (SECCOMP, "`[programs.NAME.sandbox.seccomp]`"),
        (NAMESPACES, "`[programs.NAME.sandbox.namespaces]`"),
        (VETH, "`veth` (in `[programs.NAME.sandbox.namespaces]`)"),
        (SOCKET, "`[sockets.NAME]`"),
        (COMPAT, "`[compat]`"),
        (ALERT, "`[alerts.NAME]`"),
        (LISTENER, "`[listeners.NAME]`"),
        (WEB, "`[web]`"),
    ):
        sections.append(_section(table, heading))
    return "\n".join(sections)


def _section(table: Table, heading: str) -> str:
    lines = [f"## {heading}", "", table.doc, "", "| Key | Value | Default | Description |"]
    lines.append("|---|---|---|---|")
    lines += [_row(key) for key in table.keys]
    return "\n".join(lines) + "\n"


def _row(key: Key) -> str:
    kind = key.kind
    value = kind.expected if isinstance(kind, Kind) else f"a table: see `{kind.title}` below"
    cells = [f"`{key.name}`", value, _default(key), describe(key)]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _default(key: Key) -> str:
    if key.default:
        return key.default
    if key.required:
        return "required"
    if isinstance(key.kind, Table):
        return "unset" if key.kind.optional else "see below"
    field = next(f for f in dataclasses.fields(key.spec) if f.name == key.target)
    default: Any = field.default
    if field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    return "unset" if default is None else f"`{key.kind.show(default)}`"


def describe(key: Key) -> str:
    """A key's description: the table's words, else the spec field's docstring, plus a note."""
    text = key.doc or attribute_docs(key.spec).get(key.target, "")
    return f"{text} {key.note}".strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Print the reference, or write it to docs/config-reference.md with --write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help=f"write {DOCS_FILE}")
    args = parser.parse_args(argv)
    if args.write:
        DOCS_FILE.write_text(render_reference(), encoding="utf-8")
    else:
        sys.stdout.write(render_reference())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
