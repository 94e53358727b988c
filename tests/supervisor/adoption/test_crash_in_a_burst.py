"""No instant is unsafe: a SIGKILL in the middle of restarting 100 instances.

Real keeper, real daemon, 100 real programs. Whatever the burst had reached (stopped,
spawned and handed over, spawned and not yet handed over), the next daemon knows every
process the dead one started: afterwards exactly one process runs per instance, each
the one `status` names, and nothing else runs below the keeper.
"""

from __future__ import annotations

import os
import select
import signal
import threading
from pathlib import Path

from tests.supervisor.adoption.kept import KeptDaemon
from tests.support.daemon import SLEEP_FOREVER
from tests.support.pids import all_stats
from tests.support.waiting import DEADLINE, wait_until

COUNT = 100
PROGRAMS = f"""
[programs.many]
command = {SLEEP_FOREVER}
numprocs = {COUNT}
start_seconds = 0
"""


def _below(ancestor: int) -> set[int]:
    """Every live (not zombie) process below `ancestor`."""
    stats = all_stats()
    children: dict[int, list[int]] = {}
    for stat in stats:
        if stat.state != "Z":
            children.setdefault(stat.ppid, []).append(stat.pid)
    found: set[int] = set()
    todo = [ancestor]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.add(pid)
            todo.append(pid)
    return found


def test_a_crash_during_a_restart_of_100_instances_leaves_no_untracked_copy(
    tmp_path: Path,
) -> None:
    daemon = KeptDaemon(tmp_path, PROGRAMS)
    daemon.start_kept()
    try:
        assert daemon.process is not None
        keeper = daemon.process.pid
        wait_until(
            lambda: sum(r["state"] == "RUNNING" for r in daemon.status().values()) == COUNT,
            what="every instance to run",
        )
        before = {name: row["pid"] for name, row in daemon.status().items()}
        dead = daemon.daemon_pid()
        watch = os.pidfd_open(dead)
        with daemon.watch() as events:
            restart = threading.Thread(target=daemon.cli, args=("restart", "all"), daemon=True)
            restart.start()
            events.wait_for(  # the burst is under way: some instance has a new process
                lambda e: (
                    e["kind"] == "state"
                    and e["data"]["new"] == "RUNNING"
                    and e["data"].get("pid") not in before.values()
                ),
                what="the first restarted instance",
            )
            os.kill(dead, signal.SIGKILL)
            assert select.select([watch], [], [], DEADLINE)[0]
            os.close(watch)
        restart.join(DEADLINE)
        daemon.restart_kept()
        new_daemon = daemon.daemon_pid()

        def settled() -> dict[str, int] | None:
            rows = daemon.status()
            if any(r["state"] != "RUNNING" for r in rows.values()):
                return None
            return {name: r["pid"] for name, r in rows.items()}

        running = wait_until(settled, what="every instance to run again")
        assert running is not None
        assert len(set(running.values())) == COUNT
        below = _below(keeper) - {new_daemon, daemon.process.pid if daemon.process else 0}
        assert below == set(running.values()), (
            f"untracked: {sorted(below - set(running.values()))}; "
            f"missing: {sorted(set(running.values()) - below)}"
        )
    finally:
        daemon.stop()
