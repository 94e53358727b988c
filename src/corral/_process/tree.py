"""A process tree: the spawned process and everything it started, and how to end it.

Members are found by process group (killpg reaches them at once), and on Linux by
the /proc scan of `_platform` (tree marker in the environment, parentage), which
also finds double-forked descendants that left the group. In a child subreaper (the
daemon) the scan looks for the marker only among our own descendants, where every
member of a tree we spawned stays; elsewhere (`run()` in a plain process) orphans
go to init, so it looks at every process on the machine. Ending a tree sends
SIGKILL in rounds until a scan finds nobody left (a fork bomb keeps forking
between rounds), bounded in rounds and time. A sandboxed process's cgroup, when it
has one, is killed too in every round: it holds every descendant, whatever its
environment, group or parent. Members that became our children (we are a
subreaper) are reaped; the root is left for its own exit notifier.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

from corral._platform import (
    find_tree,
    find_trees,
    open_watch_fd,
    reap_if_child,
    send_to_group,
    send_to_pid,
    wait_all_gone,
)

if TYPE_CHECKING:
    from corral._sandbox.plan import CgroupRuntime

_MAX_ROUNDS = 100
_ROUND_WAIT = 0.5
KILL_TIMEOUT = 10.0
"""Upper bound on ending a tree; past it, survivors are reported, not waited for."""


class Tree:
    """The members of one spawned process's tree, found afresh on every call."""

    __slots__ = ("_signalled", "cgroup", "marker", "pgid", "root")

    def __init__(
        self, root: int, pgid: int, marker: bytes, cgroup: CgroupRuntime | None = None
    ) -> None:
        self.root = root
        self.pgid = pgid
        self.marker = marker
        self.cgroup = cgroup
        """The sandbox's cgroup, which holds every descendant; killed with the tree."""
        self._signalled: set[int] | None = None  # made at the first signal: most trees get none

    @property
    def signalled(self) -> set[int]:
        """Members signalled since the last `kill`, which reaps those adopted by us."""
        if self._signalled is None:
            self._signalled = set()
        return self._signalled

    def members(self) -> list[int]:
        """Pids of the live members now (the root included while it runs)."""
        return [pid for pid, _ in find_tree(self.marker, self.pgid)]

    def send(self, sig: int) -> list[int]:
        """Signal every member (group, then each stray); return the pids found.

        The scan comes first: once a member dies, its unmarked children are
        re-parented and no parent link leads to them any more.
        """
        return self._signal(find_tree(self.marker, self.pgid), sig)

    async def send_async(self, sig: int) -> list[int]:
        """`send`, with its /proc scan shared by every tree signalled in this loop iteration."""
        return self._signal(await _scans().find(self.marker, self.pgid), sig)

    def _signal(self, found: list[tuple[int, int]], sig: int) -> list[int]:
        """Signal the group, then each member found outside it; remember them all."""
        send_to_group(self.pgid, sig)
        for pid, pgid in found:
            if pgid != self.pgid:
                send_to_pid(pid, sig)
        pids = [pid for pid, _ in found]
        self.signalled.update(pids)
        return pids

    async def send_kill_async(self) -> list[int]:
        """`send_kill` with a shared scan; the cgroup is emptied on a thread, off the loop.

        Emptying a cgroup waits for its members to go (v1 gives no event for that), so
        it must never run on the daemon's event loop.
        """
        pids = await self.send_async(signal.SIGKILL)
        if self.cgroup is not None:
            self._add_killed(pids, await asyncio.to_thread(self.cgroup.kill_all))
        return pids

    def send_kill(self) -> list[int]:
        """SIGKILL every member, and everything in the cgroup; return the pids found."""
        pids = self.send(signal.SIGKILL)
        if self.cgroup is not None:
            self._add_killed(pids, self.cgroup.kill_all())
        return pids

    def _add_killed(self, pids: list[int], killed: list[int]) -> None:
        self.signalled.update(killed)
        pids.extend(set(killed).difference(pids))

    def strays(self) -> list[int]:
        """Signalled members other than the root (whose own exit notifier reaps it).

        A member that is dying can vanish from scans before it is a zombie (its
        environment goes with its memory), so `kill` waits for these, not for a scan.
        """
        return [pid for pid in self._signalled or () if pid != self.root]

    def reap_adopted(self) -> None:
        """Collect signalled members that were re-parented to us, so none stays a zombie.

        A member that died of an earlier signal (the stop signal) is a zombie that
        no later scan finds, so every member signalled since the last call counts.
        """
        for pid in self.strays():
            reap_if_child(pid)
        if self._signalled is not None:
            self._signalled.clear()

    def __repr__(self) -> str:
        return f"<Tree root={self.root} pgid={self.pgid}>"


