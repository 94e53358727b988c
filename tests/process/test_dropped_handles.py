"""Issue #11: a started handle garbage-collected unclosed leaves no zombie and no fd.

subprocess reaps a dropped Popen later (its `_active` list, CPython's test_subprocess
`test_zombie_fast_process_del`); duct reaps on drop; tokio offers `kill_on_drop`. corral
closes the handle's pipes at the drop, reaps the child once it exits, and with
`kill_on_drop=True` ends the whole tree at the drop.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys

import pytest

import corral
from corral import Command, InvalidSpec
from tests.helpers import argv
from tests.support.pids import read_stat, watch
from tests.support.twins import Twin
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("exit_notifier")  # pidfd, then the waiter thread

PY = sys.executable
WAIT_FOR_FD = "import os, sys; os.read(int(sys.argv[1]), 1)"
"""A child that runs until the pipe whose read end it was given is closed or written."""


def reaped(pid: int) -> bool:
    """Gone from /proc: not running, and not a zombie either."""
    return read_stat(pid) is None


def exited(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is None or stat.state == "Z"


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_dropped_handle_of_an_exited_child_is_reaped_and_its_fds_closed(twin: Twin) -> None:
    before = fd_count()
    proc = twin.start([PY, "-c", "pass"])
    pid = proc.pid
    wait_until(lambda: exited(pid), what=f"pid {pid} exited")
    del proc
    gc.collect()
    wait_until(lambda: reaped(pid), what=f"pid {pid} reaped")
    wait_until(lambda: fd_count() == before, what=f"our fd count back to {before}")


def test_a_dropped_handle_closes_its_pipes_at_once(twin: Twin) -> None:
    before = fd_count()
    proc = twin.start(argv("copy_stdin"), stdin="pipe")  # copies until stdin's EOF
    pid = proc.pid
    del proc
    gc.collect()
    wait_until(lambda: reaped(pid), what=f"pid {pid} saw EOF on stdin, exited, was reaped")
    wait_until(lambda: fd_count() == before, what=f"our fd count back to {before}")


def test_a_dropped_child_runs_on_and_is_reaped_once_it_exits(twin: Twin) -> None:
    read, write = os.pipe()
    before = fd_count() - 2
    try:
        proc = twin.start([PY, "-c", WAIT_FOR_FD, str(read)], pass_fds=[read])
        pid = proc.pid
        del proc
        gc.collect()
        stat = read_stat(pid)
        assert stat is not None
        assert stat.state != "Z", "the child was ended at the drop"
    finally:
        os.close(read)
        os.close(write)  # now it reads EOF and exits
    wait_until(lambda: reaped(pid), what=f"pid {pid} reaped after it exited")
    wait_until(lambda: fd_count() == before, what=f"our fd count back to {before}")


def test_kill_on_drop_ends_the_whole_tree(twin: Twin) -> None:
    before = fd_count()
    proc = twin.start(argv("double_fork"), kill_on_drop=True)
    grandchild = int(proc.readline() or "0")
    assert proc.readline() == "ready"
    with watch([proc.pid, grandchild]) as deaths:
        del proc
        gc.collect()
        deaths.assert_dead()
    wait_until(lambda: fd_count() == before, what=f"our fd count back to {before}")


def test_kill_on_drop_is_a_command_builder_too() -> None:
    before = fd_count()
    proc = Command(PY, "-c", "import time; time.sleep(300)").kill_on_drop().start()
    with watch([proc.pid]) as deaths:
        del proc
        gc.collect()
        deaths.assert_dead()
    wait_until(lambda: fd_count() == before, what=f"our fd count back to {before}")


def test_a_closed_handle_is_left_alone_when_dropped(twin: Twin) -> None:
    with twin.start([PY, "-c", "pass"], kill_on_drop=True) as proc:
        proc.wait()
    del proc
    gc.collect()  # nothing left to do: no thread, no double close


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_kill_on_drop_must_be_a_bool(bad: object) -> None:
    with pytest.raises(InvalidSpec, match="kill_on_drop must be True or False"):
        corral.start([PY, "-c", "pass"], kill_on_drop=bad)  # type: ignore[arg-type]


def test_a_dropped_sandboxed_handle_is_reaped_too() -> None:
    from corral.sandbox import Identity, Sandbox

    before = fd_count()
    proc = corral.start([PY, "-c", "pass"], sandbox=Sandbox(identity=Identity(umask=0o022)))
    pid = proc.pid
    del proc
    gc.collect()
    wait_until(lambda: reaped(pid), what=f"pid {pid} reaped")
    wait_until(lambda: fd_count() == before, what=f"our fd count back to {before}")


def test_an_async_handle_dropped_inside_a_running_loop() -> None:
    async def main() -> None:
        before = fd_count()
        proc = await corral.start_async(
            [PY, "-c", "import time; time.sleep(300)"], kill_on_drop=True
        )
        pid = proc.pid
        del proc
        gc.collect()
        await asyncio.to_thread(wait_until, lambda: reaped(pid), what=f"pid {pid} reaped")
        await asyncio.to_thread(wait_until, lambda: fd_count() == before, what="fds closed")

    asyncio.run(main(), debug=True)
