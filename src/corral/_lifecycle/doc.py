"""Render docs/states.md from the lifecycle table: `python -m corral._lifecycle.doc`.

The meanings come from the code: attribute docstrings of the enum members (read from
the source with `ast`), the docstrings of the input and action classes, and each
row's description, so the code holds the only copy of the text. This is the one
module of the lifecycle that reads a file (the source); only the docs generator and
its freshness test call it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

from corral._docstrings import attribute_docs
from corral._lifecycle.messages import ACTIONS, INPUT_KINDS, Action, InputKind
from corral._lifecycle.rows import TRANSITIONS
from corral._lifecycle.states import Decision, InstanceState
from corral._lifecycle.table import Transition

__all__ = ["REGENERATE", "render", "render_markdown"]

REGENERATE = "python -m corral._lifecycle.doc > docs/states.md"
"""The command that writes docs/states.md (the freshness test quotes it)."""

_HEADER = f"""\
<!-- GENERATED from src/corral/_lifecycle/rows.py; do not edit.
     Regenerate: {REGENERATE} -->

# Instance states

Each instance of a program (`web:0`, `web:1`, ...) is in exactly one of these
states. Only `InstanceMachine.apply` changes it, by a row of the table below, and
each change comes with the actions the runtime carries out (spawn, arm or cancel
a timer, send the stop signal, SIGKILL the tree or the group, sweep) and a reason
for the event log. The runtime does nothing beside them: every policy is an action
of some row. Inputs are applied one at a time, and all the actions of one input
are carried out before the next input is applied.
"""

_IGNORED = """\
Any other (state, input) pair is ignored: nothing changes and the step's reason
notes the input (an exit when there is no process, a timer in a state that arms
none). A timer whose token is not the one most recently armed is ignored the same
way, so a late timer can never act on a newer start or stop.
"""

_RULES = """\
## Rules

- **Expected exit**: no signal, not OOM-killed, and the exit code is in
  `exit_codes`. `restart = "always"` restarts after any exit of a RUNNING
  instance, `"on-failure"` only after an unexpected one, `"never"` never.
- **Failed start**: an exit while STARTING. It adds one to the consecutive
  failures (reset to 0 on reaching RUNNING) and restarts unless `restart` is
  `"never"`, whatever the exit code.
- **Backoff**: the delay before a restart is `backoff.delay(failures or 1, rand)`,
  where `failures` counts the consecutive failed starts: `initial * factor **
  (failures - 1)`, capped at `max`, spread by `jitter`.
- **Start limit**: before each automatic restart, the starts (manual and
  automatic) within the last `start_limit.interval` seconds are counted; at
  `start_limit.burst` or more the instance goes FATAL instead. An interval of 0
  disables the limit.
- **Manual start** from STOPPED, EXITED or FATAL resets the consecutive failures
  and the start-limit window. From BACKOFF it only skips the wait. Starting a
  RUNNING instance succeeds without acting (as stopping a stopped one does);
  starting a STARTING or STOPPING one is rejected, because its outcome is not
  known yet.
- **Stop** sends the program's stop signal to the whole tree and SIGKILLs the tree
  `stop_timeout` seconds later if it is still there (at once when it is 0).
- **Root exit**: when the program's process exits, whatever comes next, its
  process group gets SIGKILL (`KillGroup`): what it left in its group dies with it.
- **Rest and backoff**: every row into STOPPED, EXITED, FATAL or BACKOFF has
  `Sweep`, which kills what is left of the last tree (strays outside the group
  too) and lets it go, so a restart never leaves the old tree's strays running.
"""


def render_markdown() -> str:
    """The whole text of docs/states.md, generated from the lifecycle table."""
    return render(InstanceState, INPUT_KINDS, ACTIONS, Decision, TRANSITIONS)


def render(
    states: type[InstanceState],
    inputs: Sequence[InputKind],
    actions: Sequence[type[Action]],
    decisions: type[Decision],
    rows: Sequence[Transition],
) -> str:
    """The whole text of docs/states.md."""
    parts = [
        _HEADER,
        _table(("State", "Meaning"), _members(states)),
        "## Inputs\n",
        _table(("Input", "Meaning"), [(f"`{kind.name}`", kind.meaning) for kind in inputs]),
        "## Actions\n",
        _table(("Action", "What the runtime does"), _action_cells(actions)),
        "## Transitions\n",
        _table(("From", "Input", "To", "What happens", "Actions"), _transition_cells(rows)),
        _IGNORED,
        "## Decisions\n",
        _table(("Decision", "Leads to", "How"), _decision_cells(decisions)),
        _RULES,
    ]
    return "\n".join(parts)


def _members(cls: type[enum.Enum]) -> list[tuple[str, ...]]:
    docs = attribute_docs(cls)
    return [(f"`{member.value}`", docs[member.name]) for member in cls]


def _action_cells(actions: Sequence[type[Action]]) -> list[tuple[str, ...]]:
    return [(f"`{cls.__name__}`", _first_paragraph(cls.__doc__)) for cls in actions]


def _transition_cells(rows: Sequence[Transition]) -> list[tuple[str, ...]]:
    cells: list[tuple[str, ...]] = []
    for row in rows:
        done = ", ".join(cls.__name__ for cls in row.actions) or "none"
        cells.append(
            (row.state.name, f"`{row.input.name}`", _either(row.targets), row.description, done)
        )
    return cells


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").split("\n\n", 1)[0].split())


def _decision_cells(decisions: type[Decision]) -> list[tuple[str, ...]]:
    docs = attribute_docs(decisions)
    return [(str(d.value), _either(d.states), docs[d.name]) for d in decisions]


def _either(states: Sequence[InstanceState]) -> str:
    names = [state.name for state in states]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> str:
    lines = [_line(header), _line(tuple("---" for _ in header))]
    lines += [_line(row) for row in rows]
    return "\n".join(lines) + "\n"


def _line(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_markdown())
