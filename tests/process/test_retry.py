"""Retries: attempt counts, the exit-code filter, what never retries; Backoff as pure math."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import corral
from corral import Backoff, RetryPolicy
from corral._process import command as command_module
from corral._process.spawn import launch
from tests.helpers import argv
from tests.support.twins import Twin

NO_WAIT = Backoff(initial=0)


def attempts(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_a_failing_command_is_retried_until_it_succeeds(twin: Twin, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    result = twin.run(
        argv("attempt", str(counter), "3", "3", "0"),
        retry=RetryPolicy(attempts=5, backoff=NO_WAIT),
    )
    assert result.exit_code == 0
    assert attempts(counter) == 3


def test_retries_stop_after_the_last_attempt(twin: Twin, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    with pytest.raises(corral.ExitedNonZero) as caught:
        twin.run(argv("attempt", str(counter), "3"), retry=RetryPolicy(attempts=2, backoff=NO_WAIT))
    assert caught.value.exit_code == 3
    assert "attempt 2 exits 3" in str(caught.value)
    assert attempts(counter) == 2


def test_exit_codes_limit_which_failures_retry(twin: Twin, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    only_3 = RetryPolicy(attempts=3, backoff=NO_WAIT, exit_codes=frozenset({3}))
    with pytest.raises(corral.ExitedNonZero) as caught:
        twin.run(argv("attempt", str(counter), "4", "0"), retry=only_3)
    assert caught.value.exit_code == 4
    assert attempts(counter) == 1


def test_exit_codes_retry_a_listed_code(twin: Twin, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    only_4 = RetryPolicy(attempts=3, backoff=NO_WAIT, exit_codes=frozenset({4}))
    assert twin.run(argv("attempt", str(counter), "4", "0"), retry=only_4).exit_code == 0
    assert attempts(counter) == 2


def test_command_retry_builds_a_policy_from_fields(twin: Twin, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    command = corral.Command(*argv("attempt", str(counter), "1", "0")).retry(
        attempts=2, backoff=NO_WAIT
    )
    assert twin.run_command(command).exit_code == 0
    assert attempts(counter) == 2


def test_a_pipeline_is_retried_as_a_whole(twin: Twin, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    # The first stage prints nothing: a writer could die of SIGPIPE, as attempt.py never reads.
    pipeline = corral.Command(*argv("exit_with", "0")) | corral.Command(
        *argv("attempt", str(counter), "3", "0")
    )
    result = twin.run_pipeline(pipeline.retry(attempts=3, backoff=NO_WAIT))
    assert result.ok
    assert attempts(counter) == 2


def test_a_spawn_error_is_not_retried(
    twin: Twin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A spawn that fails leaves nothing behind to count, so count the calls of the one
    # spawn path (a spy that still calls the real launch, not a mock).
    calls: list[object] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return launch(*args, **kwargs)

    monkeypatch.setattr(command_module, "launch", counting)
    with pytest.raises(corral.BadWorkingDirectory):
        twin.run(
            argv("exit_with", "0"),
            cwd=tmp_path / "missing",
            retry=RetryPolicy(attempts=3, backoff=NO_WAIT),
        )
    assert len(calls) == 1


# -- pure: the policy and the backoff ----------------------------------------------


def failed(code: int | None, signal: str | None = None) -> corral.ProcessFailed:
    result = corral.Result(argv=("x",), pid=1, exit_code=code, signal_name=signal, duration=1.0)
    if signal is not None:
        return corral.KilledBySignal(result)
    return corral.ExitedNonZero(result)


def test_should_retry_counts_attempts() -> None:
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry(1, failed(1))
    assert policy.should_retry(2, failed(1))
    assert not policy.should_retry(3, failed(1))


def test_should_retry_never_retries_spawn_errors_by_default() -> None:
    error = corral.ExecutableNotFound(("x",), step="exec", errno=2, detail="missing")
    assert not RetryPolicy(attempts=3).should_retry(1, error)
    assert not RetryPolicy(attempts=3).should_retry(1, ValueError("not ours"))


def test_should_retry_follows_retry_on() -> None:
    error = corral.ExecutableNotFound(("x",), step="exec", errno=2, detail="missing")
    assert RetryPolicy(attempts=3, retry_on=(corral.SpawnError,)).should_retry(1, error)
    assert not RetryPolicy(attempts=3, retry_on=(corral.SpawnError,)).should_retry(1, failed(1))


def test_exit_codes_filter_only_exit_codes() -> None:
    policy = RetryPolicy(attempts=3, exit_codes=frozenset({75}))
    assert policy.should_retry(1, failed(75))
    assert not policy.should_retry(1, failed(1))
    assert policy.should_retry(1, failed(None, "SIGKILL"))  # a signal is not an exit code
    timed_out = corral.TimedOut(
        corral.Result(argv=("x",), pid=1, exit_code=None, signal_name="SIGTERM", duration=2.0),
        2.0,
    )
    assert policy.should_retry(1, timed_out)


def test_exit_codes_are_stored_as_a_frozenset() -> None:
    policy = RetryPolicy(exit_codes={1, 2})  # type: ignore[arg-type]
    assert policy.exit_codes == frozenset({1, 2})
    assert hash(policy) == hash(RetryPolicy(exit_codes=frozenset({1, 2})))


def test_policy_delay_is_the_backoff_delay() -> None:
    backoff = Backoff(initial=1, factor=3, max=100, jitter=0.5)
    policy = RetryPolicy(backoff=backoff)
    assert policy.delay(2, 0.25) == backoff.delay(2, 0.25)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 0.5), (1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0), (50, 5.0)],
)
def test_backoff_grows_by_the_factor_up_to_max(failures: int, expected: float) -> None:
    backoff = Backoff(initial=0.5, factor=2, max=5, jitter=0)
    assert backoff.delay(failures, 0.0) == pytest.approx(expected)
    assert backoff.delay(failures, 0.999) == pytest.approx(expected)


@pytest.mark.parametrize("failures", [1, 2, 3, 10])
def test_jitter_spreads_within_the_bounds(failures: int) -> None:
    backoff = Backoff(initial=1, factor=2, max=30, jitter=0.1)
    base = min(2.0 ** (failures - 1), 30)
    low, high = backoff.bounds(failures)
    assert low == pytest.approx(base * 0.9)
    assert high == pytest.approx(base * 1.1)
    assert backoff.delay(failures, 0.5) == pytest.approx(base)
    for rand in (0.0, 0.01, 0.3, 0.5, 0.77, 0.999):
        assert low <= backoff.delay(failures, rand) <= high


def test_a_zero_backoff_never_waits() -> None:
    assert NO_WAIT.bounds(1) == (0.0, 0.0)
    assert NO_WAIT.bounds(20) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"initial": -1}, "initial and max must be >= 0"),
        ({"max": -1}, "initial and max must be >= 0"),
        ({"factor": 0.5}, "factor must be >= 1"),
        ({"jitter": 1.5}, "jitter must be within 0..1"),
        ({"jitter": -0.1}, "jitter must be within 0..1"),
    ],
)
def test_invalid_backoffs_are_rejected(fields: dict[str, float], message: str) -> None:
    with pytest.raises(corral.InvalidSpec, match=message):
        Backoff(**fields)


def test_a_policy_needs_at_least_one_attempt() -> None:
    with pytest.raises(corral.InvalidSpec, match="attempts must be >= 1, got 0"):
        RetryPolicy(attempts=0)
