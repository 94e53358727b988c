"""TreeSampler on real processes: CPU % per interval, memory, members, pid reuse, cost budget."""

from __future__ import annotations

import os
import sys
import time

import pytest

import corral
from corral._observe.metrics.sampler import TreeSampler
from corral._platform import Feature, feature_status, read_stats
from corral._platform.linux.procfs import read_environ
from corral._process.spawn import TREE_VARIABLE
from corral._process.tree import Tree
from tests.helpers import argv
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(
    not feature_status(Feature.PROC_SCAN).supported, reason="needs /proc (Linux)"
)

BUSY = ["sh", "-c", "while :; do :; done"]
IDLE = ["sleep", "300"]
FAMILY = ["sh", "-c", "sleep 300 & sleep 300 & wait"]
"""A root with two children: three live members."""


def start(argv: list[str]) -> corral.Process:
    return corral.start(argv, stdout="devnull", stderr="devnull", check=False)


def tree(proc: corral.Process) -> Tree:
    """The tree corral made for `proc`, named as the daemon names it: root, group, marker."""
    return Tree(proc.pid, os.getpgid(proc.pid), marker_of(proc.pid))


def marker_of(pid: int) -> bytes:
    """The CORRAL_TREE entry corral put in the environment of `pid` (once it has exec'd:
    until then /proc shows the environment of the process it was forked from)."""
    key = TREE_VARIABLE.encode() + b"="

    def entry() -> bytes:
        return next((e for e in read_environ(pid).split(b"\0") if e.startswith(key)), b"")

    return wait_until(entry, what=f"{pid} to exec with its marker")


def cpu_of(pid: int) -> float:
    usage = read_stats([pid]).get(pid)
    return 0.0 if usage is None else usage.cpu_seconds


def members(named: Tree, count: int) -> bool:
    """True once the tree has `count` live processes (children forked)."""
    sampler = TreeSampler()
    found = sampler.sample({"t": named}).get("t")
    return found is not None and found.processes == count


def test_cpu_percent_is_the_cpu_gained_over_the_wall_time_between_samples() -> None:
    with start(BUSY) as busy, start(IDLE) as idle:
        sampler = TreeSampler()
        roots = {"busy": tree(busy), "idle": tree(idle)}
        before = time.monotonic()
        first = sampler.sample(roots)
        after = time.monotonic()
        wait_until(
            lambda: cpu_of(busy.pid) >= first["busy"].cpu_seconds + 0.3,
            what="the busy loop using 0.3 s of CPU",
        )
        inner = time.monotonic()
        second = sampler.sample(roots)
        outer = time.monotonic()
    gained = second["busy"].cpu_seconds - first["busy"].cpu_seconds
    assert gained >= 0.3
    # However loaded the machine, the figure lies between the CPU gained over the
    # longest and over the shortest wall time the two samples can have spanned.
    low, high = 100 * gained / (outer - before), 100 * gained / (inner - after)
    busy_percent = second["busy"].cpu_percent
    assert busy_percent is not None
    assert low - 0.1 <= busy_percent <= high + 0.1  # rounded to one decimal
    assert second["idle"].cpu_percent == 0.0  # sleep(1) uses no CPU while it sleeps


def test_the_first_sample_of_a_tree_is_its_average_since_start() -> None:
    with start(IDLE) as idle:
        first = TreeSampler().sample({"idle": tree(idle)})["idle"]
    assert first.cpu_percent is not None
    assert 0.0 <= first.cpu_percent < 50.0
    assert first.processes == 1


def test_memory_is_the_resident_set_of_the_tree() -> None:
    holder = "x = b'\\1' * (64 << 20); print('ready', flush=True); import time; time.sleep(300)"
    with corral.start([sys.executable, "-c", holder], stderr="devnull", check=False) as hog:
        assert hog.readline(timeout=30) == "ready"
        sample = TreeSampler().sample({"hog": tree(hog)}).get("hog")
    assert sample is not None
    assert sample.rss_bytes >= 64 << 20


