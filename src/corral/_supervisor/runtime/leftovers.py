"""Ending what a daemon that died left running, and nothing else.

When a daemon is killed its programs survive (each runs in its own process group)
and are re-parented to init or the nearest subreaper, so they are not descendants
of the next daemon: finding them takes a scan of every process on the machine.
Only processes provably from the recorded trees are signalled:

- a process that carries a recorded tree marker (a per-spawn id with a random
  part) in its environment, or descends from one;
- a recorded root whose start time, read in the same boot, equals the recorded one
  (pid and start time name one process within a boot).

Each candidate is pinned before anything is sent: a process table is read first,
the marker scan runs, then a pidfd is opened on each candidate and its start time
read again. Equal to the table's, the pidfd refers to the very process the scan
found (it held its pid throughout), and signals go through that pidfd
(pidfd_send_signal(2)), so a pid reused meanwhile cannot receive them. Without
pidfds, the signal goes by pid right after the check.

SIGTERM first; whatever is left after the grace gets SIGKILL, in rounds that also
catch children forked meanwhile. A recorded cgroup is then emptied and removed, if
it is one the dead daemon made (its parent directory is corral.<that daemon's pid>).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from corral._errors import CorralError
from corral._platform import (
    find_marked_anywhere,
    open_watch_fd,
    pidfd_exited,
    process_table,
    remove_cgroup_dir,
    send_to_pid,
    signal_pidfd,
)
from corral._process.tree import wait_pidfds
from corral._supervisor.runtime import checkpoint
from corral._supervisor.runtime.checkpoint import DaemonRecord, TreeRecord, booted_at, start_time

if TYPE_CHECKING:
    from corral._observe.events import EventLog

DEFAULT_GRACE = 10.0
"""Seconds between SIGTERM and SIGKILL when no recorded instance is configured any more."""

KILL_ROUNDS = 10
"""SIGKILL rounds at most: each kills what a new scan finds (children forked meanwhile)."""
KILL_WAIT = 1.0
"""Seconds one SIGKILL round waits for its processes to exit."""
GONE_POLL = 0.05
"""Longest pause between checks where there is no pidfd to wait on."""


@dataclass(slots=True)
class Ended:
    """What ending a dead daemon's leftovers did."""

    programs: list[str] = field(default_factory=list)
    """Instances that had at least one live process."""
    processes: int = 0
    """Processes signalled."""
    survivors: list[int] = field(default_factory=list)
    """Processes still alive after every round (normally none)."""
    cgroups: list[str] = field(default_factory=list)
    """Cgroup directories removed."""
    problems: list[str] = field(default_factory=list)
    """What could not be done (a cgroup that would not go), for the event."""


@dataclass(slots=True)
class _Pinned:
    """A verified leftover: its pid, its pidfd (None without pidfds) and its tree."""

    pid: int
    fd: int | None
    tree: TreeRecord


async def end_leftovers(previous: DaemonRecord, *, grace: Callable[[str], float]) -> Ended:
    """SIGTERM every live process of `previous`'s trees; SIGKILL each after its grace.

    `grace(name)` is the seconds an instance's processes get between the two.
    """
    ended = Ended()
    signalled: set[int] = set()
    if previous.trees:
        await _terminate(previous, grace, ended, signalled)
        for _ in range(KILL_ROUNDS):
            if not await _kill(previous, ended, signalled):
                break
    ended.processes = len(signalled)
    await asyncio.to_thread(_remove_cgroups, previous, ended)
    return ended


async def _terminate(
    previous: DaemonRecord, grace: Callable[[str], float], ended: Ended, signalled: set[int]
) -> None:
    """SIGTERM everything found, then SIGKILL each tree's survivors when its grace is over."""
    pinned = _pin(previous)
    try:
        _note(pinned, ended, signalled)
        _send(pinned, signal.SIGTERM)
        begun = time.monotonic()
        for seconds in sorted({grace(p.tree.name) for p in pinned}):
            due = [p for p in pinned if grace(p.tree.name) == seconds]
            await _wait_gone(due, max(begun + seconds - time.monotonic(), 0))
            _send([p for p in due if _alive(p)], signal.SIGKILL)
    finally:
        _close(pinned)


async def _kill(previous: DaemonRecord, ended: Ended, signalled: set[int]) -> bool:
    """SIGKILL what a new scan finds and wait for it; False if it found nothing."""
    pinned = _pin(previous)
    try:
        _note(pinned, ended, signalled)
        _send(pinned, signal.SIGKILL)
        await _wait_gone(pinned, KILL_WAIT)
        ended.survivors = [p.pid for p in pinned if _alive(p)]
        return bool(pinned)
    finally:
        _close(pinned)


def _note(pinned: list[_Pinned], ended: Ended, signalled: set[int]) -> None:
    signalled.update(p.pid for p in pinned)
    ended.programs = sorted({*ended.programs, *(p.tree.name for p in pinned)})


