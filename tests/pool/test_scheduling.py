"""The pool's schedulers (corral._pool.scheduling) as pure policies, property-tested:
each task pushed is popped exactly once; FIFO keeps order; priority serves higher
first and ages waiting tasks within its stated bound; fair share gives each
backlogged tenant its weight's share within 5 %; EDF serves deadlines in order and
applies its miss policy; MLFQ moves keys between levels by their run times."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral._errors import InvalidSpec
from corral._pool.scheduling import Edf, FairShare, Fifo, Mlfq, Pick, Priority, Scheduler

_ids = itertools.count()


@dataclass(eq=False)
class T:
    priority: int = 0
    deadline: float | None = None
    tenant: str | None = None
    key: str = "f"
    enqueued: float = 0.0
    id: int = field(default_factory=lambda: next(_ids))


def _popped(policy: Scheduler, now: float = 0.0) -> list[T]:
    out: list[T] = []
    while (pick := policy.pop(now)) is not None:
        out.append(pick.task)  # type: ignore[arg-type]
    return out


def _policies() -> list[Scheduler]:
    return [Fifo(), Priority(), Priority(aging=0), Mlfq(), FairShare({"a": 2, "b": 1}), Edf()]


@given(
    st.lists(st.tuples(st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b", None])),
             max_size=60),
)  # fmt: skip
def test_every_task_pushed_is_popped_exactly_once(
    script: list[tuple[bool, int, str | None]],
) -> None:
    for policy in _policies():
        pushed: list[T] = []
        popped: list[T] = []
        for now, (push, priority, tenant) in enumerate(script):
            if push or not pushed:
                task = T(
                    priority=priority if isinstance(policy, Priority) else 0,
                    tenant=tenant if isinstance(policy, FairShare) else None,
                    deadline=float(priority) if isinstance(policy, Edf) and tenant else None,
                    enqueued=float(now),
                )
                policy.push(task, float(now))
                pushed.append(task)
            elif (pick := policy.pop(float(now))) is not None:
                popped.append(pick.task)  # type: ignore[arg-type]
            assert len(policy) == len(pushed) - len(popped)
        popped += _popped(policy, 1e9)
        assert Counter(t.id for t in popped) == Counter(t.id for t in pushed)
        assert len(policy) == 0


@given(st.lists(st.integers(0, 1000), max_size=50))
def test_fifo_keeps_submission_order(numbers: list[int]) -> None:
    policy = Fifo()
    tasks = [T(enqueued=float(i)) for i, _ in enumerate(numbers)]
    for task in tasks:
        policy.push(task, 0.0)
    assert _popped(policy) == tasks


@given(st.lists(st.integers(-5, 5), max_size=50))
def test_strict_priority_serves_higher_first_and_fifo_among_equals(levels: list[int]) -> None:
    policy = Priority(aging=0)
    tasks = [T(priority=p, enqueued=float(i)) for i, p in enumerate(levels)]
    for task in tasks:
        policy.push(task, task.enqueued)
    order = _popped(policy)
    assert order == sorted(tasks, key=lambda t: (-t.priority, t.enqueued))


@given(
    st.integers(0, 20), st.integers(0, 20), st.floats(0.1, 10), st.floats(0, 100),
    st.floats(0.001, 50),
)  # fmt: skip
def test_aging_bounds_how_long_a_low_priority_task_waits_behind_later_ones(
    low: int, high: int, aging: float, first: float, after: float
) -> None:
    """A task of priority p submitted at e runs before a task of priority q submitted
    after e + (q - p) / aging: the stated bound on starvation."""
    policy = Priority(aging=aging)
    old = T(priority=low, enqueued=first)
    bound = max(0.0, (high - low) / aging)
    new = T(priority=high, enqueued=first + bound + after)
    policy.push(old, old.enqueued)
    policy.push(new, new.enqueued)
    assert _popped(policy) == [old, new]


@settings(max_examples=10, deadline=None)
@given(st.dictionaries(st.sampled_from("abcde"), st.floats(0.1, 10), min_size=2, max_size=5))
def test_fair_share_gives_each_backlogged_tenant_its_weight_within_five_percent(
    weights: dict[str, float],
) -> None:
    policy = FairShare(weights)
    draws = 10_000
    for name in weights:  # every tenant stays backlogged for all the draws
        for _ in range(draws):
            policy.push(T(tenant=name), 0.0)
    served = Counter(policy.pop(0.0).task.tenant for _ in range(draws))  # type: ignore[union-attr]
    total = sum(weights.values())
    for name, weight in weights.items():
        share = served[name] / draws
        assert abs(share - weight / total) <= 0.05 * weight / total, (name, share, weights)


def test_tasks_without_a_tenant_share_the_unnamed_one_at_weight_one() -> None:
    policy = FairShare({"big": 3})
    for _ in range(40):
        policy.push(T(tenant="big"), 0.0)
        policy.push(T(tenant=None), 0.0)
    served = Counter(policy.pop(0.0).task.tenant for _ in range(40))  # type: ignore[union-attr]
    assert served == {"big": 30, None: 10}


@given(st.lists(st.one_of(st.none(), st.floats(0, 100)), max_size=40))
def test_edf_serves_deadlines_in_order_then_the_rest_in_submission_order(
    deadlines: list[float | None],
) -> None:
    policy = Edf()
    tasks = [T(deadline=d, enqueued=float(i)) for i, d in enumerate(deadlines)]
    for task in tasks:
        policy.push(task, 0.0)
    order = _popped(policy, now=-1.0)  # nothing is late yet
    with_deadline = sorted(
        (t for t in tasks if t.deadline is not None), key=lambda t: t.deadline or 0.0
    )
    assert order == with_deadline + [t for t in tasks if t.deadline is None]


def test_edf_miss_policies_run_drop_or_demote_a_late_task() -> None:
    late, soon, free = T(deadline=1.0), T(deadline=10.0), T()
    for miss, first in (
        ("run", Pick(late, missed=True)),
        ("drop", Pick(late, missed=True, drop=True)),
    ):
        policy = Edf(miss)  # type: ignore[arg-type]
        for task in (free, soon, late):
            policy.push(task, 0.0)
        assert policy.pop(5.0) == first
    policy = Edf("demote")
    for task in (free, soon, late):
        policy.push(task, 0.0)
    assert policy.pop(5.0) == Pick(soon, demoted=(late,))  # late goes behind the rest
    assert _popped(policy, 5.0) == [free, late]


def test_mlfq_drops_long_running_keys_and_raises_short_ones_then_boosts_all() -> None:
    policy = Mlfq((0.01, 0.1, 1.0), boost=100.0)
    slow, quick = T(key="slow"), T(key="quick")
    policy.finished(slow, 0.5)  # over level 0's quantum: down to 1
    policy.finished(slow, 0.5)  # over level 1's: down to 2
    assert policy.level("slow") == 2
    policy.finished(quick, 0.001)
    assert policy.level("quick") == 0
    tasks = [T(key="slow", enqueued=0.0), T(key="quick", enqueued=1.0)]
    for task in tasks:
        policy.push(task, 1.0)
    assert _popped(policy, 2.0) == tasks[::-1]  # the quick key's level is served first
    policy.finished(T(key="slow"), 0.001)  # short on level 2: back up to 1
    assert policy.level("slow") == 1
    for task in tasks:
        policy.push(task, 3.0)
    assert policy.pop(200.0) == Pick(tasks[0])  # boost: every key on level 0, oldest first
    assert policy.level("slow") == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Priority(aging=-1), "aging must be 0 or more"),
        (lambda: Mlfq((0.1, 0.01)), "quanta must be rising"),
        (lambda: Mlfq(boost=0), "boost must be more than 0"),
        (lambda: FairShare({}), "at least one tenant"),
        (lambda: FairShare({"a": 0}), "tenant 'a' needs a weight more than 0"),
        (lambda: Edf("later"), "miss must be run, drop or demote"),  # type: ignore[arg-type]
    ],
)
def test_bad_settings_are_refused(make: object, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        make()  # type: ignore[operator]


def test_options_a_policy_cannot_honour_are_refused_not_ignored() -> None:
    with pytest.raises(InvalidSpec, match="priority needs"):
        Fifo().check(priority=1, deadline=None, tenant=None)
    with pytest.raises(InvalidSpec, match="a deadline needs Pool"):
        Priority().check(priority=0, deadline=5.0, tenant=None)
    with pytest.raises(InvalidSpec, match="a tenant needs Pool"):
        Edf().check(priority=0, deadline=None, tenant="a")
    with pytest.raises(InvalidSpec, match="unknown tenant 'c'; the pool's tenants are a, b"):
        FairShare({"a": 1, "b": 2}).check(priority=0, deadline=None, tenant="c")
