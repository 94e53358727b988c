"""Signal names and numbers, both ways, with a "did you mean" for typos."""

from __future__ import annotations

import signal

import pytest

from corral._errors import InvalidSpec
from corral._platform import parse_signal, signal_name


@pytest.mark.parametrize("spelling", ["TERM", "SIGTERM", "term", "SigTerm", " TERM ", 15])
def test_every_spelling_of_a_signal_parses(spelling: str | int) -> None:
    assert parse_signal(spelling) is signal.SIGTERM


def test_a_signals_member_parses_to_itself() -> None:
    assert parse_signal(signal.SIGUSR2) is signal.SIGUSR2


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("TREM", "TERM"), ("KIL", "KILL"), ("sigint2", "INT"), ("HUPP", "HUP"), ("CHILD", "CHLD")],
)
def test_a_typo_gets_a_suggestion(typo: str, suggestion: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_signal(typo)
    assert str(caught.value) == f"unknown signal name {typo!r}; did you mean {suggestion}?"


def test_nonsense_gets_no_suggestion() -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_signal("qwxz")
    assert str(caught.value) == "unknown signal name 'qwxz'"


@pytest.mark.parametrize("number", [0, -1, 9999])
def test_an_unknown_number_is_invalid(number: int) -> None:
    with pytest.raises(InvalidSpec, match=f"unknown signal number {number}"):
        parse_signal(number)


def test_signal_names_of_numbers() -> None:
    assert signal_name(9) == "SIGKILL"
    assert signal_name(int(signal.SIGUSR1)) == "SIGUSR1"
    assert signal_name(200) == "signal 200"
