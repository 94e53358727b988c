"""The transition table as data: complete where it must be, and the docs generated from it."""

from __future__ import annotations

import contextlib
import inspect
import io
import runpy
import warnings
from enum import Enum
from pathlib import Path

import pytest

from corral._docstrings import attribute_docs
from corral._lifecycle import rows
from corral._lifecycle.doc import REGENERATE, render_markdown
from corral._lifecycle.messages import (
    ACTIONS,
    INPUT_KINDS,
    ProcessExited,
    StartRequested,
    StopRequested,
    TimerFired,
    input_kind,
    kind_of,
    timer,
)
from corral._lifecycle.rows import TRANSITIONS, transition
from corral._lifecycle.states import Decision, InstanceState
from corral._lifecycle.table import Table, Transition

DOCS = Path(__file__).resolve().parents[2] / "docs" / "states.md"
START, STOP = kind_of(StartRequested), kind_of(StopRequested)


def test_docs_states_md_is_generated_from_the_current_table() -> None:
    assert REGENERATE == "python -m corral._lifecycle.doc > docs/states.md"
    assert DOCS.exists(), f"docs/states.md is missing; run `{REGENERATE}`"
    assert DOCS.read_text() == render_markdown(), f"docs/states.md is stale; run `{REGENERATE}`"


def test_running_the_module_prints_the_docs() -> None:
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        # runpy warns that the module is already imported (by this test); harmless here.
        warnings.simplefilter("ignore", RuntimeWarning)
        runpy.run_module("corral._lifecycle.doc", run_name="__main__")
    assert out.getvalue() == render_markdown()


def test_the_docs_show_every_state_input_action_and_row() -> None:
    text = render_markdown()
    for state in InstanceState:
        assert f"| `{state.name}` |" in text
    for kind in INPUT_KINDS:
        assert f"| `{kind.name}` | {kind.meaning} |" in text
    for action in ACTIONS:
        assert f"| `{action.__name__}` |" in text
    for row in TRANSITIONS:
        assert f"| {row.state.name} | `{row.input.name}` |" in text
        assert row.description in text
    assert "| STARTING | `ProcessExited` | BACKOFF, FATAL or EXITED |" in text
    assert "| KillGroup, CancelTimer, ArmTimer, Sweep |" in text


@pytest.mark.parametrize("enum_type", [InstanceState, Decision])
def test_every_enum_member_has_an_attribute_docstring(enum_type: type[Enum]) -> None:
    docs = attribute_docs(enum_type)
    assert set(docs) == {member.name for member in enum_type}
    assert all(docs.values())


def test_every_input_kind_and_action_has_a_meaning() -> None:
    assert [kind.name for kind in INPUT_KINDS] == [
        "StartRequested", "StopRequested", "Spawned", "SpawnFailed", "ProcessExited",
        "NotifiedReady", "NotifiedReloading", "NotifiedStopping", "WatchdogPing",
        "TimeoutExtended", "ProbeFinished", "TimerFired(start)", "TimerFired(backoff)",
        "TimerFired(stop)", "TimerFired(ready)", "TimerFired(watchdog)",
    ]  # fmt: skip
    assert all(kind.meaning for kind in INPUT_KINDS)
    assert all(inspect.getdoc(action) for action in ACTIONS)


def test_an_input_kind_comes_from_its_class_and_for_a_timer_its_kind() -> None:
    assert input_kind(StartRequested()) is kind_of(StartRequested)
    assert input_kind(ProcessExited(0, None)).name == "ProcessExited"
    assert input_kind(TimerFired("stop", 3)) is timer("stop")
    assert kind_of(StartRequested).meaning == "A user, or autostart, asks for the instance to run."


def test_state_values_are_their_names() -> None:
    assert [s.value for s in InstanceState] == [s.name for s in InstanceState]
    assert [s.name for s in InstanceState] == [
        "STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL",
    ]  # fmt: skip


def test_no_two_rows_share_a_state_and_an_input() -> None:
    keys = [(row.state, row.input) for row in TRANSITIONS]
    assert len(keys) == len(set(keys))


def test_a_table_with_a_duplicate_row_is_refused() -> None:
    table = Table(ignore=rows.ignore)
    table.add(TRANSITIONS[0])
    with pytest.raises(RuntimeError, match="two transitions for STOPPED"):
        table.add(TRANSITIONS[0])


def test_a_table_with_a_state_no_row_leads_to_cannot_be_sealed() -> None:
    table = Table(ignore=rows.ignore)
    table.add(TRANSITIONS[0])  # STOPPED -> STARTING, and nothing further
    with pytest.raises(RuntimeError, match="no row leads to BACKOFF, EXITED, FATAL"):
        table.seal()


def test_a_sealed_table_takes_no_more_rows() -> None:
    with pytest.raises(RuntimeError, match="sealed"):
        rows.LIFECYCLE.row(InstanceState.FATAL, ProcessExited, InstanceState.FATAL, "x")(
            rows.ignore
        )


def test_rows_are_listed_by_state_then_input() -> None:
    order = [(list(InstanceState).index(r.state), INPUT_KINDS.index(r.input)) for r in TRANSITIONS]
    assert order == sorted(order)
    assert len(TRANSITIONS) == 24 + 11 + 2  # + readiness (ready, reload, stop, extend,
    # watchdog) + health (a probe result in STARTING and in RUNNING)


def test_every_state_can_be_started_and_stopped() -> None:
    for state in InstanceState:
        assert transition(state, START).handler is not rows.ignore
        assert transition(state, STOP).handler is not rows.ignore


def test_every_state_but_stopped_is_the_target_of_some_row() -> None:
    targets = {target for row in TRANSITIONS for target in row.targets if target != row.state}
    assert targets == set(InstanceState)


def test_a_pair_without_a_row_is_an_ignore_row_that_stays_put() -> None:
    exited = kind_of(ProcessExited)
    row = transition(InstanceState.STOPPED, exited)
    assert row == Transition(
        InstanceState.STOPPED, exited, InstanceState.STOPPED, rows.ignore, "ignored"
    )


def test_every_row_is_bound_to_a_documented_handler_of_the_table() -> None:
    for row in TRANSITIONS:
        assert getattr(rows, row.handler.__name__) is row.handler
        assert inspect.getdoc(row.handler)


def test_every_action_is_emitted_by_some_row_and_every_input_has_a_row() -> None:
    assert {action for row in TRANSITIONS for action in row.actions} == set(ACTIONS)
    assert {row.input for row in TRANSITIONS} == set(INPUT_KINDS)


def test_decisions_name_the_states_they_can_lead_to() -> None:
    assert Decision.SPAWN_OUTCOME.states == (InstanceState.STARTING, InstanceState.RUNNING)
    assert set(Decision.RESTART.states) == {
        InstanceState.BACKOFF,
        InstanceState.FATAL,
        InstanceState.EXITED,
    }
