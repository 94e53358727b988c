"""The transition table as data: complete where it must be, and the docs generated from it."""

from __future__ import annotations

import contextlib
import io
import runpy
import warnings
from enum import Enum
from pathlib import Path

import pytest

from corral._supervisor.model import instance, states
from corral._supervisor.model.states import (
    TRANSITIONS,
    Decision,
    Handler,
    InputKind,
    InstanceState,
    Transition,
    render_markdown,
    transition,
)
from corral._supervisor.model.states_doc import attribute_docs

DOCS = Path(__file__).resolve().parents[3] / "docs" / "states.md"
REGENERATE = "python -m corral._supervisor.model.states > docs/states.md"


def test_docs_states_md_is_generated_from_the_current_table() -> None:
    assert DOCS.exists(), f"docs/states.md is missing; run `{REGENERATE}`"
    assert DOCS.read_text() == render_markdown(), f"docs/states.md is stale; run `{REGENERATE}`"


def test_running_the_module_prints_the_docs() -> None:
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        # runpy warns that the module is already imported (by this test); harmless here.
        warnings.simplefilter("ignore", RuntimeWarning)
        runpy.run_module("corral._supervisor.model.states", run_name="__main__")
    assert out.getvalue() == render_markdown()


def test_the_docs_show_every_state_input_and_row() -> None:
    text = render_markdown()
    for state in InstanceState:
        assert f"| `{state.name}` |" in text
    for kind in InputKind:
        assert f"| `{kind.value}` |" in text
    for row in TRANSITIONS:
        assert f"| {row.state.name} | `{row.input.value}` |" in text
        assert row.description in text
    assert "| STARTING | `ProcessExited` | BACKOFF, FATAL or EXITED |" in text


@pytest.mark.parametrize("enum_type", [InstanceState, InputKind, Decision, Handler])
def test_every_enum_member_has_an_attribute_docstring(enum_type: type[Enum]) -> None:
    docs = attribute_docs(enum_type)
    assert set(docs) == {member.name for member in enum_type}
    assert all(docs.values())


def test_state_values_are_their_names() -> None:
    assert [s.value for s in InstanceState] == [s.name for s in InstanceState]
    assert [s.name for s in InstanceState] == [
        "STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL",
    ]  # fmt: skip


def test_no_two_rows_share_a_state_and_an_input() -> None:
    keys = [(row.state, row.input) for row in TRANSITIONS]
    assert len(keys) == len(set(keys))


def test_a_table_with_a_duplicate_row_is_refused() -> None:
    with pytest.raises(RuntimeError, match="two transitions for STOPPED"):
        states._index((TRANSITIONS[0], TRANSITIONS[0]))


def test_every_state_can_be_started_and_stopped() -> None:
    for state in InstanceState:
        assert transition(state, InputKind.START).handler is not Handler.IGNORE
        assert transition(state, InputKind.STOP).handler is not Handler.IGNORE


def test_every_state_but_stopped_is_the_target_of_some_row() -> None:
    targets = {target for row in TRANSITIONS for target in row.targets if target != row.state}
    assert targets == set(InstanceState)


def test_a_pair_without_a_row_is_an_ignore_row_that_stays_put() -> None:
    row = transition(InstanceState.STOPPED, InputKind.EXITED)
    assert row == Transition(
        InstanceState.STOPPED, InputKind.EXITED, InstanceState.STOPPED, Handler.IGNORE, "ignored"
    )


def test_every_handler_has_a_function_in_the_machine() -> None:
    assert set(instance._HANDLERS) == set(Handler)


def test_every_handler_but_ignore_is_used_by_some_row() -> None:
    assert {row.handler for row in TRANSITIONS} == set(Handler) - {Handler.IGNORE}


def test_decisions_name_the_states_they_can_lead_to() -> None:
    assert Decision.SPAWN_OUTCOME.states == (InstanceState.STARTING, InstanceState.RUNNING)
    assert set(Decision.RESTART.states) == {
        InstanceState.BACKOFF,
        InstanceState.FATAL,
        InstanceState.EXITED,
    }
