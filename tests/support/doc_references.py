"""What the docs name (repository paths, modules, CLI commands, config keys), and whether it exists.

The docs may say only what the code does; this scanner is how tests/test_docs.py holds
them to it. `scan` reads one Markdown text line by line and returns every `Reference`
it recognises; `check` returns one problem per reference that names nothing, spelt
`doc:line: what is wrong`, so that after a module moves the docs are quick to fix.

What counts as a reference:
- a path: a token with a file extension (`tree.py:52`, `docs/daemon.md`), a token whose
  first part is a top-level entry of the repository or a layer of `src/corral`
  (`bench/peers`, `_observe/logs/`), or a code span that is a relative path
  (`runtime/`). It resolves against the doc's directory, the repository root,
  `src/corral`, or else as the tail of some path in the repository
  (`runtime/driver.py`); a `:LINE` suffix must fit in the file. Absolute paths (`/proc`)
  are the machine's, and ALL-CAPS or `<...>` parts are placeholders (`LOG_DIR/NAME.log`).
  Paths that the code creates at run time, or that the user supplies, are in
  `NOT_IN_REPO` with the reason; an entry that no doc uses is a problem as well.
- a dotted name starting with `corral.` or `bench.`: a module, then attributes
  (`corral._process.tree.kill`); `python -m NAME` must name a runnable module, and
  `from corral.x import a, b` names that must exist. Names ending in a file suffix
  (`corral.toml`, `corral.sock`) are file names, not modules.
- a `corral ...` command line in a code span, an indented code block or a shell fence:
  the command must be in the CLI's command table and each option known to it. Untagged
  fences are program output and are not read as commands.
- a ```toml fence: it must parse, and every key in it must be one the config schema
  knows (the daemon's own loader reports the unknown ones, with its "did you mean").
- a config key in a code span of prose: `[daemon] http_listen`, `programs.web.restart`,
  or a path inside a program (`logs.max_bytes`, `start_limit.burst`, `namespaces.pid`)
  must be a key of the schema's tables. `cgroup.X` is not read as a key: it is also
  how cgroup files are named (`cgroup.procs`). Code blocks are not read for keys,
  since error messages shown there name wrong keys on purpose.
"""

from __future__ import annotations

import argparse
import enum
import functools
import importlib
import os
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from corral._control.cli.main import COMMANDS, build_parser
from corral._errors import ConfigError
from corral._supervisor.config.load import parse_config
from corral._supervisor.config.schema import COMPAT, DAEMON, METRICS, PROGRAM, WEB
from corral._supervisor.config.table import Table

ROOT = Path(__file__).resolve().parents[2]

NOT_IN_REPO: dict[str, str] = {
    ".venv/": "scripts/test and scripts/demo create the virtualenv",
    "bench/.peers/": "bench.peers writes its scratch files and results there (git-ignored)",
    "results.txt": "a file each bench.peers run writes into its results directory",
    "results.json": "a file each bench.peers run writes into its results directory",
    "summary.md": "a file each bench.peers run writes into its results directory",
    "ecosystem.config.js": "the PM2 config bench.peers writes into its scratch directory",
    "corral.toml": "the user's own config file in command examples",
    "fetch.sh": "the user's own script in the library example",
    "prometheus.yml": "Prometheus's own config file, in the scrape example",
    "bad.toml": "the broken config whose errors decision 0009 shows",
}
"""Paths the docs may name that are not in the repository, each with the reason."""

ROOT_ENTRIES = frozenset({"src", "tests", "bench", "docs", "examples", "scripts", ".ci", ".venv"})
"""First parts that make a token a repository path even without a file extension."""

SKIPPED_DIRS = frozenset(
    {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".peers"}
)
EXTENSIONS = frozenset({"py", "md", "toml", "sh", "json", "txt", "yaml", "yml", "html", "js"})
FILE_SUFFIXES = frozenset({"toml", "sock", "state", "audit", "log", "json", "md", "txt", "py"})
"""Last parts that make a dotted name a file name (`corral.sock`) rather than a module."""

SHELL_FENCES = frozenset({"sh", "bash", "shell", "console"})
VALUE_OPTIONS = frozenset({"-c", "--config", "--socket", "--tcp", "--token-file", "--tls-ca"})
"""Global options that take a value, so the word after them is not the command."""

