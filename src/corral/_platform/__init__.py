"""The platform layer: the only code that talks to the kernel.

Implementations are chosen here, once, from `features`; everything above imports
these names and never checks the platform itself. Each choice has an override
(`features.override`) so the fallback runs in the tests on Linux too.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from corral._platform import features as _features
from corral._platform.features import Feature, FeatureStatus
from corral._platform.linux.exchange import REFUSED as EXCHANGE_REFUSED  # any POSIX
from corral._platform.linux.exchange import exchange as exchange_names
from corral._platform.linux.inspect import OpenFile, ProcessInfo, Socket  # any POSIX
from corral._platform.linux.pidfd import PidfdExitNotifier  # imports on any POSIX
from corral._platform.linux.procfs import ProcStat  # imports on any POSIX
from corral._platform.membership import CgroupMembers, TreeIdentity
from corral._platform.posix import child as _child
from corral._platform.posix import fds as _fds
from corral._platform.posix import spawn as _posix_spawn
from corral._platform.posix.child import (
    ChildStep,
    ChildStepFailed,
    Forker,
    PendingExec,
    read_report,
)
from corral._platform.posix.exits import (
    UNKNOWN,
    ExitNotifier,
    ThreadExitNotifier,
    WaitStatus,
    decode_status,
    reap_any,
)
from corral._platform.posix.fds import Strays
from corral._platform.posix.filelock import is_locked, open_lock_file, try_lock, unlock
from corral._platform.posix.filelock import read_record as read_lock_record
from corral._platform.posix.filelock import write_record as write_lock_record
from corral._platform.posix.groups import send_to_group, send_to_pid
from corral._platform.posix.listeners import (
    bind_tcp,
    bind_unix,
    bind_unix_path,
    remove_stale_socket,
    set_backlog,
    set_mode,
    socket_inode,
    unlink_socket,
)
from corral._platform.posix.rlimits import children_nofile, inherited_nofile_for_spawn
from corral._platform.posix.signals import parse_signal, signal_name
from corral._platform.posix.sockets import (
    Datagram,
    bind_credentials_datagram,
    max_unix_socket_path,
    peer_credentials,
    receive_datagram,
)
from corral._platform.posix.trust import ensure_directory

__all__ = [
    "EXCHANGE_REFUSED",
    "UNKNOWN",
    "CgroupMembers",
    "ChildStep",
    "ChildStepFailed",
    "Datagram",
    "ExitNotifier",
    "Feature",
    "FeatureStatus",
    "Forker",
    "OpenFile",
    "PendingExec",
    "ProcStat",
    "ProcessInfo",
    "Socket",
    "Strays",
    "TreeIdentity",
    "WaitStatus",
    "become_subreaper",
    "begin_fork_exec",
    "bind_credentials_datagram",
    "bind_tcp",
    "bind_unix",
    "bind_unix_path",
    "boot_clock",
    "close_on_exec_inherited",
    "decode_status",
    "devnull_fd",
    "ensure_directory",
    "environ_bytes",
    "exchange_names",
    "fd_above_stdio",
    "fd_at_or_above",
    "feature_status",
    "features",
    "find_marked_anywhere",
    "find_strays",
    "find_tree",
    "find_trees",
    "fork_exec",
    "inspect_processes",
    "is_locked",
    "is_tree_member",
    "max_unix_socket_path",
    "open_exit_notifier",
    "open_fds",
    "open_lock_file",
    "open_watch_fd",
    "override_feature",
    "parse_signal",
    "peer_credentials",
    "pidfd_exited",
    "prepare_fd_listing",
    "process_credentials",
    "process_table",
    "read_lock_record",
    "read_report",
    "read_stats",
    "reap_any",
    "reap_if_child",
    "receive_datagram",
    "remove_cgroup_dir",
    "remove_stale_socket",
    "send_to_group",
    "send_to_pid",
    "set_backlog",
    "set_mode",
    "signal_name",
    "signal_pidfd",
    "socket_inode",
    "spawn",
    "tree_members",
    "try_lock",
    "unlink_socket",
    "unlock",
    "wait_all_gone",
    "write_lock_record",
]


def begin_fork_exec(
    path: str,
    argv: Sequence[str],
    env: Mapping[bytes, bytes],
    *,
    cwd: str | None,
    fd_map: Sequence[tuple[int, int]],
    pass_fds: Sequence[int],
    pgroup: int | None,
    new_session: bool,
    steps: Sequence[ChildStep],
    forker: Forker | None = None,
    after_fork: Sequence[Callable[[int], None]] = (),
    pid_variable: bytes | None = None,
) -> PendingExec:
    """The fork path for sandboxed spawns and socket handover, up to the fork
    (see posix/child.py)."""
    from corral._platform import libc

    libc.handle()  # loaded in the parent: a step's first use must not load it in the child
    return _child.begin_fork_exec(
        path, argv, env, cwd=cwd, fd_map=fd_map, pass_fds=pass_fds, pgroup=pgroup,
        new_session=new_session, steps=steps, forker=forker or os.fork, after_fork=after_fork,
        close_range=libc.symbol("close_range"),
        pid_variable=pid_variable,
    )  # fmt: skip


def fork_exec(
    path: str,
    argv: Sequence[str],
    env: Mapping[bytes, bytes],
    *,
    cwd: str | None,
    fd_map: Sequence[tuple[int, int]],
    pass_fds: Sequence[int],
    pgroup: int | None,
    new_session: bool,
    steps: Sequence[ChildStep],
    forker: Forker | None = None,
    after_fork: Sequence[Callable[[int], None]] = (),
) -> int:
    """`begin_fork_exec`, then wait in place until the child exec'd (or raise its failure)."""
    return begin_fork_exec(
        path, argv, env, cwd=cwd, fd_map=fd_map, pass_fds=pass_fds, pgroup=pgroup,
        new_session=new_session, steps=steps, forker=forker, after_fork=after_fork,
    ).wait()  # fmt: skip


