"""PURE: a transition table whose rows are bound to the functions that carry them out.

A row says: in `state`, on an input of `kind`, run `handler`, which leads to `to` (a
state, or a `Decision` among a few) and may emit `actions`. Rows are declared by
decorating the handler (`@table.row(...)`, see rows.py), so a new transition is one
edit next to the code that does it. A sealed table refuses new rows and has checked
itself: no two rows for one (state, input), and every state reachable. A (state,
input) pair with no row gets an ignore row: nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from corral._lifecycle.fields import Fields, Next
from corral._lifecycle.messages import INPUT_KINDS, Action, Input, InputKind, kind_of
from corral._lifecycle.states import Decision, InstanceState

__all__ = ["Handle", "Table", "Transition"]

Handle: TypeAlias = Callable[[Fields, Any, float, float], Next]
"""A row's handler: (fields, input, now, rand) -> Next. The row's key fixes the input's
class, so each handler annotates the one it gets."""

H = TypeVar("H", bound=Callable[..., Next])

_STATE_ORDER = {state: n for n, state in enumerate(InstanceState)}
_INPUT_ORDER = {kind: n for n, kind in enumerate(INPUT_KINDS)}


@dataclass(frozen=True, slots=True)
class Transition:
    """One row: in `state`, on `input`, run `handler`, which leads to `to`."""

    state: InstanceState
    """The state the row applies in."""
    input: InputKind
    """The kind of input the row reacts to."""
    to: InstanceState | Decision
    """The next state, or the decision that picks it."""
    handler: Handle
    """The function that computes the next fields and the actions."""
    description: str
    """One line for docs/states.md."""
    actions: tuple[type[Action], ...] = ()
    """Every kind of action the row may emit, in order; the machine refuses any other."""

    @property
    def targets(self) -> tuple[InstanceState, ...]:
        """Every state this row can lead to."""
        return self.to.states if isinstance(self.to, Decision) else (self.to,)


class Table:
    """The rows of one state machine, keyed by (state, input kind)."""

    __slots__ = ("_ignore", "_initial", "_rows", "_sealed")

    def __init__(self, *, ignore: Handle, initial: InstanceState = InstanceState.STOPPED) -> None:
        self._ignore = ignore
        self._initial = initial
        self._rows: dict[tuple[InstanceState, InputKind], Transition] = {}
        self._sealed = False

    def row(
        self,
        state: InstanceState,
        on: type[Input] | InputKind,
        to: InstanceState | Decision,
        description: str,
        *,
        actions: tuple[type[Action], ...] = (),
    ) -> Callable[[H], H]:
        """A decorator: the function it decorates carries out this row (stack one per row)."""
        kind = on if isinstance(on, InputKind) else kind_of(on)

        def bind(handler: H) -> H:
            self.add(Transition(state, kind, to, handler, description, actions))
            return handler

        return bind

    def add(self, row: Transition) -> None:
        """Add one row; a second row for the same (state, input) is refused."""
        if self._sealed:
            raise RuntimeError("the table is sealed; rows are declared where it is built")
        key = (row.state, row.input)
        if key in self._rows:
            raise RuntimeError(f"two transitions for {row.state.name} + {row.input.name}")
        self._rows[key] = row

    def seal(self) -> Table:
        """Check the table and refuse rows from now on: every state but the first is reachable."""
        unreached = set(InstanceState) - {self._initial} - _entered(self._rows.values())
        if unreached:
            names = ", ".join(sorted(state.name for state in unreached))
            raise RuntimeError(f"no row leads to {names}")
        self._sealed = True
        return self

    @property
    def rows(self) -> tuple[Transition, ...]:
        """Every row, by state, then by input, in the order of their declarations."""
        order = sorted(self._rows, key=lambda k: (_STATE_ORDER[k[0]], _INPUT_ORDER[k[1]]))
        return tuple(self._rows[key] for key in order)

    def __contains__(self, key: tuple[InstanceState, InputKind]) -> bool:
        return key in self._rows

    def transition(self, state: InstanceState, kind: InputKind) -> Transition:
        """The row for `kind` in `state`; a pair with no row gets an ignore row (no change)."""
        row = self._rows.get((state, kind))
        return row if row is not None else Transition(state, kind, state, self._ignore, "ignored")


def _entered(rows: Iterable[Transition]) -> set[InstanceState]:
    """The states some row leads to from another state."""
    return {target for row in rows for target in row.targets if target is not row.state}