def test_children_are_members_and_counted() -> None:
    with start(FAMILY) as family:
        wait_until(lambda: members(tree(family), 3), what="the root and its two children")
        sample = TreeSampler().sample({"family": tree(family)})["family"]
    assert sample.processes == 3
    assert sample.rss_bytes > 0


def test_a_double_forked_grandchild_that_left_the_group_is_counted_in_both_kinds_of_tick() -> None:
    sampler = TreeSampler(budget=1e-12, max_gap=3600.0)  # one full pass, then known pids
    with corral.start(argv("double_fork"), stderr="devnull", check=False) as root:
        line = root.readline(timeout=30)
        assert line is not None
        grandchild = int(line)
        assert root.readline(timeout=30) == "ready"
        assert os.getsid(grandchild) != os.getsid(root.pid)
        named = tree(root)
        full = sampler.sample({"forker": named})["forker"]
        known = sampler.sample({"forker": named})["forker"]
        root_rss = read_stats([root.pid])[root.pid].rss_bytes
    assert sampler.full_passes == 1
    assert (full.processes, known.processes) == (2, 2)
    assert full.rss_bytes > root_rss  # the grandchild's memory is charged to the tree
    assert set(sampler._trees["forker"].members) == {root.pid, grandchild}


def test_a_gone_root_has_no_sample() -> None:
    with start(IDLE) as idle:
        named = tree(idle)
    assert TreeSampler().sample({"gone": named}) == {}


def test_between_full_passes_only_known_members_are_read_and_exited_ones_drop_out() -> None:
    # A budget so small that after the first full pass none is due for a long time.
    sampler = TreeSampler(budget=1e-12, max_gap=3600.0)
    with start(FAMILY) as family:
        wait_until(lambda: members(tree(family), 3), what="the root and its two children")
        family_tree = tree(family)
        assert sampler.sample({"family": family_tree})["family"].processes == 3
        children = [p for p in _children(family.pid)]
        os.kill(children[0], 9)
        wait_until(lambda: children[0] not in read_stats([children[0]]), what="the child gone")
        with start(IDLE) as newcomer:
            samples = sampler.sample({"family": family_tree, "new": tree(newcomer)})
    assert samples["family"].processes == 2
    assert samples["new"].processes == 1  # a new root counts from its first tick
    assert sampler.full_passes == 1


def test_a_restarted_root_is_a_new_tree() -> None:
    sampler = TreeSampler()
    with start(BUSY) as busy:
        sampler.sample({"web:0": tree(busy)})
        before = cpu_of(busy.pid)
        wait_until(lambda: cpu_of(busy.pid) >= before + 0.2, what="the busy loop using CPU")
    with start(IDLE) as idle:
        after = sampler.sample({"web:0": tree(idle)})["web:0"]
    # Not the busy process's CPU carried over as a negative or huge delta.
    assert after.cpu_percent is not None
    assert 0.0 <= after.cpu_percent < 50.0


def test_a_reused_pid_is_not_taken_for_the_known_member() -> None:
    sampler = TreeSampler(budget=1e-12, max_gap=3600.0)
    with start(FAMILY) as family:
        wait_until(lambda: members(tree(family), 3), what="the root and its two children")
        family_tree = tree(family)
        sampler.sample({"family": family_tree})
        known = sampler._trees["family"]
        child = next(pid for pid in known.members if pid != family.pid)
        started, cpu = known.members[child]
        known.members[child] = (started - 1.0, cpu)  # as if that pid had been another process
        sample = sampler.sample({"family": family_tree})["family"]
    assert sample.processes == 2


def test_budget_and_gap_are_validated() -> None:
    with pytest.raises(ValueError, match="budget"):
        TreeSampler(budget=0)


def _children(pid: int) -> list[int]:
    from corral._platform import process_table

    return [p.pid for p in process_table().values() if p.ppid == pid]
