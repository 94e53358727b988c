"""A scale is kept while the config's numprocs is what it replaced; targets are programs only."""

from __future__ import annotations

import pytest

from corral._errors import InvalidSpec, UnknownTarget
from corral._process.spec import ProcessSpec
from corral._supervisor.model.program import Program
from corral._supervisor.model.scale import MAX_INSTANCES, Scaled, apply_scales, check_count
from corral._supervisor.model.targets import resolve_program


def _programs(**numprocs: int) -> dict[str, Program]:
    spec = ProcessSpec(argv=("sleep", "1"))
    return {name: Program(name=name, process=spec, numprocs=n) for name, n in numprocs.items()}


def test_a_scale_applies_while_numprocs_is_still_its_base() -> None:
    programs, kept = apply_scales(_programs(web=2, db=1), {"web": Scaled(5, 2)})
    assert (programs["web"].numprocs, programs["db"].numprocs) == (5, 1)
    assert kept == {"web": Scaled(5, 2)}


def test_a_config_that_changed_numprocs_or_dropped_the_program_ends_the_scale() -> None:
    scales = {"web": Scaled(5, 2), "gone": Scaled(3, 1)}
    programs, kept = apply_scales(_programs(web=3), scales)
    assert programs["web"].numprocs == 3
    assert kept == {}


@pytest.mark.parametrize("count", [0, -1, MAX_INSTANCES + 1, True, 2.0])
def test_a_count_must_be_a_whole_number_in_bounds(count: object) -> None:
    with pytest.raises(InvalidSpec, match=f"from 1 to {MAX_INSTANCES}"):
        check_count(count)


@pytest.mark.parametrize(
    ("target", "says"),
    [
        (
            "web:0",
            "scale takes a program, not an instance ('web:0'): name one program, such as 'web'",
        ),
        ("web:*", "not an instance ('web:*')"),
        ("all", "scale takes a program, not all ('all')"),
    ],
)
def test_a_program_operation_refuses_instances_and_all(target: str, says: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        resolve_program(target, "scale", _programs(web=2))
    assert says in str(caught.value)


def test_an_unknown_program_gets_a_did_you_mean() -> None:
    with pytest.raises(UnknownTarget, match="did you mean 'web'"):
        resolve_program("wbe", "scale", _programs(web=2))
