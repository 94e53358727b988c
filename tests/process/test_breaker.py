"""CircuitBreaker: closed counts failures in a row, open refuses at once, half-open lets one
probe through (the pattern as Nygard's "Release It!" describes it, and as pybreaker and
resilience4j implement it); in a RetryPolicy it guards every try, so retries stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corral import (
    Backoff,
    CircuitBreaker,
    CircuitOpen,
    Command,
    CorralError,
    InvalidSpec,
    RetryPolicy,
)

FAIL = CorralError("the command failed")  # what the pure tests record; they run nothing


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> str:
    """The breaker's state now (a call, so the type checker does not carry one reading on)."""
    return breaker.state


def _breaker(clock: Clock, failures: int = 3) -> CircuitBreaker:
    return CircuitBreaker(failures=failures, reset_after=10, name="db", clock=clock)


def test_it_opens_after_failures_in_a_row_and_a_success_resets_the_count() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for error in (FAIL, FAIL, None, FAIL, FAIL):
        breaker.before()
        breaker.after(error)
    assert state(breaker) == "closed"
    assert breaker.streak == 2
    breaker.before()
    breaker.after(FAIL)
    assert state(breaker) == "open"
    clock.now += 4
    with pytest.raises(CircuitOpen, match=r"'db' is open after 3 failures in a row") as refused:
        breaker.before()
    assert refused.value.retry_in == pytest.approx(6.0)


def test_half_open_lets_one_probe_through_and_its_verdict_decides() -> None:
    clock = Clock()
    breaker = _breaker(clock, failures=1)
    breaker.before()
    breaker.after(FAIL)
    clock.now += 10
    assert state(breaker) == "half-open"
    breaker.before()  # the probe
    with pytest.raises(CircuitOpen, match="a probe is running"):
        breaker.before()  # everyone else, meanwhile
    breaker.after(FAIL)
    assert state(breaker) == "open"  # a failed probe opens it for another reset_after
    clock.now += 10
    breaker.before()
    breaker.after(None)
    assert state(breaker) == "closed"
    assert breaker.streak == 0


def test_an_abandoned_probe_frees_its_place() -> None:
    clock = Clock()
    breaker = _breaker(clock, failures=1)
    breaker.before()
    breaker.after(FAIL)
    clock.now += 10
    breaker.before()
    breaker.abandon()
    breaker.before()  # another probe may go


def test_retries_stop_once_the_breaker_opens_and_nothing_more_starts(tmp_path: Path) -> None:
    tries = tmp_path / "tries"
    failing = Command("sh", "-c", 'echo x >> "$0"; exit 1', str(tries))
    breaker = CircuitBreaker(failures=3, reset_after=3600)
    policy = RetryPolicy(attempts=10, backoff=Backoff(initial=0), breaker=breaker)
    with pytest.raises(CircuitOpen):
        failing.retry(policy).run()
    assert tries.read_text().count("x") == 3
    with pytest.raises(CircuitOpen):  # another command guarded by the same breaker
        Command("sh", "-c", 'echo x >> "$0"', str(tries)).retry(policy).run()
    assert tries.read_text().count("x") == 3


def test_the_async_twin_is_guarded_the_same_way(tmp_path: Path) -> None:
    tries = tmp_path / "tries"
    failing = Command("sh", "-c", 'echo x >> "$0"; exit 1', str(tries))
    breaker = CircuitBreaker(failures=2, reset_after=3600)
    command = failing.retry(attempts=5, backoff=Backoff(initial=0), breaker=breaker)
    with pytest.raises(CircuitOpen):
        asyncio.run(command.run_async())
    assert tries.read_text().count("x") == 2


def test_a_check_false_run_is_a_success_and_a_cancelled_one_no_verdict() -> None:
    breaker = CircuitBreaker(failures=1, reset_after=3600)
    assert Command("false").unchecked().retry(breaker=breaker).run().exit_code == 1
    assert state(breaker) == "closed"

    async def cancelled() -> None:
        task = asyncio.ensure_future(Command("sleep", "300").retry(breaker=breaker).run_async())
        await asyncio.sleep(0)  # the task takes its first step: the try has begun
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    assert state(breaker) == "closed"
    assert breaker.streak == 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidSpec, match="failures"):
        CircuitBreaker(failures=0)
    with pytest.raises(InvalidSpec, match="reset_after"):
        CircuitBreaker(reset_after=-1)
    with pytest.raises(InvalidSpec, match="breaker must be a CircuitBreaker"):
        RetryPolicy(breaker="db")  # type: ignore[arg-type]