_strays = _fds.StrayFinder()
"""One per process: whether our fd table was crowded last time is its only state."""

features = _features.features
feature_status = _features.status
override_feature = _features.override


def find_strays(keep: Collection[int] = ()) -> Strays:
    """Our inheritable fds above stderr, less `keep`, that a child must not get (posix/fds.py).

    Call it before opening the child's pipes (close-on-exec, so never strays): they
    would only lengthen the listing. Pass the result to `spawn`.
    """
    found = _strays.find(
        keep,
        can_list=_features.has(Feature.FD_LISTING),
        can_close_from=_features.has(Feature.SPAWN_CLOSEFROM),
    )
    return Strays(() if found is None else tuple(found), close_from=found is None)


def spawn(
    path: str,
    argv: Sequence[str],
    env: Mapping[bytes, bytes],
    *,
    cwd: str | None,
    fd_map: Sequence[tuple[int, int]],
    pgroup: int | None,
    new_session: bool,
    strays: Strays | None = None,
) -> int:
    """Start `path` without forking the interpreter; raises OSError on failure.

    The child gets the `fd_map` targets and stdio, no other fd of ours: `strays`
    (from `find_strays`, found now when None) are closed in it after the dup2s.
    """
    given = {dst for _, dst in fd_map}
    if strays is None:
        strays = find_strays(given)
    close = strays.fds
    nofile = children_nofile()
    if not strays.close_from and cwd is None:
        if nofile is None:  # the library's case, and a daemon not raised
            return _posix_spawn.spawn(
                path, argv, env, fd_map=fd_map, pgroup=pgroup, new_session=new_session,
                close=close,
            )  # fmt: skip
        if all(fd < nofile[0] for fd, _ in fd_map) and all(fd < nofile[0] for fd in close):
            # glibc checks each dup2 source (and close target) against the soft limit when
            # the call builds its file actions: below the programs' limit, lowering ours
            # around the call is enough, and costs two setrlimit calls, not the ctypes path's.
            with inherited_nofile_for_spawn():
                return _posix_spawn.spawn(
                    path, argv, env, fd_map=fd_map, pgroup=pgroup, new_session=new_session,
                    close=close,
                )  # fmt: skip
    if cwd is None or _features.has(Feature.SPAWN_CHDIR):  # also a daemon's raised NOFILE
        from corral._platform.linux.spawn_chdir import spawn_in

        close_from = None
        if strays.close_from:  # crowded, or no listing: close from the first fd not given
            close_from = max(given | {2}) + 1
            close = tuple(_fds.inheritable(range(3, close_from), given))
        return spawn_in(
            path, argv, env, cwd=cwd, fd_map=fd_map, pgroup=pgroup, new_session=new_session,
            close=close, close_from=close_from,
        )  # fmt: skip
    if strays.close_from:  # the shell fallback, with addchdir switched off only
        listing = _features.has(Feature.FD_LISTING)
        close = tuple(_strays.find(given, can_list=listing, can_close_from=False) or ())
    path, argv = _posix_spawn.shell_chdir_argv(path, argv, cwd)
    return _posix_spawn.spawn(
        path, argv, env, fd_map=fd_map, pgroup=pgroup, new_session=new_session, close=close
    )


def environ_bytes() -> dict[bytes, bytes]:
    """A copy of our environment as bytes, without decoding each variable.

    `os.environ` decodes every key and value on each copy (about 30 µs for 35
    variables here); the spawn path only needs bytes, which CPython keeps in
    `os.environ._data` on POSIX. Fall back to `os.environb` elsewhere.
    """
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict):
        return dict(data)
    return dict(os.environb)


