"""Status of more instances than `OFF_LOOP_TREES`: scanned in a worker thread, views built
in slices, the reply encoded off the loop; the reply is the same as on the loop."""

from __future__ import annotations

from pathlib import Path

from corral._supervisor.operations import OFF_LOOP_TREES, VIEW_SLICE
from tests.support.daemon import SLEEP_FOREVER, running_daemon
from tests.support.waiting import wait_until

COUNT = max(OFF_LOOP_TREES, VIEW_SLICE) + 44  # past the threshold, and more than one slice


def test_status_of_many_instances_measures_every_tree_off_the_loop(tmp_path: Path) -> None:
    programs = f"""
        [programs.many]
        command = {SLEEP_FOREVER}
        numprocs = {COUNT}
        start_seconds = 0

        [programs.one]
        command = {SLEEP_FOREVER}
        start_seconds = 0
    """
    with running_daemon(tmp_path, programs) as daemon:
        wait_until(
            lambda: all(r["state"] == "RUNNING" for r in daemon.status().values()),
            what="every instance RUNNING",
        )
        rows = daemon.status()
        named = daemon.call("GET", "/status", names="one:0,many:7")["instances"]
        daemon.assert_loop_never_blocked()
    assert list(rows) == [f"many:{i}" for i in range(COUNT)] + ["one:0"]  # in order
    assert {row["processes"] for row in rows.values()} == {1}
    assert all(row["memory_rss"] > 0 for row in rows.values())
    assert [row["name"] for row in named] == ["many:7", "one:0"]
    assert [row["processes"] for row in named] == [1, 1]