_SPAN = re.compile(r"`([^`]+)`")
_URL = re.compile(r"\b[a-z][a-z+]*://\S+")
_TOKEN = re.compile(r"[\w./<>*{}-]+(?::\d+(?:-\d+)?)?")
_LINES = re.compile(r"(?P<path>.*?)(?::(?P<first>\d+)(?:-(?P<last>\d+))?)?")
_PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*")
_LAYER = re.compile(r"_[a-z]+")
_DOTTED = re.compile(r"(?<![\w.])(?P<name>(?:corral|bench)(?:\.[A-Za-z_]\w*)+)(?![\w/])")
_RUN = re.compile(r"-m\s+(?P<name>(?:corral|bench)(?:\.\w+)*)")
_FROM_IMPORT = re.compile(r"\bfrom +(?P<module>corral[\w.]*) +import +(?P<names>\w+(?:, *\w+)*)")
_INVOCATION = re.compile(r"^(?:\$\s+)?(?:\S*/)?corral\s+(?P<args>[^#]*)")
_KEY_ROOTS = "daemon|metrics|programs|logs|backoff|start_limit|sandbox|namespaces|seccomp|veth"
_KEY = re.compile(rf"(?:\[(?P<table>[\w.]+)\] +)?(?P<key>(?:{_KEY_ROOTS})(?:\.\w+)+|\w+)(?: *=.*)?")


class Kind(enum.Enum):
    """What a reference names."""

    PATH = "path"
    NAME = "name"
    """A dotted module name, possibly followed by attributes."""
    RUN = "run"
    """A module run with `python -m`."""
    COMMAND = "command"
    """The arguments of a `corral` command line."""
    CONFIG = "config"
    """The text of a TOML fence; `line` is its first line."""
    KEY = "key"
    """A config key path, dotted: programs.web.logs.max_bytes, or logs.max_bytes."""


@dataclass(frozen=True, slots=True)
class Reference:
    """One thing a doc names, at a line."""

    doc: str
    """The doc's path relative to the repository root."""
    line: int
    kind: Kind
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    text: str
    block: str | None
    """None for prose, "indented" for an indented code block, else "fence:LANG"."""
    fence: int = 0
    """Which fence of the doc the line is in (1, 2, ...); 0 outside fences."""


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and docs/**/*.md."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def scan(doc: str, text: str) -> list[Reference]:
    """Every reference in one Markdown text; `doc` is its path from the repository root."""
    found: list[Reference] = []
    toml: dict[int, list[_Line]] = {}
    for line in _lines(text):
        if line.block == "fence:toml":
            toml.setdefault(line.fence, []).append(line)
        found += _line_references(doc, line)
    for lines in toml.values():
        body = "\n".join(line.text for line in lines)
        found.append(Reference(doc, lines[0].number, Kind.CONFIG, body))
    return found


def _lines(text: str) -> Iterator[_Line]:
    """Each line with the kind of block it is in; fence lines themselves are skipped."""
    fence: str | None = None
    fences = 0
    previous_blank, previous_code = True, False
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else "fence:" + stripped[3:].strip()
            fences += fence is not None
            previous_blank, previous_code = False, False
            continue
        if fence is not None:
            yield _Line(number, raw, fence, fences)
            continue
        indented = raw.startswith(("    ", "\t")) and bool(stripped)
        code = indented and (previous_blank or previous_code)
        yield _Line(number, raw, "indented" if code else None)
        previous_blank, previous_code = not stripped, code or (previous_code and not stripped)


def _line_references(doc: str, line: _Line) -> Iterator[Reference]:
    spans = [line.text] if line.block is not None else _SPAN.findall(line.text)
    whole_spans = set() if line.block is not None else {span.strip() for span in spans}
    for token in _TOKEN.findall(_URL.sub(" ", line.text)):
        path = token.rstrip(".")
        if _is_path(path, in_span=path in whole_spans):
            yield Reference(doc, line.number, Kind.PATH, path)
    run = {match.start("name"): match.group("name") for match in _RUN.finditer(line.text)}
    for name in run.values():
        yield Reference(doc, line.number, Kind.RUN, name)
    for match in _DOTTED.finditer(line.text):
        name = match.group("name")
        if match.start() not in run and name.rsplit(".", 1)[1] not in FILE_SUFFIXES:
            yield Reference(doc, line.number, Kind.NAME, name)
    for match in _FROM_IMPORT.finditer(line.text):
        for name in re.split(r",\s*", match.group("names")):
            yield Reference(doc, line.number, Kind.NAME, f"{match.group('module')}.{name}")
    for span in spans if line.block is None else []:
        key = _KEY.fullmatch(span.strip())
        if key and (key.group("table") or "." in key.group("key")):
            path = ".".join(part for part in (key.group("table"), key.group("key")) if part)
            yield Reference(doc, line.number, Kind.KEY, path)
    if line.block is None or line.block == "indented" or line.block[6:] in SHELL_FENCES:
        for span in spans:
            invocation = _INVOCATION.match(span.strip())
            if invocation:
                yield Reference(doc, line.number, Kind.COMMAND, invocation.group("args").strip())


