"""More instances than `OFF_LOOP_TREES`: status scanned in a worker thread, views built in
slices, the reply encoded off the loop; the metrics tick's /proc pass in a worker thread
too. The replies are the same as on the loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from corral._observe.sampling import OFF_LOOP_TREES
from corral._supervisor.operations import VIEW_SLICE
from tests.support.daemon import SLEEP_FOREVER, Daemon, running_daemon
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

        [metrics]
        interval = 0.2
    """
    with running_daemon(tmp_path, programs) as daemon:
        wait_until(
            lambda: all(r["state"] == "RUNNING" for r in daemon.status().values()),
            what="every instance RUNNING",
        )
        rows = daemon.status()
        named = daemon.call("GET", "/status", names="one:0,many:7")["instances"]
        sampled = wait_until(_every_instance_sampled(daemon), what="a tick sampling every tree")
        daemon.assert_loop_never_blocked()
    assert list(rows) == [f"many:{i}" for i in range(COUNT)] + ["one:0"]  # in order
    assert {row["processes"] for row in rows.values()} == {1}
    assert all(row["memory_rss"] > 0 for row in rows.values())
    assert [row["name"] for row in named] == ["many:7", "one:0"]
    assert [row["processes"] for row in named] == [1, 1]
    assert [row["name"] for row in sampled] == list(rows)
    assert {row["processes"] for row in sampled} == {1}


def _every_instance_sampled(daemon: Daemon) -> Callable[[], list[dict[str, object]]]:
    def sampled() -> list[dict[str, object]]:
        rows: list[dict[str, object]] = daemon.call("GET", "/metrics")["instances"]
        return rows if all(row["memory_rss"] for row in rows) else []

    return sampled
