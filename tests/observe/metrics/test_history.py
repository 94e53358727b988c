"""History keeps the last N ticks of every tree on one timeline."""

from __future__ import annotations

import pytest

from corral._observe.metrics.history import History, Point
from corral._observe.metrics.sampler import Sample


def sample(cpu: float | None, rss: int = 4096, processes: int = 1) -> Sample:
    return Sample(cpu_percent=cpu, cpu_seconds=0.0, rss_bytes=rss, processes=processes)


def test_points_come_back_oldest_first_with_their_values() -> None:
    history = History(4)
    history.record(100.0, {"web:0": sample(12.5, rss=8 << 20, processes=3)})
    history.record(105.0, {"web:0": sample(None)})
    assert history.points("web:0") == [
        Point(time=100.0, cpu_percent=12.5, rss_bytes=8 << 20, processes=3),
        Point(time=105.0, cpu_percent=None, rss_bytes=4096, processes=1),
    ]
    assert len(history) == 2


def test_the_ring_keeps_only_the_last_capacity_ticks() -> None:
    history = History(3)
    for tick in range(7):
        history.record(float(tick), {"a": sample(float(tick))})
    assert [p.time for p in history.points("a")] == [4.0, 5.0, 6.0]
    assert [p.cpu_percent for p in history.points("a")] == [4.0, 5.0, 6.0]
    assert len(history) == 3


def test_a_tree_missing_from_a_tick_has_no_point_there() -> None:
    history = History(5)
    history.record(1.0, {"a": sample(1.0), "b": sample(1.0)})
    history.record(2.0, {"a": sample(2.0)})
    history.record(3.0, {"a": sample(3.0), "b": sample(3.0)})
    assert [p.time for p in history.points("b")] == [1.0, 3.0]
    assert [p.time for p in history.points("a")] == [1.0, 2.0, 3.0]


def test_a_tree_first_recorded_late_has_no_points_before_it() -> None:
    history = History(5)
    history.record(1.0, {"a": sample(1.0)})
    history.record(2.0, {"a": sample(1.0), "late": sample(9.0)})
    assert [p.time for p in history.points("late")] == [2.0]


def test_an_unknown_key_has_no_points() -> None:
    assert History(2).points("nobody") == []


def test_keep_only_forgets_the_other_trees() -> None:
    history = History(2)
    history.record(1.0, {"a": sample(1.0), "gone": sample(1.0)})
    history.keep_only({"a"})
    assert history.points("gone") == []
    assert len(history.points("a")) == 1


def test_memory_is_kept_in_kib_and_large_values_are_clamped() -> None:
    history = History(1)
    history.record(1.0, {"a": sample(1.0, rss=(5 << 40) + 1234)})
    assert history.points("a")[0].rss_bytes == 0xFFFFFFFF * 1024  # 4 TiB cap per sample


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        History(0)
