"""The /proc parsers and the tree scan: members by marker, by process group, by parentage."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral._platform import find_tree as platform_find_tree
from corral._platform import tree_members
from corral._platform.linux import procfs
from corral._process.tree import Tree
from corral.lowlevel import Feature, override_feature
from tests.helpers import argv
from tests.support.pids import is_zombie, watch

pytestmark = pytest.mark.requires(Feature.PROC_SCAN)


@contextlib.contextmanager
def running(
    command: list[str], *, env: dict[str, str] | None = None, new_session: bool = False
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start a helper (not through corral), read its lines up to `ready`, then end it all.

    Ends by SIGKILL to each pid it printed and to itself, then reaps whatever became
    our child (we are a subreaper), so the test leaves nothing behind.
    """
    full_env = dict(os.environ, **(env or {}))
    with subprocess.Popen(
        command, env=full_env, stdout=subprocess.PIPE, text=True, start_new_session=new_session
    ) as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        while (line := proc.stdout.readline().strip()) != "ready" and len(lines) < 10:
            lines.append(line)
        pids = [int(line) for line in lines if line.isdigit()]
        try:
            yield proc, lines
        finally:
            with watch([*pids, proc.pid], must_be_alive=False) as deaths:
                for pid in [*pids, proc.pid]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                proc.wait()
                deaths.assert_dead()
            for pid in pids:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)


def marker(name: str) -> tuple[dict[str, str], bytes]:
    value = f"test-{os.getpid()}-{name}"
    return {"CORRAL_TREE": value}, f"CORRAL_TREE={value}".encode()


def test_read_stat_of_ourselves() -> None:
    stat = procfs.read_stat(os.getpid())
    assert stat is not None
    assert (stat.pid, stat.ppid, stat.pgid, stat.sid) == (
        os.getpid(),
        os.getppid(),
        os.getpgid(0),
        os.getsid(0),
    )
    assert stat.state == "R"


def test_read_stat_reads_cpu_memory_and_start_time() -> None:
    cpu_before = time.process_time()
    stat = procfs.read_stat(os.getpid())
    cpu_after = time.process_time()
    assert stat is not None
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert cpu_before - 2 * tick <= stat.cpu_seconds <= cpu_after  # ticks, rounded down
    with open("/proc/self/statm") as f:
        resident = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    assert abs(stat.rss_bytes - resident) < 4 << 20  # the same pages, read a moment apart
    assert 0 < stat.started <= procfs.boot_clock()


def test_a_child_started_now_has_a_start_time_of_now() -> None:
    before = procfs.boot_clock()
    with running(argv("trap_term", "exit")) as (proc, _):
        after = procfs.boot_clock()
        stat = procfs.read_stat(proc.pid)
    assert stat is not None
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert before - tick <= stat.started <= after


def test_read_stats_leaves_out_zombies_and_gone_pids_unless_zombies_are_asked_for() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    with subprocess.Popen(argv("exit_with", "0")) as proc:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        live = procfs.read_stats([proc.pid, os.getpid(), pid_max + 1])
        every = procfs.read_stats([proc.pid, pid_max + 1], zombies=True)
        zombie = procfs.read_stat(proc.pid)
    assert list(live) == [os.getpid()]
    assert list(every) == [proc.pid]
    assert zombie is not None
    assert (zombie.state, zombie.live, zombie.rss_bytes) == ("Z", False, 0)


def test_read_stat_of_a_missing_pid_is_none() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    assert procfs.read_stat(pid_max + 1) is None
    assert procfs.read_environ(pid_max + 1) == b""


def test_read_stat_survives_parentheses_in_the_command_name(tmp_path: Path) -> None:
    odd = tmp_path / "a) b (c"
    odd.symlink_to(sys.executable)
    with running([str(odd), argv("trap_term", "exit")[1], "exit"]) as (proc, _):
        stat = procfs.read_stat(proc.pid)
        assert stat is not None
        assert (stat.ppid, stat.pgid) == (os.getpid(), os.getpgid(0))


def test_read_environ_holds_the_start_up_environment() -> None:
    env, entry = marker("environ")
    with running(argv("trap_term", "exit"), env=env) as (proc, _):
        assert entry + b"\0" in procfs.read_environ(proc.pid)


def test_the_scan_finds_a_double_forked_grandchild_by_its_marker() -> None:
    env, entry = marker("double-fork")
    with running(argv("double_fork"), env=env, new_session=True) as (proc, lines):
        grandchild = int(lines[0])
        stat = procfs.read_stat(grandchild)
        assert stat is not None
        assert stat.ppid == os.getpid()  # re-parented to us: no parent link to the root
        assert stat.pgid != proc.pid
        found = {s.pid for s in procfs.find_tree(entry, None)}
        assert found == {proc.pid, grandchild}