def kill(tree: Tree, timeout: float = KILL_TIMEOUT) -> list[int]:
    """SIGKILL the whole tree and wait until it is gone; returns survivors (normally [])."""
    deadline = time.monotonic() + timeout
    try:
        for _ in range(_MAX_ROUNDS):
            pids = tree.send_kill()
            if not pids:
                return []
            wait_all_gone(pids, min(_ROUND_WAIT, max(deadline - time.monotonic(), 0)))
            if time.monotonic() >= deadline:
                break
        return tree.members()
    finally:
        wait_all_gone(tree.strays(), max(deadline - time.monotonic(), 0))
        tree.reap_adopted()


async def kill_async(tree: Tree, timeout: float = KILL_TIMEOUT) -> list[int]:
    """The async twin of `kill`: same rounds, waiting on the event loop."""
    deadline = time.monotonic() + timeout
    try:
        for _ in range(_MAX_ROUNDS):
            pids = await tree.send_kill_async()
            if not pids:
                return []
            await wait_all_gone_async(pids, min(_ROUND_WAIT, max(deadline - time.monotonic(), 0)))
            if time.monotonic() >= deadline:
                break
        return tree.members()
    finally:
        await wait_all_gone_async(tree.strays(), max(deadline - time.monotonic(), 0))
        tree.reap_adopted()


async def wait_all_gone_async(pids: list[int], timeout: float) -> None:
    """Wait on the loop until every pid has exited (pidfds), or `timeout` passes."""
    fds: list[int] = []
    unwatched = False
    for pid in pids:
        fd = open_watch_fd(pid)
        if fd is None:
            unwatched = True
        else:
            fds.append(fd)
    try:
        await wait_pidfds(fds, timeout)
        if unwatched:  # no pidfd here: bounded back-off re-checks, on the loop
            await _poll_gone(pids, time.monotonic() + timeout)
    finally:
        for fd in fds:
            os.close(fd)


async def wait_pidfds(fds: Sequence[int], timeout: float) -> None:
    """Wait on the loop until each pidfd is readable (its process exited), or `timeout`.

    The fds stay open: they belong to the caller.
    """
    if not fds:
        return
    loop = asyncio.get_running_loop()
    waiters: list[asyncio.Future[None]] = []
    try:
        for fd in fds:
            done: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _settle, done)
            waiters.append(done)
        await asyncio.wait(waiters, timeout=timeout)
    finally:
        for fd in fds[: len(waiters)]:
            loop.remove_reader(fd)


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)


async def _poll_gone(pids: list[int], deadline: float) -> None:
    delay = 0.001
    while time.monotonic() < deadline and wait_all_gone(pids, 0):
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


class _ScanBatch:
    """Tree scans asked for while no scan runs, answered by one pass over /proc.

    Stopping a thousand programs at once would otherwise scan /proc a thousand
    times back to back, blocking the loop for seconds (docs/performance.md). The
    pass runs in a worker thread (a pass over a thousand processes held the loop
    35 ms); scans asked for meanwhile wait for the next pass, which starts when
    this one ends.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: list[tuple[bytes, int | None, asyncio.Future[list[tuple[int, int]]]]] = []
        self._scanning = False

    def find(self, marker: bytes, pgid: int | None) -> asyncio.Future[list[tuple[int, int]]]:
        """The members of one tree, found by the batch's next scan."""
        if not self._pending and not self._scanning:
            self._loop.call_soon(self._scan)
        found: asyncio.Future[list[tuple[int, int]]] = self._loop.create_future()
        self._pending.append((marker, pgid, found))
        return found

    def _scan(self) -> None:
        pending, self._pending = self._pending, []
        self._scanning = True
        specs = [(marker, pgid) for marker, pgid, _ in pending]
        scan = self._loop.run_in_executor(None, find_trees, specs)
        scan.add_done_callback(lambda done: self._answer(pending, done))

    def _answer(
        self,
        pending: list[tuple[bytes, int | None, asyncio.Future[list[tuple[int, int]]]]],
        scan: asyncio.Future[list[list[tuple[int, int]]]],
    ) -> None:
        self._scanning = False
        if self._pending:
            self._loop.call_soon(self._scan)
        error = asyncio.CancelledError() if scan.cancelled() else scan.exception()
        if error is not None:  # hand the failure to every waiter, not to the loop
            for *_, found in pending:
                if not found.done():
                    found.set_exception(error)
            return
        for (*_, found), members in zip(pending, scan.result(), strict=True):
            if not found.done():
                found.set_result(members)


_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ScanBatch] = (
    weakref.WeakKeyDictionary()
)


def _scans() -> _ScanBatch:
    loop = asyncio.get_running_loop()
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = _ScanBatch(loop)
    return batch
