"""PURE: decide whether a finished process (or pipeline) is a success or which error it is.

Shared by the sync and async twins so their verdicts cannot drift. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from corral._errors import (
    ExitedNonZero,
    ExitStatusUnknown,
    FinishedProcess,
    KilledBySignal,
    ProcessFailed,
    TimedOut,
)
from corral._process.result import Result


def stage_failed(result: Result, ok_codes: frozenset[int]) -> bool:
    """Whether one process's ending counts as failure (an unknown status always does)."""
    return (
        result.status_unknown or result.signal_name is not None or result.exit_code not in ok_codes
    )


def pipefail(stages: Sequence[Result], ok_codes: Sequence[frozenset[int] | None]) -> int | None:
    """Index of the rightmost failed stage (bash `pipefail`), or None if all succeeded.

    `ok_codes[i]` are stage i's accepted exit codes; None marks an unchecked stage,
    whose ending never fails the pipeline (duct's per-expression `unchecked`).
    """
    for index in range(len(stages) - 1, -1, -1):
        accepted = ok_codes[index]
        if accepted is not None and stage_failed(stages[index], accepted):
            return index
    return None


def verdict(
    result: FinishedProcess,
    *,
    failed: bool,
    timed_out: bool,
    timeout: float | None,
    check: bool,
) -> ProcessFailed | None:
    """The error to raise for this outcome, or None.

    A timeout is always an error (the caller asked for a bound and it was hit);
    a failed exit or a signal is an error only when `check` is on.
    """
    if timed_out:
        return TimedOut(result, timeout if timeout is not None else 0.0)
    if not check or not failed:
        return None
    if result.status_unknown:
        return ExitStatusUnknown(result)
    if result.signal_name is not None:
        return KilledBySignal(result)
    return ExitedNonZero(result)