def test_the_scan_finds_members_of_the_process_group() -> None:
    with running(argv("double_fork", "--no-setsid"), new_session=True) as (proc, lines):
        grandchild = int(lines[0])
        found = {s.pid for s in procfs.find_tree(b"CORRAL_TREE=nobody", proc.pid)}
        assert found == {proc.pid, grandchild}


def test_the_scan_finds_an_unmarked_child_by_parentage() -> None:
    env, entry = marker("parentage")
    with running(argv("spawn_scrubbed"), env=env, new_session=True) as (proc, lines):
        child = int(lines[0])
        assert entry not in procfs.read_environ(child)
        assert {s.pid for s in procfs.find_tree(entry, None)} == {proc.pid, child}


def test_the_scan_leaves_out_other_trees_and_ourselves() -> None:
    env, entry = marker("mine")
    other_env, _ = marker("other")
    with (
        running(argv("trap_term", "exit"), env=env) as (mine, _),
        running(argv("trap_term", "exit"), env=other_env) as (other, _),
    ):
        found = {s.pid for s in procfs.find_tree(entry, None)}
        assert found == {mine.pid}
        assert other.pid not in found


def test_the_scan_leaves_out_zombies() -> None:
    env, entry = marker("zombie")
    with subprocess.Popen(argv("exit_with", "0"), env=dict(os.environ, **env)) as proc:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        assert is_zombie(proc.pid)
        assert procfs.find_tree(entry, None) == []


def test_tree_members_finds_a_double_forked_grandchild_as_stopping_the_tree_does() -> None:
    env, entry = marker("members")
    with running(argv("double_fork"), env=env, new_session=True) as (proc, lines):
        grandchild = int(lines[0])
        tree = Tree(proc.pid, proc.pid, entry)
        (found,) = tree_members([tree])
        killed_by_stop = set(tree.members())
    assert {s.pid for s in found} == {proc.pid, grandchild} == killed_by_stop
    assert all(s.rss_bytes > 0 and s.live for s in found)


def test_tree_members_counts_the_root_even_once_it_left_its_group_and_lost_its_marker() -> None:
    with running(argv("spawn_scrubbed"), new_session=True) as (proc, lines):
        child = int(lines[0])
        # Named by a group it is not in and a marker it does not carry: only the root
        # pid ties it, and its child by descent, to the tree.
        nobody_s_group = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
        (found,) = tree_members([Tree(proc.pid, nobody_s_group, b"CORRAL_TREE=nobody")])
    assert {s.pid for s in found} == {proc.pid, child}


def test_without_proc_scan_the_platform_finds_nothing() -> None:
    env, entry = marker("off")
    with running(argv("trap_term", "exit"), env=env) as (proc, _):
        assert [pid for pid, _ in platform_find_tree(entry, None)] == [proc.pid]
        with override_feature(Feature.PROC_SCAN, False):
            assert platform_find_tree(entry, None) == []
            assert tree_members([Tree(proc.pid, proc.pid, entry)]) == [[]]


def test_one_pass_finds_several_trees_each_with_only_its_own_members() -> None:
    env_a, entry_a = marker("batch-a")
    env_b, entry_b = marker("batch-b")
    with (
        running(argv("double_fork"), env=env_a, new_session=True) as (proc_a, lines_a),
        running(argv("double_fork"), env=env_b, new_session=True) as (proc_b, lines_b),
    ):
        tree_a, tree_b, nobody = procfs.find_trees(
            [
                procfs.Query(entry_a, None),
                procfs.Query(entry_b, None),
                procfs.Query(b"CORRAL_TREE=nobody", None),
            ]
        )
        assert {s.pid for s in tree_a} == {proc_a.pid, int(lines_a[0])}
        assert {s.pid for s in tree_b} == {proc_b.pid, int(lines_b[0])}
        assert nobody == []


def test_a_scan_for_some_trees_finds_their_members_as_a_scan_for_all_does() -> None:
    # Status of one instance among many walks only its tree; the others still claim
    # their own processes, so the wanted tree's members are the same as in a full scan.
    env_a, entry_a = marker("wanted-a")
    env_b, entry_b = marker("wanted-b")
    with (
        running(argv("double_fork"), env=env_a, new_session=True) as (proc_a, lines_a),
        running(argv("double_fork"), env=env_b, new_session=True) as (proc_b, _),
    ):
        queries = [
            procfs.Query(entry_a, None, proc_a.pid),
            procfs.Query(entry_b, None, proc_b.pid),
        ]
        full_a, full_b = procfs.find_trees(queries)
        some_a, some_b = procfs.find_trees(queries, wanted=[0])
        assert {s.pid for s in some_a} == {s.pid for s in full_a} == {proc_a.pid, int(lines_a[0])}
        assert {s.pid for s in some_b} <= {s.pid for s in full_b}


