"""Targets: "all", "web", "web:*", "web:0" name instances; anything else says what was meant."""

from __future__ import annotations

import re

import pytest

from corral._errors import CorralError, UnknownTarget
from corral._process.spec import ProcessSpec
from corral._supervisor.model.program import Program
from corral._supervisor.model.targets import resolve_targets


def programs(**numprocs: int) -> dict[str, Program]:
    return {
        name: Program(name=name, process=ProcessSpec(argv=("sleep", "1")), numprocs=count)
        for name, count in numprocs.items()
    }


PROGRAMS = programs(web=2, worker=3, api=1)


def test_all_names_every_instance_in_program_order() -> None:
    assert resolve_targets(["all"], PROGRAMS) == [
        "web:0", "web:1", "worker:0", "worker:1", "worker:2", "api:0",
    ]  # fmt: skip


@pytest.mark.parametrize("target", ["worker", "worker:*"])
def test_a_program_names_all_its_instances(target: str) -> None:
    assert resolve_targets([target], PROGRAMS) == ["worker:0", "worker:1", "worker:2"]


def test_an_instance_names_itself() -> None:
    assert resolve_targets(["worker:1"], PROGRAMS) == ["worker:1"]


def test_results_are_in_program_order_and_each_name_once() -> None:
    targets = ["api", "web:1", "web", "api:0"]
    assert resolve_targets(targets, PROGRAMS) == ["web:0", "web:1", "api:0"]


def test_no_targets_name_nothing() -> None:
    assert resolve_targets([], PROGRAMS) == []


def test_all_means_everything_even_beside_a_program_named_all() -> None:
    assert resolve_targets(["all"], programs(all=1, web=1)) == ["all:0", "web:0"]


def test_an_unknown_program_suggests_a_close_name_and_lists_the_programs() -> None:
    with pytest.raises(UnknownTarget) as caught:
        resolve_targets(["web", "wrker"], PROGRAMS)
    error = caught.value
    assert isinstance(error, CorralError)
    assert error.target == "wrker"
    assert error.suggestions[0] == "worker"
    assert str(error).startswith("no program or instance named 'wrker'; did you mean 'worker'")
    assert str(error).endswith("? (programs: web, worker, api)")


@pytest.mark.parametrize(
    "target", ["web:2", "web:", "web:x", "web:00", "api:-1", "web:+1", "web:\u0661", "web: 1"]
)
def test_an_instance_index_out_of_range_is_unknown(target: str) -> None:
    # Only the exact decimal name: "web:\u0661" is a digit to str.isdigit and to int().
    with pytest.raises(UnknownTarget, match=re.escape(f"no program or instance named '{target}'")):
        resolve_targets([target], PROGRAMS)


def test_an_unknown_instance_suggests_real_instances() -> None:
    with pytest.raises(UnknownTarget) as caught:
        resolve_targets(["web:2"], PROGRAMS)
    assert "web:0" in caught.value.suggestions
    assert set(caught.value.suggestions) <= {"all", *PROGRAMS, *resolve_targets(["all"], PROGRAMS)}


def test_a_name_far_from_everything_gets_no_suggestion() -> None:
    with pytest.raises(UnknownTarget) as caught:
        resolve_targets(["zzzzzz"], PROGRAMS)
    assert caught.value.suggestions == ()
    assert str(caught.value) == "no program or instance named 'zzzzzz' (programs: web, worker, api)"


def test_many_programs_are_not_listed() -> None:
    many = programs(**{f"p{i}": 1 for i in range(30)})
    with pytest.raises(UnknownTarget) as caught:
        resolve_targets(["nope"], many)
    assert "programs:" not in str(caught.value)
    assert len(caught.value.known) == 30


def test_with_no_programs_the_message_says_so() -> None:
    with pytest.raises(UnknownTarget, match=r"\(no programs are configured\)$"):
        resolve_targets(["web"], {})
