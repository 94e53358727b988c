"""docs/config-reference.md is generated from the schema and must be current."""

from __future__ import annotations

import pytest

from corral._docstrings import attribute_docs
from corral._supervisor.config.reference import (
    DOCS_FILE,
    describe,
    render_reference,
)
from corral._supervisor.config.sandbox import CGROUP, NAMESPACES, SANDBOX, SECCOMP, VETH
from corral._supervisor.config.schema import BACKOFF, DAEMON, LOGS, PROGRAM, START_LIMIT
from corral._supervisor.config.table import Table
from corral._supervisor.model.program import Program


def test_the_config_reference_is_fresh() -> None:
    assert DOCS_FILE.read_text(encoding="utf-8") == render_reference(), (
        "docs/config-reference.md is stale: run "
        "`python -m corral._supervisor.config.reference --write`"
    )


@pytest.mark.parametrize(
    "table",
    [DAEMON, PROGRAM, BACKOFF, START_LIMIT, LOGS, SANDBOX, CGROUP, SECCOMP, NAMESPACES, VETH],
    ids=lambda table: table.title,
)
def test_every_key_has_a_description(table: Table) -> None:
    undocumented = [key.name for key in table.keys if not describe(key)]
    assert undocumented == []


def test_descriptions_come_from_the_spec_field_docstrings() -> None:
    assert attribute_docs(Program)["numprocs"] == "Number of instances."
    numprocs = PROGRAM.key("numprocs")
    assert numprocs is not None
    assert describe(numprocs) == "Number of instances."
    assert "| `numprocs` | an integer >= 1 | `1` | Number of instances. |" in render_reference()


def test_a_sandbox_alias_is_documented_by_the_field_it_fills() -> None:
    memory = SANDBOX.key("memory")
    assert memory is not None
    assert describe(memory) == (
        "Bytes; past it the kernel reclaims, then OOM-kills inside the cgroup. "
        "Alias of `cgroup.memory_max`: set one or the other."
    )
    assert "| `user` | a user of this machine: a name, or a uid (an integer >= 0) | unset |" in (
        render_reference()
    )