def test_a_marker_is_matched_whole_not_as_a_prefix() -> None:
    env, entry = marker("prefix-long")
    with running(argv("double_fork"), env=env, new_session=True):
        shorter = entry[: -len(b"-long")]
        assert procfs.find_tree(shorter, None) == []


# -- where the marker is looked for: everywhere, or only below a child subreaper ----------


def test_within_a_subreaper_the_scan_finds_a_grandchild_re_parented_to_it() -> None:
    env, entry = marker("within-found")
    with running(argv("double_fork"), env=env, new_session=True) as (proc, lines):
        grandchild = int(lines[0])
        found = procfs.find_tree(entry, None, within=os.getpid())  # we are a subreaper
        assert {s.pid for s in found} == {proc.pid, grandchild}


def test_within_a_pid_a_marked_process_outside_its_subtree_is_deliberately_not_searched() -> None:
    env, entry = marker("within-outside")
    with (
        running(argv("trap_term", "exit")) as (elsewhere, _),
        running(argv("trap_term", "exit"), env=env) as (marked, _),
    ):
        assert procfs.find_tree(entry, None, within=elsewhere.pid) == []
        assert {s.pid for s in procfs.find_tree(entry, None)} == {marked.pid}


def test_within_a_pid_the_process_group_is_still_searched_everywhere() -> None:
    with (
        running(argv("trap_term", "exit")) as (elsewhere, _),
        running(argv("double_fork", "--no-setsid"), new_session=True) as (leader, lines),
    ):
        found = procfs.find_tree(b"CORRAL_TREE=nobody", leader.pid, within=elsewhere.pid)
        assert {s.pid for s in found} == {leader.pid, int(lines[0])}


def test_a_process_whose_parent_vanished_mid_scan_counts_as_maybe_ours() -> None:
    # A parent that exits between the listing of /proc and its stat read cannot be
    # timed from a test, so the subtree rule is checked on a made-up table: 10 is
    # us, 11 our child, 13's parent 12 vanished, 20 descends from init.
    table = {
        pid: procfs.ProcStat(pid, "S", ppid, pid, pid, cpu_seconds=0.0, rss_bytes=0, started=0.0)
        for pid, ppid in [(1, 0), (10, 1), (11, 10), (13, 12), (14, 13), (20, 1), (21, 20)]
    }
    below = procfs._below(10, table)
    assert {pid for pid in table if below(pid)} == {11, 13, 14}


def test_a_parent_loop_from_reused_pids_ends_the_walk_as_not_ours() -> None:
    # A pid reused mid-scan can make two stat lines name each other as parents.
    table = {
        pid: procfs.ProcStat(pid, "S", ppid, pid, pid, cpu_seconds=0.0, rss_bytes=0, started=0.0)
        for pid, ppid in [(1, 0), (10, 1), (30, 31), (31, 30)]
    }
    assert not procfs._below(10, table)(30)


def test_the_platform_scans_within_our_subtree_only_while_we_are_a_subreaper() -> None:
    assert procfs.subreaper_scope() == os.getpid()  # conftest made the test process one


def scan_as(mode: str, *entries: bytes) -> tuple[list[str], str]:
    """The command that runs tests/platform/scan_as.py in `mode`, and its tree's entry."""
    value = f"test-{os.getpid()}-scan-as-{mode}"
    command = [sys.executable, "-m", "tests.platform.scan_as", mode, value]
    return [*command, *(e.decode() for e in entries)], f"CORRAL_TREE={value}"


@pytest.mark.parametrize("mode", ["subreaper", "plain"])
def test_a_caller_finds_its_double_forked_grandchild_subreaper_or_not(mode: str) -> None:
    outside_env, outside = marker(f"outside-{mode}")
    command, own = scan_as(mode, outside)
    repo = {"PYTHONPATH": str(Path(__file__).parents[2])}
    with (
        running(argv("trap_term", "exit"), env=outside_env) as (elsewhere, _),
        running(command, env=repo) as (scanner, lines),
    ):
        root, grandchild = int(lines[0]), int(lines[1])
        report: dict[str, Any] = json.loads(lines[2])
        found = report["found"]
        assert found[own] == sorted([root, grandchild])
        if mode == "subreaper":  # every member is below the scanner: only there is searched
            assert report["scope"] == scanner.pid
            assert report["grandchild_ppid"] == scanner.pid
            assert found[outside.decode()] == []
        else:  # its orphans went past it, to us: every process is searched
            assert report["scope"] is None
            assert report["grandchild_ppid"] == os.getpid()
            assert found[outside.decode()] == [elsewhere.pid]