@functools.cache
def devnull_fd() -> int:
    """One shared, close-on-exec fd on /dev/null (read-write), opened on first use."""
    fd = fd_above_stdio(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
    _fds.OWN.add(fd)  # never a stray: a spawn need not probe it
    return fd


def fd_above_stdio(fd: int) -> int:
    """`fd` itself if it is 3 or above, else a close-on-exec copy >= 3 (and `fd` closed)."""
    return fd_at_or_above(fd, 3)


def fd_at_or_above(fd: int, low: int) -> int:
    """`fd` itself if it is `low` or above, else a close-on-exec copy >= `low` (`fd` closed)."""
    if fd >= low:
        return fd
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)
    os.close(fd)
    return moved


def prepare_fd_listing() -> None:
    """Open the directory spawns list our fds through (posix/fds.py), if there is one."""
    if _features.has(Feature.FD_LISTING):
        _fds.listed_fds()


def close_on_exec_inherited(keep: Iterable[int] = ()) -> list[int]:
    """Mark every fd above stderr close-on-exec, except `keep`; returns those changed.

    For a daemon at start: an fd its launcher leaked to it (a shell's pipe, a
    socket) is then closed at exec in every program, whichever way it is started.
    The fds come from /proc/self/fd where it exists, else a probe of each number
    below the soft RLIMIT_NOFILE (posix/fds.py).
    """
    listed = _fds.listed_fds()
    changed = _fds.inheritable(_fds.probed_range() if listed is None else listed, set(keep))
    for fd in changed:
        os.set_inheritable(fd, False)
    return changed


def open_exit_notifier(pid: int) -> ExitNotifier:
    """An fd that becomes readable when our child `pid` exits: pidfd, else a waiter thread."""
    if _features.has(Feature.PIDFD):
        return PidfdExitNotifier(pid)
    return ThreadExitNotifier(pid)


def open_watch_fd(pid: int) -> int | None:
    """A pidfd on any process (readable once it exits), None if gone or unsupported."""
    if not _features.has(Feature.PIDFD):
        return None
    from corral._platform.linux.pidfd import open_pidfd

    return open_pidfd(pid)


def find_tree(marker: bytes, pgid: int | None) -> list[tuple[int, int]]:
    """(pid, pgid) of each live member of a tree (see linux/procfs.py); [] without /proc.

    As a child subreaper, only our descendants are searched for the marker.
    """
    return find_trees([(marker, pgid)])[0]


def find_trees(requests: list[tuple[bytes, int | None]]) -> list[list[tuple[int, int]]]:
    """`find_tree` for many (marker, pgid) requests in one /proc pass (the same scan as
    `tree_members`, which also names each root and cgroup)."""
    if not _features.has(Feature.PROC_SCAN):
        return [[] for _ in requests]
    from corral._platform.linux.procfs import Query, subreaper_scope
    from corral._platform.linux.procfs import find_trees as scan

    found = scan([Query(marker, pgid) for marker, pgid in requests], within=subreaper_scope())
    return [[(stat.pid, stat.pgid) for stat in tree] for tree in found]


def tree_members(
    trees: Sequence[TreeIdentity], wanted: Collection[int] | None = None
) -> list[list[ProcStat]]:
    """The live members of each tree, with their use, in one /proc pass; [] without /proc.

    The membership that stopping a tree acts on (linux/procfs.py says what a member
    is), for counting and charging it: root, group, marker, cgroup, descendants.
    With `wanted` (indexes into `trees`) only those trees' lists are complete: the
    others are passed so that they claim their own processes (`find_trees`).
    """
    if not _features.has(Feature.PROC_SCAN):
        return [[] for _ in trees]
    from corral._platform.linux.procfs import Query, subreaper_scope
    from corral._platform.linux.procfs import find_trees as scan

    queries = [
        Query(tree.marker, tree.pgid, tree.root, () if (c := tree.cgroup) is None else c.members())
        for tree in trees
    ]
    return scan(queries, within=subreaper_scope(), wanted=wanted)


def inspect_processes(pids: Sequence[int]) -> list[ProcessInfo]:
    """A snapshot of each process (`linux/inspect.py`); UnsupportedFeature without /proc."""
    _features.status(Feature.PROC_SCAN).require()
    from corral._platform.linux import inspect

    known = inspect.sockets()
    return [inspect.snapshot(pid, known) for pid in pids]


def process_credentials(pid: int | str) -> ProcessInfo:
    """What bounds one process, "self" for ours (`linux/inspect.py` credentials):
    uids, capability sets, seccomp, no_new_privs, umask, namespaces. UnsupportedFeature
    without /proc; OSError when the process is gone."""
    _features.status(Feature.PROC_SCAN).require()
    from corral._platform.linux import inspect

    return inspect.credentials(pid)


