"""The daemon's handover to its keeper: each new process's fds, as soon as it exists.

Under a keeper (decision 0020) the daemon `put`s every spawned instance's pidfd and
pipe read ends before the spawn's outcome is applied, and `drop`s them once it has
collected the exit: the keeper then holds, at every instant, what a successor needs.
A keeper that goes away (killed) is a warning event; the daemon carries on without
one, and a crash of it is then handled from the state file as without a keeper.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from corral._keeper import protocol
from corral._keeper.link import KeeperGone, KeeperLink, Snapshot, SnapshotBuilder
from corral._keeper.protocol import ProtocolError
from corral._platform import (
    find_marked_anywhere,
    open_watch_fd,
    signal_pidfd,
    widen_scan_scope,
)

if TYPE_CHECKING:
    from corral._observe.events import EventLog
    from corral._process.spawn import Launched
    from corral._supervisor.runtime.driver import InstanceDriver


class KeeperHandover:
    """Hands each instance's fds to the keeper; silent once the keeper is gone."""

    __slots__ = ("_events", "_link", "_loop", "_queue", "keeper_pid", "puts")

    def __init__(self, link: KeeperLink | None, events: EventLog) -> None:
        self._link = link
        if link is not None:
            link.setblocking(False)  # never wait on the loop: a full socket queues instead
        self._events = events
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[tuple[protocol.Message, list[int]]] | None = None
        """Messages (with our own copies of their fds) waiting for the socket to drain."""
        self.keeper_pid: int | None = None
        self.puts = 0
        """How many processes were handed over (the tests count them)."""

    @classmethod
    def from_environment(cls, events: EventLog) -> KeeperHandover:
        """The handover to the keeper that spawned us (CORRAL_KEEPER_FD); inert without one."""
        return cls(KeeperLink.from_environment(), events)

    @property
    def connected(self) -> bool:
        """Whether a keeper holds what this daemon hands over."""
        return self._link is not None

    async def greet(self) -> Snapshot | None:
        """Say hello and take what the keeper holds (a dead predecessor's); None if gone."""
        link = self._link
        if link is None:
            return None
        builder = SnapshotBuilder()
        try:
            link.send_hello()  # the socket is empty at start: this cannot find it full
            while True:
                try:
                    received = link.receive()
                except BlockingIOError:
                    await _until_readable(link.fileno())
                    continue
                if builder.take(*received):
                    break
        except (KeeperGone, ProtocolError, BlockingIOError) as exc:
            self._lost(str(exc))
            return None
        snapshot = builder.snapshot
        assert snapshot is not None
        self.keeper_pid = snapshot.keeper
        widen_scan_scope(snapshot.keeper)  # adopted trees are below the keeper, not below us
        return snapshot

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Notice on the loop when the keeper goes away (its end of the socket closes)."""
        if self._link is not None:
            self._loop = loop
            loop.add_reader(self._link.fileno(), self._readable)

    def _readable(self) -> None:
        link = self._link
        if link is None:
            return
        try:
            received = link.unasked()
        except (OSError, ProtocolError) as exc:
            self._lost(str(exc))
            return
        if received is None:
            self._lost("it closed the connection")
            return
        for fd in received[1]:  # nothing is expected: drop it
            os.close(fd)

    def spawned(
        self, name: str, launched: Launched, pidfd: int | None, extra: Mapping[str, int]
    ) -> None:
        """A new process of instance `name`: hand its pidfd, pipe read ends and `extra`
        (the exact-log staging pipes and record) over."""
        if self._link is None or pidfd is None:
            return
        fds = {"pidfd": pidfd, **extra}
        if launched.stdout is not None:
            fds["stdout"] = launched.stdout
        if launched.stderr is not None:
            fds["stderr"] = launched.stderr
        meta = {"pgid": launched.pgid, "marker": launched.marker.decode("latin-1")}
        message = {"op": "put", "id": name, "pid": launched.pid, "kinds": list(fds), "meta": meta}
        self._send(message, list(fds.values()))
        self.puts += 1

    def collected(self, name: str) -> None:
        """Instance `name`'s process was collected: the keeper lets its fds go."""
        self._send({"op": "drop", "id": name}, [])

    def bye(self) -> None:
        """A clean shutdown: the keeper exits with this daemon."""
        self._send({"op": "bye"}, [])

    def _send(self, message: protocol.Message, fds: list[int]) -> None:
        """Send now, or queue behind what the socket could not take yet (fds duplicated:
        the caller may close its own before the queue drains)."""
        link = self._link
        if link is None:
            return
        if self._queue is None:
            try:
                link.send(message, fds)
                return
            except BlockingIOError:
                self._queue = []
                if self._loop is not None:
                    self._loop.add_writer(link.fileno(), self._drain)
            except KeeperGone as exc:
                self._lost(str(exc))
                return
        self._queue.append((message, [os.dup(fd) for fd in fds]))

    def _drain(self) -> None:
        """The socket can take more: send what waited, in order."""
        queue, link = self._queue, self._link
        while queue and link is not None:
            message, fds = queue[0]
            try:
                link.send(message, fds)
            except BlockingIOError:
                return
            except KeeperGone as exc:
                self._lost(str(exc))
                return
            queue.pop(0)
            for fd in fds:
                os.close(fd)
        self._queue = None
        if link is not None and self._loop is not None:
            self._loop.remove_writer(link.fileno())

    def _lost(self, reason: str) -> None:
        link, self._link = self._link, None
        if link is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(link.fileno())
            self._loop.remove_writer(link.fileno())
        for _, fds in self._queue or ():
            for fd in fds:
                os.close(fd)
        self._queue = None
        link.close()
        pid = "" if self.keeper_pid is None else f" (pid {self.keeper_pid})"
        self._events.emit(
            "daemon",
            "",
            level="warning",
            message=f"the keeper{pid} is gone: {reason}; programs are supervised as before, "
            "but a crash of this daemon now ends them instead of handing them over",
        )

    def close(self) -> None:
        """Close the link (at the very end of a shutdown)."""
        link, self._link = self._link, None
        if link is not None:
            if self._loop is not None:
                self._loop.remove_reader(link.fileno())
            link.close()