def _is_path(token: str, *, in_span: bool) -> bool:
    path = _split_lines(token)[0].removeprefix("./")
    if not re.search(r"[a-z]", path) or path.startswith("/") or re.search(r"[<>*{}]", path):
        return False
    parts = [part for part in path.split("/") if part]
    if not parts or any(_PLACEHOLDER.fullmatch(part) for part in parts):
        return False
    extension = parts[-1].rsplit(".", 1)[1] if "." in parts[-1].lstrip(".") else ""
    rooted = parts[0] in ROOT_ENTRIES or bool(_LAYER.fullmatch(parts[0]))
    return extension in EXTENSIONS or ("/" in path and (rooted or in_span))


def _split_lines(token: str) -> tuple[str, int | None, int | None]:
    """`tree.py:52-60` -> ("tree.py", 52, 60); without a suffix the lines are None."""
    match = _LINES.fullmatch(token)
    assert match is not None
    first = int(match.group("first")) if match.group("first") else None
    last = int(match.group("last")) if match.group("last") else first
    return match.group("path"), first, last


def check(reference: Reference, root: Path = ROOT) -> str | None:
    """What is wrong with one reference, as "doc:line: ...", or None when it names something."""
    if reference.kind is Kind.CONFIG:
        found = _check_config(reference, root)
        return None if found is None else f"{reference.doc}:{found[0]}: {found[1]}"
    problem = {
        Kind.PATH: _check_path,
        Kind.NAME: _check_name,
        Kind.RUN: _check_run,
        Kind.COMMAND: _check_command,
        Kind.KEY: _check_key,
    }[reference.kind](reference, root)
    return None if problem is None else f"{reference.where}: {problem}"


def allowance(path: str) -> str | None:
    """The `NOT_IN_REPO` entry that covers `path`, if any."""
    path = _split_lines(path)[0].removeprefix("./")
    for entry in NOT_IN_REPO:
        if path == entry.rstrip("/") or (entry.endswith("/") and path.startswith(entry)):
            return entry
    return None


def unused_allowances(references: Iterable[Reference]) -> list[str]:
    """`NOT_IN_REPO` entries that no reference needs: a stale entry would excuse anything."""
    used = {allowance(ref.text) for ref in references if ref.kind is Kind.PATH}
    return [entry for entry in NOT_IN_REPO if entry not in used]


def _check_path(reference: Reference, root: Path) -> str | None:
    if allowance(reference.text) is not None:
        return None
    path, _, last = _split_lines(reference.text)
    found = resolve(path, (root / reference.doc).parent, root)
    if not found:
        return f"`{path}` does not exist"
    if last is not None and not any(_line_count(p) >= last for p in found if p.is_file()):
        return f"`{reference.text}`: {path} has no line {last}"
    return None


def resolve(path: str, doc_dir: Path, root: Path = ROOT) -> list[Path]:
    """The files or directories `path` may mean, from the doc's directory, the root or src."""
    path = path.removeprefix("./").rstrip("/")
    for base in (doc_dir, root, root / "src" / "corral"):
        if (base / path).exists():
            return [base / path]
    return [p for p in _index(root) if p.as_posix().endswith("/" + path)]


@functools.cache
def _index(root: Path) -> tuple[Path, ...]:
    """Every file and directory in the repository, without caches and run-time output."""
    found: list[Path] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        found += [Path(directory, name) for name in (*dirs, *files)]
    return tuple(found)


def _line_count(path: Path) -> int:
    return len(path.read_text(errors="replace").splitlines())


def _check_name(reference: Reference, root: Path) -> str | None:
    parts = reference.text.split(".")
    cut = next((n for n in range(len(parts), 0, -1) if _module_file(parts[:n], root)), 0)
    if cut == 0:
        return f"`{reference.text}`: no module {parts[0]}"
    module, attributes = ".".join(parts[:cut]), parts[cut:]
    if not attributes:
        return None
    if parts[0] != "corral":
        return f"`{reference.text}`: no module {module}.{attributes[0]}"
    value: object = importlib.import_module(module)
    for n, attribute in enumerate(attributes):
        if not hasattr(value, attribute):
            owner = ".".join([module, *attributes[:n]])
            return f"`{reference.text}`: {owner} has no attribute or module {attribute}"
        value = getattr(value, attribute)
    return None