def is_tree_member(tree: TreeIdentity, pid: int) -> bool:
    """Whether `pid` is a live member of `tree`, by the one definition `tree_members` holds.

    The root (the pid corral spawned) is one without a scan; any other pid costs one /proc
    pass (the scan stop and sampling use).
    """
    if pid <= 0:
        return False
    if pid == tree.root:
        return True
    return any(stat.pid == pid for stat in tree_members([tree])[0])


def find_marked_anywhere(markers: Sequence[bytes]) -> list[list[int]]:
    """Pids of live processes carrying each marker, or descending from one, machine-wide.

    Unlike `find_trees`, never limited to our descendants and never by process group:
    for trees a dead daemon left (re-parented away from us, their group numbers
    possibly reused). [] per marker without /proc.
    """
    if not _features.has(Feature.PROC_SCAN):
        return [[] for _ in markers]
    from corral._platform.linux.procfs import Query
    from corral._platform.linux.procfs import find_trees as scan

    found = scan([Query(marker, None) for marker in markers], within=None)
    return [[stat.pid for stat in tree] for tree in found]


def signal_pidfd(fd: int, sig: int) -> bool:
    """Send `sig` through a pidfd (it cannot reach a process that reused the pid); False if gone."""
    try:
        signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        return False
    return True


def pidfd_exited(fd: int) -> bool:
    """True once the process behind a pidfd has exited (the fd reads as readable)."""
    return bool(select.select([fd], [], [], 0)[0])


def remove_cgroup_dir(directory: str) -> None:
    """Kill whatever is in one cgroup directory and remove it (v1 or v2; OSError if it stays).

    For cgroups another daemon made: `cgroup.procs` lists members in both layouts,
    and where `cgroup.kill` is missing (v1) each member gets SIGKILL.
    """
    from corral._platform.linux.cgroups.v2 import V2Cgroup

    V2Cgroup(directory).remove()


def reap_if_child(pid: int) -> None:
    """Collect `pid` if it is an exited child of ours (an orphan we adopted as subreaper)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_all_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Block until every pid has exited or `timeout` passes; returns the ones still alive."""
    deadline = time.monotonic() + timeout
    watched: dict[int, int] = {}
    alive: list[int] = []
    for pid in pids:
        fd = open_watch_fd(pid)
        if fd is not None:
            watched[fd] = pid
        elif _exists(pid):
            alive.append(pid)
    try:
        _wait_fds(watched, deadline)
    finally:
        for fd in watched:
            os.close(fd)
    return [pid for pid in watched.values() if _exists(pid)] + _wait_exists(alive, deadline)


def _wait_fds(watched: dict[int, int], deadline: float) -> None:
    poller = select.poll()
    for fd in watched:
        poller.register(fd, select.POLLIN)
    pending = set(watched)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        for fd, _ in poller.poll(left * 1000):
            poller.unregister(fd)
            pending.discard(fd)


def _wait_exists(pids: list[int], deadline: float) -> list[int]:
    # Without pidfds there is no exit event for a process that is not our child;
    # re-check with a short, bounded back-off until the deadline.
    delay = 0.001
    while pids and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
        pids = [pid for pid in pids if _exists(pid)]
    return pids


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if _features.has(Feature.PROC_SCAN):
        from corral._platform.linux.procfs import read_stat

        stat = read_stat(pid)
        return stat is not None and stat.live
    return True


def process_table() -> dict[int, ProcStat]:
    """Parentage, CPU and RSS of every live process; {} where /proc is unavailable."""
    if not _features.has(Feature.PROC_SCAN):
        return {}
    from corral._platform.linux.procfs import all_pids, read_stats

    return read_stats(all_pids())


def read_stats(pids: Iterable[int]) -> dict[int, ProcStat]:
    """`process_table` for the given pids only (gone ones left out); {} without /proc."""
    if not _features.has(Feature.PROC_SCAN):
        return {}
    from corral._platform.linux.procfs import read_stats as read

    return read(pids)


def open_fds(pid: int) -> int | None:
    """How many fds a process has open; None when it cannot be read (gone, another
    user's, or no /proc)."""
    if not _features.has(Feature.PROC_SCAN):
        return None
    from corral._platform.linux.procfs import count_fds

    return count_fds(pid)


def boot_clock() -> float:
    """The clock of `ProcStat.started`: seconds since boot where /proc exists."""
    if not _features.has(Feature.PROC_SCAN):
        return time.monotonic()
    from corral._platform.linux.procfs import boot_clock as clock

    return clock()


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux); UnsupportedFeature elsewhere."""
    _features.status(Feature.SUBREAPER).require()
    from corral._platform.linux.prctl import set_child_subreaper

    set_child_subreaper(True)