async def _until_readable(fd: int) -> None:
    """Wait on the loop until `fd` is readable."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def adoptable(driver: InstanceDriver) -> bool:
    """Whether an instance's process can be taken over: not one with daemon-owned sockets,
    a readiness channel or a sandbox (their sockets and cgroups are not handed over yet)."""
    program = driver.program
    return (
        not program.sockets and program.restart.notify is None and program.process.sandbox is None
    )


def adopt_held(
    held: Snapshot,
    drivers: Mapping[str, InstanceDriver],
    keeper: KeeperHandover,
    events: EventLog,
    *,
    began: float,
) -> dict[str, int]:
    """Take over every held process whose instance is still configured and adoptable.

    Returns the adopted instances' root pids by name. `began` (perf_counter) is when the
    greeting started: the event says how long greeting and adopting took. Whatever is
    not adopted is let go from the keeper and left to the state file's path (ended as a
    leftover); a child of the keeper that no entry names and no adopted tree's marker
    claims (started by the dead daemon, which died before it could hand it over) is
    killed through a pidfd, so none runs untracked.
    """
    adopted: dict[str, int] = {}
    markers: list[bytes] = []
    for entry in held.entries:
        driver = drivers.get(entry.id)
        if driver is None or not adoptable(driver) or "pidfd" not in entry.fds:
            entry.close()
            keeper.collected(entry.id)
            continue
        meta = entry.meta
        driver.adopt(entry.pid, int(meta["pgid"]), str(meta["marker"]), entry.fds, entry.status)
        entry.close()  # what adopt did not take (none, normally)
        adopted[entry.id] = entry.pid
        markers.append(str(meta["marker"]).encode("latin-1"))
    strays = [pid for pid in _strangers(held.children, markers) if _kill_pinned(pid)]
    count = len(adopted)
    exited = [e.id for e in held.entries if e.id in adopted and e.status is not None]
    message = f"adopted {count} {'program' if count == 1 else 'programs'} from the keeper"
    if held.keeper:
        message += f" (pid {held.keeper})"
    if exited:
        message += f"; exited while no daemon ran: {', '.join(exited)}"
    if strays:
        message += f"; killed {len(strays)} never handed over: {', '.join(map(str, strays))}"
    events.emit(
        "daemon",
        "",
        message=message,
        adopted=sorted(adopted),
        exited=exited,
        killed=strays,
        seconds=round(time.perf_counter() - began, 6),
    )
    return adopted


def _strangers(children: list[int], markers: list[bytes]) -> list[int]:
    """The keeper's children that are no member of an adopted tree (by its marker): a
    program's own orphaned helper, re-parented to the keeper, belongs to its tree."""
    if not children:
        return []
    members = {pid for tree in find_marked_anywhere(markers) for pid in tree} if markers else set()
    return [pid for pid in children if pid not in members]


def _kill_pinned(pid: int) -> bool:
    """SIGKILL `pid` through a pidfd (a pid reused meanwhile is not hit); False if gone."""
    fd = open_watch_fd(pid)
    if fd is None:
        return False
    try:
        return signal_pidfd(fd, signal.SIGKILL)
    finally:
        os.close(fd)