def _pin(previous: DaemonRecord) -> list[_Pinned]:
    """Every live process of the recorded trees, each pinned by a pidfd and verified."""
    before = {pid: usage.started for pid, usage in process_table().items()}
    candidates = _candidates(previous, before)
    me = os.getpid()
    pinned: list[_Pinned] = []
    for pid, tree in candidates.items():
        if pid == me or pid not in before:  # not in the table: checked in the next round
            continue
        try:
            fd = open_watch_fd(pid)
        except OSError:  # out of fds (thousands of leftovers): the next round tries again
            continue
        if start_time(pid) != before[pid]:  # gone, or its pid was reused meanwhile
            if fd is not None:
                os.close(fd)
            continue
        pinned.append(_Pinned(pid, fd, tree))
    return pinned


def _candidates(previous: DaemonRecord, before: dict[int, float]) -> dict[int, TreeRecord]:
    """pid -> its tree: marker carriers and their descendants, and roots of the right start."""
    trees = previous.trees
    # The whole machine, not only our descendants: the dead daemon's programs were
    # re-parented away from us. No process group is given, so a recorded group whose
    # number was reused cannot bring strangers in.
    found = find_marked_anywhere([t.marker.encode("latin-1") for t in trees])
    candidates: dict[int, TreeRecord] = {}
    for tree, members in zip(trees, found, strict=True):
        for pid in members:
            candidates.setdefault(pid, tree)
    if previous.same_boot(booted_at()):
        for tree in trees:
            if tree.started is not None and before.get(tree.pid) == tree.started:
                candidates.setdefault(tree.pid, tree)
    return candidates


def _send(pinned: Iterable[_Pinned], sig: int) -> None:
    for process in pinned:
        if process.fd is None:
            send_to_pid(process.pid, sig)
            continue
        signal_pidfd(process.fd, sig)


async def _wait_gone(pinned: list[_Pinned], timeout: float) -> None:
    """Wait until every pinned process has exited, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    await wait_pidfds([p.fd for p in pinned if p.fd is not None], timeout)
    delay = 0.001
    while any(p.fd is None and _alive(p) for p in pinned) and time.monotonic() < deadline:
        await asyncio.sleep(delay)  # no pidfd: no exit event for a stranger's child
        delay = min(delay * 2, GONE_POLL)


def _alive(process: _Pinned) -> bool:
    if process.fd is not None:
        return not pidfd_exited(process.fd)
    return start_time(process.pid) is not None


def _close(pinned: Iterable[_Pinned]) -> None:
    for process in pinned:
        if process.fd is not None:
            os.close(process.fd)
            process.fd = None


def _remove_cgroups(previous: DaemonRecord, ended: Ended) -> None:
    """Empty and remove each recorded cgroup the dead daemon made (runs in a thread)."""
    if not any(tree.cgroup for tree in previous.trees):
        return
    own = f"corral.{previous.pid}"
    for directory in (d for tree in previous.trees for d in tree.cgroup):
        if os.path.basename(os.path.dirname(directory)) != own or not os.path.isdir(directory):
            continue  # not one it made, or gone already
        try:
            remove_cgroup_dir(directory)
        except OSError as exc:
            ended.problems.append(f"cannot remove cgroup {directory}: {exc.strerror or exc}")
        else:
            ended.cgroups.append(directory)


# -- at the daemon's start ------------------------------------------------------------


def previous_daemon(path: str, events: EventLog) -> DaemonRecord | None:
    """The record of the daemon that wrote the state file, if it died without cleaning up.

    CorralError if that daemon still runs (same pid and start time): two daemons must
    not supervise the same programs. An unreadable file is a warning event and None:
    it never stops a start, and nothing is signalled on its word.
    """
    try:
        record = checkpoint.read(path)
    except checkpoint.CorruptState as exc:
        events.emit(
            "daemon",
            "",
            level="warning",
            message=f"ignoring the state file {path}: {exc}; "
            "no program a previous daemon left running was looked for",
        )
        return None
    if record is not None and _still_running(record):
        raise CorralError(
            f"the daemon that owns the state file {path} is still running (pid {record.pid}); "
            "stop it, or give this daemon another state_file and socket"
        )
    return record


def _still_running(record: DaemonRecord) -> bool:
    return (
        record.pid != os.getpid()
        and record.same_boot(booted_at())
        and start_time(record.pid) == record.started
    )


async def end_previous(
    previous: DaemonRecord, events: EventLog, stop_timeouts: Mapping[str, float]
) -> Ended:
    """End what `previous` left running, then say so in one event.

    An instance's processes get its configured `stop_timeout` between SIGTERM and
    SIGKILL, or `DEFAULT_GRACE` if the instance is no longer configured.
    """
    ended = await end_leftovers(previous, grace=lambda name: stop_timeouts.get(name, DEFAULT_GRACE))
    count = len(ended.programs)
    if count:
        noun = "program" if count == 1 else "programs"
        message = f"ended {count} {noun} left running by a previous daemon (pid {previous.pid})"
    else:
        message = (
            f"a previous daemon (pid {previous.pid}) did not shut down cleanly; "
            "none of its programs was still running"
        )
    level = "warning" if ended.survivors or ended.problems else "info"
    if ended.survivors:
        message += f"; still alive after SIGKILL: {', '.join(map(str, ended.survivors))}"
    for problem in ended.problems:
        message += f"; {problem}"
    events.emit(
        "daemon",
        "",
        level=level,
        message=message,
        previous_pid=previous.pid,
        programs=ended.programs,
        processes=ended.processes,
        cgroups=ended.cgroups,
    )
    return ended
