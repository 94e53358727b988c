"""The [metrics] table: defaults, values, and errors naming file, line and key."""

from __future__ import annotations

import pytest

from corral._errors import InvalidSpec
from corral._supervisor.config.settings import MetricsSettings
from tests.supervisor.config.parsing import FILE, config_error, parse


def test_without_the_table_sampling_is_on_every_5_seconds_keeping_120_samples() -> None:
    assert parse("[programs.web]", "command = ['true']").metrics == MetricsSettings(
        interval=5.0, history=120
    )


def test_the_table_sets_interval_and_history() -> None:
    config = parse("[metrics]", "interval = 0.5", "history = 600")
    assert config.metrics == MetricsSettings(interval=0.5, history=600)


def test_interval_zero_turns_sampling_off() -> None:
    assert parse("[metrics]", "interval = 0").metrics.interval == 0


def test_an_interval_below_a_tenth_of_a_second_is_refused() -> None:
    error = config_error("[metrics]", "interval = 0.01")
    assert (error.file, error.line, error.key) == (FILE, 2, "metrics.interval")
    assert error.expected == "0 (off) or at least 0.1 seconds"


def test_a_negative_interval_is_refused() -> None:
    error = config_error("[metrics]", "interval = -1")
    assert (error.line, error.key) == (2, "metrics.interval")
    assert error.expected == "seconds >= 0"


def test_history_must_be_a_positive_whole_number() -> None:
    error = config_error("[metrics]", "interval = 1", "history = 0")
    assert (error.line, error.key) == (3, "metrics.history")
    assert "from 1 to 1000000" in error.expected


def test_a_misspelt_key_gets_a_did_you_mean() -> None:
    error = config_error("[metrics]", "intervall = 2")
    assert (error.line, error.key) == (2, "metrics.intervall")
    assert error.hint == "did you mean interval?"


def test_a_bad_metrics_table_and_a_bad_program_are_both_reported() -> None:
    error = config_error("[metrics]", "history = 'lots'", "[programs.web]", "numprocs = 0")
    keys = [error.key, *(more.key for more in error.more)]
    assert "metrics.history" in keys
    assert any(key and key.startswith("programs.web") for key in keys)


def test_the_settings_object_refuses_bad_values_itself() -> None:
    with pytest.raises(InvalidSpec, match="interval must be 0"):
        MetricsSettings(interval=0.01)
    with pytest.raises(InvalidSpec, match="history must be at least 1"):
        MetricsSettings(history=0)
