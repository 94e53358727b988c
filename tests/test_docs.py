"""The docs name only what exists: paths, modules, CLI commands and options, config keys.

tests/support/doc_references.py finds the references; a failure lists each one as
`doc:line: what is missing`. When code moves, fix the doc at that line (or, for a path
the code makes at run time, add it to `NOT_IN_REPO` with the reason).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.support.doc_references import (
    NOT_IN_REPO,
    ROOT,
    Kind,
    Reference,
    check,
    doc_files,
    scan,
    unused_allowances,
)

MINIMUM = {
    Kind.PATH: 150,
    Kind.NAME: 40,
    Kind.COMMAND: 30,
    Kind.RUN: 8,
    Kind.CONFIG: 5,
    Kind.KEY: 12,
}
"""Fewer references than this means the scanner went blind, not that the docs got shorter."""


def all_references() -> list[Reference]:
    return [
        reference
        for doc in doc_files()
        for reference in scan(doc.relative_to(ROOT).as_posix(), doc.read_text())
    ]


def problems_in(references: list[Reference], root: Path = ROOT) -> list[str]:
    return [problem for ref in references if (problem := check(ref, root)) is not None]


def test_every_reference_in_the_docs_names_something() -> None:
    problems = problems_in(all_references())
    assert not problems, "the docs name what does not exist:\n" + "\n".join(problems)


def test_the_scan_finds_a_healthy_number_of_references() -> None:
    docs = doc_files()
    assert len(docs) >= 15, [doc.name for doc in docs]
    counts = Counter(reference.kind for reference in all_references())
    low = {kind.value: counts[kind] for kind, least in MINIMUM.items() if counts[kind] < least}
    assert not low, f"the scan found too few references: {low}"


def test_every_path_excused_from_the_repository_is_still_named() -> None:
    assert NOT_IN_REPO
    assert unused_allowances(all_references()) == []


def sample_tree(root: Path) -> None:
    for file, text in {
        "src/corral/__init__.py": "",
        "src/corral/_layer/__init__.py": "",
        "src/corral/_layer/tool.py": "x = 1\ny = 2\n",
        "src/corral/_layer/main.py": 'if __name__ == "__main__":\n    pass\n',
        "docs/guide.md": "",
    }.items():
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        (root / file).write_text(text)


PATH_SAMPLE = """\
# guide
See `src/corral/_layer/tool.py`, `_layer/tool.py:2` and [the guide](guide.md#top).
Not `_layer/gone.py`, not src/corral/_layer/tool.py:3, not `layer/tool.py`.
A tail works: `_layer/tool.py`, `tool.py`; a missing tail does not: `other/tool.py`.
Run `python -m corral._layer.main`; `python -m corral._layer.tool` has no main,
`python -m corral._layer.none` does not exist.

    .venv/bin/python -m corral._layer.main     # the virtualenv is excused
"""


def test_the_check_names_the_doc_the_line_and_the_missing_path(tmp_path: Path) -> None:
    sample_tree(tmp_path)
    references = scan("docs/guide.md", PATH_SAMPLE)
    assert problems_in(references, tmp_path) == [
        "docs/guide.md:3: `_layer/gone.py` does not exist",
        "docs/guide.md:3: `src/corral/_layer/tool.py:3`: src/corral/_layer/tool.py has no line 3",
        "docs/guide.md:3: `layer/tool.py` does not exist",
        "docs/guide.md:4: `other/tool.py` does not exist",
        "docs/guide.md:5: `python -m corral._layer.tool`: the module has no main",
        "docs/guide.md:6: `python -m corral._layer.none`: no module corral._layer.none",
    ]


def test_the_check_passes_what_exists(tmp_path: Path) -> None:
    sample_tree(tmp_path)
    text = "See `src/corral/_layer/tool.py:1-2`, [guide](guide.md) and `_layer/`.\n"
    references = scan("docs/guide.md", text)
    found = [ref.text for ref in references]
    assert found == ["src/corral/_layer/tool.py:1-2", "guide.md", "_layer/"]
    assert problems_in(references, tmp_path) == []


def test_machine_paths_placeholders_and_prose_are_not_repository_paths() -> None:
    text = (
        "Reads `/proc/self/fd` and /sys/fs/cgroup; writes `LOG_DIR/NAME.INDEX.stdout.log`\n"
        "and `bench/.peers/results/<date>/`; stop/start, I/O and HTTP/1.1 are words;\n"
        "see https://example.org/a/b.py and `GET /v1/status`.\n"
    )
    assert [ref for ref in scan("docs/x.md", text) if ref.kind is Kind.PATH] == []


NAME_SAMPLE = """\
`corral._errors.ConfigError` is real, `corral._errors.ConfigEror` is not, nor `corral._gone`.
Files are not modules: `corral.toml`, `corral.sock`.

```python
from corral import run, runn
```
"""


def test_the_check_names_missing_modules_and_attributes() -> None:
    assert problems_in(scan("docs/names.md", NAME_SAMPLE)) == [
        "docs/names.md:1: `corral._errors.ConfigEror`: corral._errors has no attribute or "
        "module ConfigEror",
        "docs/names.md:1: `corral._gone`: corral has no attribute or module _gone",
        "docs/names.md:5: `corral.runn`: corral has no attribute or module runn",
    ]


COMMAND_SAMPLE = """\
Run `corral status --json` or `corral -c demo.toml logs web:0 [-n 5] [-f]`.

    corral stauts web
    .venv/bin/corral logs web:0 --follw
    corral --sockets x status
    corral start|stp web

```
corral plain (posix_spawn path)        157 µs      (output, not a command)
```
"""


def test_the_check_names_unknown_commands_and_options() -> None:
    problems = problems_in(scan("docs/cli.md", COMMAND_SAMPLE))
    assert [problem.split("; the commands are")[0] for problem in problems] == [
        "docs/cli.md:3: `corral stauts web`: no command 'stauts'",
        "docs/cli.md:4: `corral logs web:0 --follw`: corral logs has no option --follw",
        "docs/cli.md:5: `corral --sockets x status`: corral has no option --sockets",
        "docs/cli.md:6: `corral start|stp web`: no command 'stp'",
    ]
    assert "; the commands are alerts, audit, complete-names, completion, daemon," in problems[0]


CONFIG_SAMPLE = """\
# config

```toml
[programs.web]
command = ["true"]
restrat = "always"
```

```toml
[daemon
```
"""


def test_the_check_names_config_keys_the_schema_does_not_know() -> None:
    problems = problems_in(scan("docs/config.md", CONFIG_SAMPLE))
    assert problems == [
        "docs/config.md:6: config key programs.web.restrat is not in the schema "
        "(did you mean restart?)",
        "docs/config.md:10: the TOML does not parse: Expected ']' at the end of a table "
        "declaration (at end of document)",
    ]


KEY_SAMPLE = """\
Set `[daemon] http_listen`, `logs.max_bytes = 0`, `programs.web.sandbox.rlimits.nofile`
and `namespaces.pid`; not `[daemon] log_dri`, `logs.max_byte` or `programs.web.restrat`.
`cgroup.procs` is a cgroup file, and `os.write` is Python.

    corral: /x.toml:2: daemon.log_dri: expected a key of daemon (an error shown on purpose)
"""


def test_the_check_names_config_keys_cited_in_prose() -> None:
    references = scan("docs/keys.md", KEY_SAMPLE)
    assert [ref.text for ref in references if ref.kind is Kind.KEY] == [
        "daemon.http_listen",
        "logs.max_bytes",
        "programs.web.sandbox.rlimits.nofile",
        "namespaces.pid",
        "daemon.log_dri",
        "logs.max_byte",
        "programs.web.restrat",
    ]
    assert problems_in(references) == [
        "docs/keys.md:2: `daemon.log_dri` is not a key of the config schema",
        "docs/keys.md:2: `logs.max_byte` is not a key of the config schema",
        "docs/keys.md:2: `programs.web.restrat` is not a key of the config schema",
    ]


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_of_reference_is_checked(kind: Kind) -> None:
    assert any(ref.kind is kind for ref in all_references())


def test_architecture_lists_every_decision_record() -> None:
    listed = (ROOT / "docs" / "architecture.md").read_text()
    records = sorted(
        p.name for p in (ROOT / "docs" / "decisions").glob("[0-9][0-9][0-9][0-9]-*.md")
    )
    assert len(records) >= 8
    assert [name for name in records if f"(decisions/{name})" not in listed] == []
