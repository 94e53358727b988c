"""FileLock and LocalElection: one holder at a time between real processes, on one machine."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.coordinate import CoordinationError, FileLock, LocalElection, LockTimeout

HELPER = Path(__file__).resolve().parent.parent / "helpers" / "hold_lock.py"


class Child:
    """A helper process started by a test; killed at the end whatever happened."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HELPER), *args], stdout=subprocess.PIPE, text=True
        )
        self.pid = self.process.pid

    def read_line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


def start(children: list[Child], *args: str) -> Child:
    child = Child(*args)
    children.append(child)
    return child


def test_contending_processes_never_hold_the_lock_together(
    tmp_path: Path, children: list[Child]
) -> None:
    log = tmp_path / "log"
    rounds, contenders = 40, 4
    lock = str(tmp_path / "lock")
    for _ in range(contenders):
        start(children, "contend", lock, str(log), str(rounds))
    for child in children:
        assert child.read_line() == "done"
    lines = log.read_text().splitlines()
    assert len(lines) == 2 * rounds * contenders
    for begin, end in zip(lines[::2], lines[1::2], strict=True):
        pid = begin.split()[0]
        assert (begin, end) == (f"{pid} begin", f"{pid} end"), "two holders overlapped"


def test_a_held_lock_names_its_holder_and_a_timeout_says_who(
    tmp_path: Path, children: list[Child]
) -> None:
    path = tmp_path / "lock"
    child = start(children, "hold", str(path))
    assert child.read_line() == "ready"
    lock = FileLock(path)
    holder = lock.holder()
    assert holder is not None
    assert (holder.pid, holder.owner, holder.alive()) == (child.pid, "helper", True)
    assert not lock.try_acquire()
    began = time.monotonic()
    expected = rf"not acquired within 0.2 s: held by helper \(pid {child.pid} "
    with pytest.raises(LockTimeout, match=expected):
        lock.acquire(timeout=0.2)
    assert time.monotonic() - began < 5
    assert not lock.held


def test_a_holder_killed_holding_the_lock_is_reported_stale_and_the_lock_taken(
    tmp_path: Path, children: list[Child]
) -> None:
    path = tmp_path / "lock"
    child = start(children, "hold", str(path))
    assert child.read_line() == "ready"
    child.kill()
    with FileLock(path, timeout=10) as lock:
        assert lock.stale is not None
        assert lock.stale.pid == child.pid
        assert lock.stale.alive() is False
        mine = lock.holder()
        assert mine is not None
        assert mine.pid == os.getpid()


def test_a_cleanly_released_lock_leaves_no_stale_record(tmp_path: Path) -> None:
    with FileLock(tmp_path / "lock", timeout=1):
        pass
    with FileLock(tmp_path / "lock", timeout=1) as again:
        assert again.stale is None
    assert FileLock(tmp_path / "lock").holder() is None


def test_two_locks_of_one_process_contend_and_a_lock_is_not_reentrant(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "lock"), FileLock(tmp_path / "lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    with pytest.raises(CoordinationError, match="already held by this FileLock"):
        first.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_the_lock_file_is_created_0644_close_on_exec_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    lock = FileLock(path, mode=0o600)
    with lock:
        assert lock._fd is not None
        assert not os.get_inheritable(lock._fd)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with FileLock(tmp_path / "other"):
        pass
    assert stat.S_IMODE((tmp_path / "other").stat().st_mode) == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_symlink_where_the_lock_file_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("")
    (tmp_path / "lock").symlink_to(tmp_path / "target")
    with pytest.raises(CoordinationError, match="is a symbolic link, refused"):
        FileLock(tmp_path / "lock").acquire(timeout=0)


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CoordinationError, match=r"lock directory .*/missing: No such file"):
        FileLock(tmp_path / "missing" / "lock").acquire(timeout=0)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_a_lock_file_on_a_read_only_directory_is_a_clear_error(tmp_path: Path) -> None:
    """Root ignores a directory's mode, so the directory is bound read-only (EROFS) in a
    private mount namespace; other users get the same error from a 0555 directory."""
    directory = tmp_path / "ro"
    directory.mkdir()
    attempt = (
        "from corral.coordinate import FileLock, CoordinationError\n"
        "try:\n"
        f"    FileLock({str(directory / 'lock')!r}).acquire(timeout=0)\n"
        "except CoordinationError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    if os.geteuid() == 0:
        script = f'mount --bind -o ro {directory} {directory} && exec {sys.executable} -c "$0"'
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, attempt]
    else:
        directory.chmod(0o555)
        argv = [sys.executable, "-c", attempt]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert out.stdout.startswith("CoordinationError lock file"), out.stderr
    assert "cannot be created or opened for writing" in out.stdout


def test_async_acquire_waits_without_blocking_the_loop(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, bool]:
        holder = FileLock(tmp_path / "lock")
        holder.acquire(timeout=0)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        ticker = asyncio.create_task(tick())
        asyncio.get_running_loop().call_later(0.1, holder.release)
        async with FileLock(tmp_path / "lock", timeout=10) as waiter:
            held = waiter.held
        ticker.cancel()
        return ticks, held

    ticks, held = asyncio.run(scenario())
    assert held
    assert ticks >= 5, "the loop did not run while the lock was awaited"


def test_async_acquire_times_out(tmp_path: Path) -> None:
    holder = FileLock(tmp_path / "lock")
    holder.acquire(timeout=0)
    with pytest.raises(LockTimeout):
        asyncio.run(FileLock(tmp_path / "lock").acquire_async(timeout=0.05))
    holder.release()


def test_a_local_election_moves_to_the_next_candidate_when_the_leader_dies(
    tmp_path: Path, children: list[Child]
) -> None:
    path = tmp_path / "election"
    child = start(children, "lead", str(path))
    assert child.read_line() == "ready"
    election = LocalElection(path, owner="parent")
    leader = election.leader()
    assert leader is not None
    assert leader.pid == child.pid
    with pytest.raises(LockTimeout):
        election.campaign(timeout=0.05)
    assert not election.is_leader
    child.kill()
    assert election.campaign(timeout=10).is_leader
    assert election.previous_died is not None
    assert election.previous_died.pid == child.pid
    now = election.leader()
    assert now is not None
    assert (now.pid, now.owner) == (os.getpid(), "parent")
    election.resign()
    assert election.leader() is None
