"""PURE: the states a supervised process goes through, and the decisions between them.

These are the states supervisord users know. A row of the transition table
(rows.py) leads to one state, or to one of a few chosen when the input arrives:
a `Decision`, named here so docs/states.md can say what picks the state.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = ["REST", "Decision", "InstanceState"]


class InstanceState(enum.Enum):
    """Where one instance of a program is in its life: the states supervisord users know."""

    STOPPED = "STOPPED"
    """Not running and not meant to be: never started, or stopped on request."""
    STARTING = "STARTING"
    """Spawned; it counts as started once it has stayed up for `start_seconds`, or, with
    `notify`, once it says it is ready, or, with a health check and no `notify`, once a
    probe passed."""
    RUNNING = "RUNNING"
    """Up for at least `start_seconds`, or, with `notify`, said it is ready, or passed a
    health probe."""
    BACKOFF = "BACKOFF"
    """Exited; waits out the backoff delay, then is started again."""
    STOPPING = "STOPPING"
    """Sent the stop signal; SIGKILL goes to its whole tree when `stop_timeout` passes."""
    EXITED = "EXITED"
    """Exited, and the restart policy says not to start it again."""
    FATAL = "FATAL"
    """Given up: it could not be spawned, or it hit the start limit; waits for a manual start."""


REST = frozenset({InstanceState.STOPPED, InstanceState.EXITED, InstanceState.FATAL})
"""States without a process and without a pending restart: what is left of a tree is swept."""


class Decision(enum.Enum):
    """A next state chosen when the input arrives, among a few."""

    SPAWN_OUTCOME = "spawn outcome"
    """RUNNING at once when `start_seconds` is 0 and there is no `notify` nor health
    check, else STARTING until the start timer fires, it says it is ready or a probe
    passes."""
    READINESS = "readiness"
    """RUNNING, unless it is already being ended as failed (then it stays STARTING)."""
    HEALTH = "health"
    """RUNNING at the first pass of a STARTING instance without `notify`; STARTING or
    RUNNING as it was otherwise; STOPPING when it turns unhealthy and `on_unhealthy` is
    "stop"."""
    RESTART = "restart decision"
    """BACKOFF if the policy restarts and the start limit allows; FATAL at the start limit;
    EXITED if the policy does not restart."""

    @property
    def states(self) -> tuple[InstanceState, ...]:
        """The states this decision can lead to."""
        return _DECISION_STATES[self]


_DECISION_STATES: Mapping[Decision, tuple[InstanceState, ...]] = {
    Decision.SPAWN_OUTCOME: (InstanceState.STARTING, InstanceState.RUNNING),
    Decision.RESTART: (InstanceState.BACKOFF, InstanceState.FATAL, InstanceState.EXITED),
    Decision.READINESS: (InstanceState.RUNNING, InstanceState.STARTING),
    Decision.HEALTH: (InstanceState.RUNNING, InstanceState.STARTING, InstanceState.STOPPING),
}
