"""Conditions and durations as written in a config; log patterns found in chunks."""

from __future__ import annotations

import pytest

from corral._observe.alerts.logmatch import CARRY_MAX, LogMatcher
from corral._observe.alerts.rules import parse_condition, parse_duration


@pytest.mark.parametrize(
    ("text", "subject", "op", "threshold", "metric"),
    [
        ("cpu > 90%", "cpu", ">", 90.0, "cpu"),
        ("memory > 512M", "memory", ">", 512 * 2**20, "memory"),
        ("memory >= 1GiB", "memory", ">=", 2**30, "memory"),
        ("memory_percent > 80", "memory_percent", ">", 80.0, "memory_percent"),
        ("processes < 2", "processes", "<", 2.0, "processes"),
        ("fds <= 1000", "fds", "<=", 1000.0, "fds"),
        ("restarts > 3 in 60s", "restarts", ">", 3.0, "restarts/60"),
    ],
)
def test_metric_conditions(text: str, subject: str, op: str, threshold: float, metric: str) -> None:
    condition = parse_condition(text)
    assert (condition.subject, condition.op, condition.threshold) == (subject, op, threshold)
    assert condition.metric == metric
    assert condition.lasting


def test_state_health_exit_and_log_conditions() -> None:
    assert parse_condition("state == FATAL").value == "FATAL"
    assert parse_condition("health == unhealthy").lasting
    assert parse_condition("exit == OOM").value == "oom"
    assert parse_condition("exit == kill").value == "SIGKILL"
    log = parse_condition("stderr ~ ^ERROR .*")
    assert (log.subject, log.value, log.lasting) == ("stderr", "^ERROR .*", False)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("disk > 5", "unknown metric 'disk'"),
        ("memory > lots", "a size to compare memory with"),
        ("cpu = 5", "an operator after 'cpu'"),
        ("cpu == 5", "a comparison > >= < <= for cpu"),
        ("restarts > 3", "restarts > N in DURATION"),
        ("state > FATAL", "state == VALUE"),
        ("log ~ (", "a valid regular expression"),
        ("", "a condition such as"),
    ],
)
def test_bad_conditions_say_what_was_expected(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        parse_condition(text)


def test_durations() -> None:
    assert [parse_duration(t) for t in ("60s", "5m", "1h", "500ms", "2", 3)] == [
        60, 300, 3600, 0.5, 2, 3,
    ]  # fmt: skip
    with pytest.raises(ValueError, match="a duration"):
        parse_duration("soon")


def test_a_pattern_matches_complete_lines_even_across_reads() -> None:
    matcher = LogMatcher([(0, "^ERROR"), (1, "Traceback")])
    assert matcher.feed(b"ok\nERR") == []
    assert matcher.feed(b"OR disk full\nTrace") == [(0, "ERROR disk full")]
    assert matcher.feed(b"back (most recent call last):") == []
    assert matcher.flush() == [(1, "Traceback (most recent call last):")]


def test_a_partial_line_is_kept_to_a_bound() -> None:
    matcher = LogMatcher([(0, "^x")])
    matcher.feed(b"x" + b"y" * (CARRY_MAX * 4))
    assert matcher.feed(b"\n") == []  # the line's start was cut off
    assert matcher.feed(b"xx\n") == [(0, "xx")]
