"""Reload as a pure diff: programs compared by value, listed in start order."""

from __future__ import annotations

from dataclasses import replace

from corral._lifecycle.policy import RestartPolicy
from corral._process.spec import ProcessSpec
from corral._supervisor.model.program import Program
from corral._supervisor.model.reload import ReloadPlan, diff_programs


def program(name: str, *argv: str, priority: int = 999, numprocs: int = 1) -> Program:
    spec = ProcessSpec(argv=argv or ("sleep", "60"))
    return Program(name=name, process=spec, priority=priority, numprocs=numprocs)


def config(*items: Program) -> dict[str, Program]:
    return {p.name: p for p in items}


def test_the_same_config_built_twice_changes_nothing() -> None:
    plan = diff_programs(
        config(program("web"), program("api")), config(program("api"), program("web"))
    )
    assert plan == ReloadPlan(added=(), removed=(), changed=(), unchanged=("api", "web"))
    assert plan.is_empty


def test_added_removed_changed_and_unchanged_programs() -> None:
    old = config(program("web"), program("api"), program("cron"))
    new = config(program("web"), program("api", "srv", "--v2"), program("mail"))
    plan = diff_programs(old, new)
    assert (plan.added, plan.removed, plan.changed, plan.unchanged) == (
        ("mail",), ("cron",), ("api",), ("web",),
    )  # fmt: skip
    assert not plan.is_empty


def test_any_field_difference_is_a_change() -> None:
    web = program("web")
    plan = diff_programs(config(web), config(replace(web, restart=RestartPolicy(mode="always"))))
    assert plan.changed == ("web",)


def test_a_numprocs_change_restarts_the_whole_program() -> None:
    plan = diff_programs(config(program("web", numprocs=2)), config(program("web", numprocs=3)))
    assert plan.changed == ("web",)


def test_names_are_in_start_order_priority_then_name() -> None:
    new = config(program("b", priority=5), program("a", priority=5), program("z", priority=1))
    assert diff_programs({}, new).added == ("z", "a", "b")


def test_removed_programs_are_ordered_by_their_old_priority() -> None:
    old = config(program("late", priority=900), program("early", priority=10))
    assert diff_programs(old, {}).removed == ("early", "late")
