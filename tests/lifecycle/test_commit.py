"""A transition is checked before anything changes: a refused result leaves the machine as it was.

The faulty handlers here are the only way to get a result the lifecycle's own rows
never produce; each sits in a copy of the real table, in place of one real row.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from corral._lifecycle import rows
from corral._lifecycle.fields import Fields, Next
from corral._lifecycle.machine import InstanceMachine
from corral._lifecycle.messages import (
    Input,
    KillTree,
    Spawned,
    StartRequested,
    TimerFired,
    kind_of,
    timer,
)
from corral._lifecycle.rows import TRANSITIONS
from corral._lifecycle.states import InstanceState
from corral._lifecycle.table import Handle, Table

from .harness import Harness, policy

S = InstanceState


def greedy(f: Fields, event: Input, now: float, rand: float) -> Next:
    """Changes every counter it can, then leads to FATAL, which no row here allows."""
    f = f._replace(restarts=f.restarts + 1, failures=9, pid=None, starts=(), last_token=99)
    return Next(f._replace(state=S.FATAL), (), "gave up for no reason")


def loud(f: Fields, event: Input, now: float, rand: float) -> Next:
    """Confirms the start as the real row does, but also emits an action its row does not list."""
    return Next(f._replace(state=S.RUNNING, failures=0), (KillTree(),), "running, and a kill")


def _machine_with(state: InstanceState, kind: object, handler: Handle) -> InstanceMachine:
    """A machine on the real table, but with the row for (state, kind) bound to `handler`."""
    table = Table(ignore=rows.ignore)
    for row in TRANSITIONS:
        swapped = (row.state, row.input) == (state, kind)
        table.add(replace(row, handler=handler) if swapped else row)
    return InstanceMachine("web:0", policy(), 10, table=table)


def _starting(machine: InstanceMachine) -> Harness:
    h = Harness(machine)
    h.feed(StartRequested())
    h.feed(Spawned(4121), after=0.5)
    assert h.timer is not None
    assert machine.fields.timer is not None
    return h


def test_a_handler_leading_outside_its_row_changes_nothing() -> None:
    h = _starting(_machine_with(S.STARTING, timer("start"), greedy))
    before = h.machine.fields
    assert h.timer is not None
    with pytest.raises(RuntimeError, match="greedy led to FATAL, not RUNNING"):
        h.machine.apply(TimerFired("start", h.timer.token), 2.0)
    assert h.machine.fields is before, "nothing committed: the same record, timer still armed"
    assert repr(h.machine) == "<Instance web:0 STARTING pid=4121 restarts=0>"
    assert (h.machine.since, h.machine.failures) == (0.0, 0)


def test_after_a_refused_input_the_machine_goes_on_from_where_it_was() -> None:
    h = _starting(_machine_with(S.STARTING, kind_of(StartRequested), greedy))
    with pytest.raises(RuntimeError, match="greedy led to FATAL, not STARTING"):
        h.feed(StartRequested())
    step = h.fire()  # the start timer armed before the refused input still counts
    assert (step.old, step.new, step.ignored) == (S.STARTING, S.RUNNING, False)


def test_a_handler_emitting_an_action_its_row_does_not_list_changes_nothing() -> None:
    h = _starting(_machine_with(S.STARTING, timer("start"), loud))
    before = h.machine.fields
    assert h.timer is not None
    with pytest.raises(RuntimeError, match="loud emitted KillTree, which its row does not list"):
        h.machine.apply(TimerFired("start", h.timer.token), 2.0)
    assert h.machine.fields is before
    assert h.machine.state is S.STARTING