def _module_file(parts: list[str], root: Path) -> Path | None:
    """The file that defines the module named by `parts` (corral in src/, bench at the root)."""
    base = root / "src" if parts[0] == "corral" else root
    package = base.joinpath(*parts)
    for candidate in (package / "__init__.py", package.with_name(package.name + ".py")):
        if candidate.is_file():
            return candidate
    return None


def _check_run(reference: Reference, root: Path) -> str | None:
    parts = reference.text.split(".")
    file = _module_file(parts, root)
    if file is None:
        return f"`python -m {reference.text}`: no module {reference.text}"
    runnable = (
        (file.parent / "__main__.py").is_file()
        if file.name == "__init__.py"
        else '__name__ == "__main__"' in file.read_text()
    )
    return None if runnable else f"`python -m {reference.text}`: the module has no main"


@functools.cache
def cli_options() -> dict[str | None, frozenset[str]]:
    """Option strings by command; None holds the options given before the command."""
    parser = build_parser()
    options: dict[str | None, frozenset[str]] = {None: _options_of(parser)}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                options[name] = _options_of(sub)
    return options


def _options_of(parser: argparse.ArgumentParser) -> frozenset[str]:
    """A command's options, and those of its own subcommands (`sandbox profile`)."""
    found = {s for action in parser._actions for s in action.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options_of(sub)
    return frozenset(found)


def _check_command(reference: Reference, root: Path) -> str | None:
    words = [word.strip("[]") for word in reference.text.split()]
    position = 0
    while position < len(words) and words[position].startswith("-"):
        option = words[position].split("=")[0]
        if option not in cli_options()[None]:
            return f"`corral {reference.text}`: corral has no option {option}"
        position += 2 if option in VALUE_OPTIONS and "=" not in words[position] else 1
    if position >= len(words):
        return None
    known = sorted([*COMMANDS, "daemon"])
    for command in words[position].split("|"):
        if command not in known:
            listed = ", ".join(known)
            return f"`corral {reference.text}`: no command {command!r}; the commands are {listed}"
        for word in words[position + 1 :]:
            option = word.split("=")[0]
            unknown = option not in cli_options()[command]
            if option.startswith("-") and option.strip("-") and unknown:
                return f"`corral {reference.text}`: corral {command} has no option {option}"
    return None


def _check_config(reference: Reference, root: Path) -> tuple[int, str] | None:
    """(line in the doc, problem) for a TOML fence that does not parse or has an unknown key."""
    try:
        tomllib.loads(reference.text)
    except tomllib.TOMLDecodeError as exc:
        return reference.line, f"the TOML does not parse: {exc}"
    try:
        parse_config(reference.text, path=str(root / reference.doc))
    except ConfigError as exc:
        unknown = [e for e in (exc, *exc.more) if e.got and e.got.startswith("unknown key")]
        if unknown:
            first = unknown[0]
            line = reference.line + (first.line or 1) - 1
            hint = f" ({first.hint})" if first.hint else ""
            return line, f"config key {first.key} is not in the schema{hint}"
    return None


def _check_key(reference: Reference, root: Path) -> str | None:
    """None when the dotted key names a key of the schema, from the top or inside a program."""
    path = reference.text
    parts = path.split(".")
    top = {"daemon": DAEMON, "metrics": METRICS, "web": WEB, "compat": COMPAT}
    if parts[0] in top:
        tables, rest = [top[parts[0]]], parts[1:]
    elif parts[0] == "programs":
        tables, rest = [PROGRAM], parts[2:]  # programs.NAME.KEY...
    else:
        tables, rest = _tables(PROGRAM), parts
    if any(_walk(table, rest) for table in tables):
        return None
    return f"`{path}` is not a key of the config schema"


def _tables(table: Table) -> list[Table]:
    """`table` and every table nested in it."""
    found = [table]
    for key in table.keys:
        if isinstance(key.kind, Table):
            found += _tables(key.kind)
    return found


def _walk(table: Table, parts: list[str]) -> bool:
    """True when `parts` lead from `table` to one of its keys (values inside a key pass)."""
    if not parts:
        return True
    key = table.key(parts[0])
    if key is None:
        return False
    return _walk(key.kind, parts[1:]) if isinstance(key.kind, Table) else True
