"""Child: a launched process after the spawn; the ONE core every consumer holds.

`Process` and `AsyncProcess` (and so every pipeline stage) and each daemon instance
hold a `Child`: its pid and group, its tree, how it ended, and the sandbox cleanup
that follows the exit. Exits are decoded here once, so the library and the daemon
agree on them: an OOM kill is named as such (the cgroup counted it), and a status
that something else collected is `Exit.known == False`, never a success. Waiting is
not here: the sync handle polls `exit_fd`, the async handle and the daemon register
it with their loop, and each calls `collect()` when it is readable.
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import TYPE_CHECKING

from corral._platform import WaitStatus, reap_if_child, signal_name
from corral._process.exit import Exit
from corral._process.spawn import Launched
from corral._process.tree import Tree

if TYPE_CHECKING:
    from corral._sandbox.plan import CgroupRuntime

CgroupFigures = dict[str, int | float | None]


class Child:
    """One launched process: pid, group, tree, exit and sandbox; no waiting here."""

    __slots__ = ("_cgroup_usage", "_exit", "_launched", "_released", "tree")

    def __init__(self, launched: Launched) -> None:
        self._launched = launched
        self.tree = Tree(launched.pid, launched.pgid, launched.marker, self.cgroup)
        """Its process tree (group, marker, descendants, cgroup), found afresh on each use."""
        self._exit: Exit | None = None
        self._cgroup_usage: CgroupFigures | None = None
        self._released = False

    @property
    def launched(self) -> Launched:
        """What `launch` returned: argv, pid, our pipe ends, the start time."""
        return self._launched

    @property
    def pid(self) -> int:
        """The process id."""
        return self._launched.pid

    @property
    def exit_fd(self) -> int:
        """Readable once the process has exited: poll it, then call `collect`."""
        return self._launched.notifier.fd

    @property
    def exit(self) -> Exit | None:
        """How it ended, once collected; None while it runs."""
        return self._exit

    @property
    def cgroup(self) -> CgroupRuntime | None:
        """Its sandbox's cgroup, when the sandbox has cgroup limits."""
        plan = self._launched.sandbox
        return None if plan is None else plan.cgroup

    @property
    def limits(self) -> dict[str, object] | None:
        """The sandbox limits it runs under, for status (None without a sandbox)."""
        plan = self._launched.sandbox
        return None if plan is None else dict(plan.limits)

    @property
    def released(self) -> bool:
        """Whether `release` (or `release_async`) has run."""
        return self._released

    def collect(self) -> Exit | None:
        """Reap it if it has exited; the Exit from then on, None while it runs."""
        if self._exit is None:
            status = self._launched.notifier.collect()
            if status is not None:
                self._exit = self._decode(status)
        return self._exit

    def _decode(self, status: WaitStatus) -> Exit:
        name = None if status.signal is None else signal_name(status.signal)
        oom = status.signal == signal.SIGKILL and self._oom_counted()
        seen = self._launched.notifier.exited_at  # a waiter thread's wakeup, else now
        return Exit(code=status.code, signal=name, oom=oom, at=seen or time.monotonic())

    def _oom_counted(self) -> bool:
        cgroup = self.cgroup
        if cgroup is None:
            return False
        try:
            return bool(cgroup.usage().get("oom_kills"))
        except OSError:
            return False

    def cgroup_usage(self) -> CgroupFigures | None:
        """What its cgroup used (memory, CPU, pids, OOM kills); after release, the last figures.

        None without a cgroup, or when the cgroup cannot be read.
        """
        cgroup = self.cgroup
        if self._cgroup_usage is not None or cgroup is None:
            return self._cgroup_usage
        try:
            return cgroup.usage()
        except OSError:
            return None

    def release(self) -> None:
        """Close the exit fd; empty the cgroup, keep its last figures, remove it. Idempotent.

        Blocks while the cgroup empties (bounded): the async twin is `release_async`.
        """
        if self._close_notifier():
            self._clean_sandbox()

    async def release_async(self) -> None:
        """`release`, with the cgroup work on a thread so the event loop never waits for it."""
        if self._close_notifier():
            await asyncio.to_thread(self._clean_sandbox)

    def _close_notifier(self) -> bool:
        """Close the exit notifier once; True when there is sandbox work left to do."""
        if self._released:
            return False
        self._released = True
        self._launched.notifier.close()
        plan = self._launched.sandbox
        return plan is not None and bool(plan.cleanup)

    def _clean_sandbox(self) -> None:
        plan = self._launched.sandbox
        assert plan is not None
        cgroup = plan.cgroup
        if cgroup is not None:
            try:
                for pid in cgroup.kill_all():  # what outlived it dies with it
                    reap_if_child(pid)  # adopted by us (a subreaper): no zombie left
                self._cgroup_usage = cgroup.usage()
            except OSError:
                self._cgroup_usage = {}
        plan.undo()

    def __repr__(self) -> str:
        state = "running" if self._exit is None else self._exit.describe()
        return f"<Child pid={self.pid} {state}>"
