"""The state file: which daemon runs, and the process tree of each of its live instances.

The daemon rewrites the file whenever an instance changes state, so that after a
crash the next daemon knows what may still be running and can end it (see
leftovers.py) instead of starting a duplicate beside it. Each tree is named by its
root pid together with that process's start time (field 22 of /proc/PID/stat, in
seconds since boot), so a pid reused by an unrelated process is never mistaken
for it, and by the tree marker every member carries in its environment.

Writes are atomic (a fresh, randomly named temporary file in the same
directory, never one found there, then rename; no fsync, see `write`) and the
file is private (0600). However many instances change in one iteration of the
event loop, the file is written once, two iterations later (so a restart due now
spawns first and is in the record), on a thread of its own (so nothing on the
loop waits for the disk): stopping a thousand instances does not write it a
thousand times. A clean shutdown removes it, unless `corral scale` resized a program:
then it is left holding only the scales, marked `clean`, for the next daemon to apply.
Its presence at start without that mark means the last daemon did not stop cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeGuard

from corral._platform import boot_clock, read_stats
from corral._process.spawn import TREE_VARIABLE
from corral._supervisor.model.scale import Scaled

if TYPE_CHECKING:
    from corral._observe.events import Event, EventLog
    from corral._supervisor.view import TreeView

FORMAT = 1
"""The version of the file's JSON layout; another version is not read."""

SAME_BOOT = 30.0
"""Seconds by which two readings of the boot time may differ and still be one boot.

The boot time is derived (wall clock minus time since boot), so clock adjustments
move it a little; a reboot moves it by at least the previous boot's uptime.
"""

_MARKER_PREFIX = TREE_VARIABLE + "="


class CorruptState(ValueError):
    """The state file cannot be read or does not hold what a daemon writes there."""


@dataclass(frozen=True, slots=True)
class TreeRecord:
    """One live instance's process tree, as the state file names it."""

    name: str
    """The instance, such as "web:0"."""
    pid: int
    """The root process (the program corral started)."""
    pgid: int
    """Its process group."""
    started: float | None
    """The root's start time in seconds since boot; None if it had already exited."""
    marker: str
    """The b"CORRAL_TREE=..." entry every member's environment carries, as text."""
    cgroup: tuple[str, ...] = ()
    """The instance's cgroup directories, when its sandbox has a cgroup."""


@dataclass(frozen=True, slots=True)
class DaemonRecord:
    """What one daemon wrote: who it is and the trees it had running."""

    pid: int
    started: float
    """The daemon's own start time in seconds since boot: with `pid`, names it."""
    booted: float
    """When the machine booted (seconds since the epoch): start times are per boot."""
    trees: tuple[TreeRecord, ...] = ()
    scales: Mapping[str, Scaled] = field(default_factory=dict)
    """Programs `corral scale` resized, by name: a daemon started next applies them."""
    clean: bool = False
    """Written by a clean shutdown that had scales to keep: no tree was left running."""

    def same_boot(self, booted: float) -> bool:
        """Whether the record was written since the boot at `booted` (start times comparable)."""
        return abs(self.booted - booted) <= SAME_BOOT


def booted_at() -> float:
    """When this machine booted, in seconds since the epoch."""
    return time.time() - boot_clock()


def start_time(pid: int) -> float | None:
    """A live process's start time in seconds since boot; None if it is gone (or a zombie)."""
    usage = read_stats([pid]).get(pid)
    return None if usage is None else usage.started


# -- the file ------------------------------------------------------------------------


def encode(record: DaemonRecord) -> bytes:
    """The file's bytes for `record`."""
    trees = [
        {
            "name": t.name,
            "pid": t.pid,
            "pgid": t.pgid,
            "started": t.started,
            "marker": t.marker,
            "cgroup": list(t.cgroup),
        }
        for t in record.trees
    ]
    daemon = {"pid": record.pid, "started": record.started, "booted": record.booted}
    document: dict[str, object] = {"format": FORMAT, "daemon": daemon, "instances": trees}
    if record.scales:
        document["scales"] = {
            name: {"count": scale.count, "base": scale.base}
            for name, scale in record.scales.items()
        }
    if record.clean:
        document["clean"] = True
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


def decode(raw: bytes) -> DaemonRecord:
    """The record in a state file's bytes; CorruptState if anything is not as written."""
    try:
        document = json.loads(raw)
        if document["format"] != FORMAT:
            raise CorruptState(f"unknown format {document['format']!r}")
        daemon = document["daemon"]
        trees = tuple(_tree_record(entry) for entry in document["instances"])
        scales = {name: _scale(entry) for name, entry in document.get("scales", {}).items()}
        clean = document.get("clean", False)
        if not isinstance(clean, bool):
            raise CorruptState(f"clean must be true or false: {clean!r}")
        started, booted = _number(daemon["started"]), _number(daemon["booted"])
        return DaemonRecord(_pid(daemon["pid"]), started, booted, trees, scales, clean)
    except CorruptState:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptState(f"{type(exc).__name__}: {exc}") from exc


def _tree_record(entry: Mapping[str, object]) -> TreeRecord:
    marker = entry["marker"]
    if not isinstance(marker, str) or not marker.startswith(_MARKER_PREFIX):
        raise CorruptState(f"not a tree marker: {marker!r}")
    if len(marker) == len(_MARKER_PREFIX):
        raise CorruptState("an empty tree marker")
    name, cgroup = entry["name"], entry["cgroup"]
    if not isinstance(name, str) or not isinstance(cgroup, list):
        raise CorruptState(f"a malformed instance entry: {entry!r}")
    if not all(isinstance(path, str) and os.path.isabs(path) for path in cgroup):
        raise CorruptState(f"cgroup paths must be absolute: {cgroup!r}")
    started = entry["started"]
    return TreeRecord(
        name=name,
        pid=_pid(entry["pid"]),
        pgid=_pid(entry["pgid"]),
        started=None if started is None else _number(started),
        marker=marker,
        cgroup=tuple(cgroup),
    )


def _scale(entry: Mapping[str, object]) -> Scaled:
    count, base = entry["count"], entry["base"]
    if not (_is_count(count) and _is_count(base)):
        raise CorruptState(f"a malformed scale: {entry!r}")
    return Scaled(count, base)


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _pid(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 1:
        raise CorruptState(f"not a process id: {value!r}")  # never 0, -1 (everyone) or init
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise CorruptState(f"not a time: {value!r}")  # `not >= 0` also refuses NaN
    return float(value)


def read(path: str) -> DaemonRecord | None:
    """The record in the state file, None if there is none; CorruptState if unreadable."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptState(f"cannot read it: {exc.strerror or exc}") from exc
    return decode(raw)


def write(path: str, record: DaemonRecord) -> None:
    """Replace the state file atomically: a fresh private temporary file, then rename.

    The temporary file has a random name and is created with O_EXCL|O_NOFOLLOW
    (0600): a name planted beforehand, a symlink to a root file included, makes the
    open fail instead of being followed, and a new random name is tried. No fsync:
    the file only matters while this boot lasts (a record from another boot is never
    acted on), and rename is atomic against a crash of the daemon itself, so the
    restart hot path does not wait for the disk.
    """
    directory = os.path.dirname(path) or "."
    fd, temporary = _create_temporary(directory, os.path.basename(path))
    try:
        try:
            os.write(fd, encode(record))
        finally:
            os.close(fd)
        os.rename(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


_TEMPORARY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMPORARY_TRIES = 8


def _create_temporary(directory: str, base: str) -> tuple[int, str]:
    """A new file `.BASE.RANDOM.tmp` in `directory`, open for writing, mode 0600."""
    for _ in range(_TEMPORARY_TRIES - 1):
        with contextlib.suppress(FileExistsError):
            return _open_temporary(directory, base)
    return _open_temporary(directory, base)  # a last try, whose FileExistsError propagates


def _open_temporary(directory: str, base: str) -> tuple[int, str]:
    # os.urandom, not secrets.token_hex: `secrets` imports hmac and so OpenSSL's libcrypto,
    # about 4 MB of resident memory the daemon does not otherwise load.
    temporary = os.path.join(directory, f".{base}.{os.urandom(8).hex()}.tmp")
    return os.open(temporary, _TEMPORARY_FLAGS, 0o600), temporary


def remove(path: str) -> None:
    """Remove the state file (a clean shutdown); a missing one is fine."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# -- keeping it current -----------------------------------------------------------------


class Checkpoint:
    """Keeps the state file current: rewritten once per loop iteration in which a state changed.

    `trees` returns the tree of every instance that has one (name -> its view, from
    the read model: `Operations.trees`); it is read on the loop when a change is
    flushed. Encoding and writing the file happen on a thread of their own, so a
    restart (exit noticed -> new process) never waits for the disk; one write is in
    flight at a time, and changes that arrive meanwhile are written, newest record
    only, when it is done.
    """

    def __init__(
        self,
        path: str,
        trees: Callable[[], Mapping[str, TreeView]],
        *,
        events: EventLog,
        on_error: Callable[[OSError], None] | None = None,
        scales: Callable[[], Mapping[str, Scaled]] | None = None,
    ) -> None:
        self.path = path
        self._trees = trees
        self._scales = scales
        """The programs `scale` resized, read with the trees (None: never any)."""
        self._events = events
        self._on_error = on_error
        self._loop = asyncio.get_running_loop()
        self._pending: asyncio.Handle | None = None
        self._writing: asyncio.Future[None] | None = None
        self._stale = False
        """A state changed while a write was in flight: write again when it ends."""
        self._entries: dict[str, tuple[TreeView, TreeRecord]] = {}
        """Each instance's entry with the view it was made from (remade when that changes)."""
        self._executor: ThreadPoolExecutor | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._me = os.getpid()
        self._my_start = start_time(self._me) or 0.0
        self._booted = booted_at()
        self.writes = 0
        """How many times the file has been written (the tests count them)."""

    def start(self) -> None:
        """Write the file now, then again after every loop iteration with a state change."""
        self._unsubscribe = self._events.subscribe(self._observe)
        self.write_now()

    def _observe(self, event: Event) -> None:
        if event.kind == "state" and self._pending is None:
            self._pending = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        # One more turn: what this turn's timers start (a restart after its backoff)
        # runs first and is in the record, and the restart does not wait for the flush.
        self._pending = self._loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._pending = None
        if self._writing is not None:
            self._stale = True  # the record is made when the write ends: once, not per change
        else:
            self._write_in_background(self.record())

    def _write_in_background(self, record: DaemonRecord) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corral-state")
        self._writing = self._loop.run_in_executor(self._executor, write, self.path, record)
        self._writing.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[None]) -> None:
        self._writing = None
        error = None if future.cancelled() else future.exception()
        if error is None:
            self.writes += 1
        elif isinstance(error, OSError):  # a full disk must not stop the daemon; say so, go on
            if self._on_error is not None:
                self._on_error(error)
        else:
            context = {"message": "writing the state file failed", "exception": error}
            self._loop.call_exception_handler(context)
        if self._stale:
            self._stale = False
            self._write_in_background(self.record())

    async def flushed(self) -> None:
        """Return once every state change seen so far is in the file."""
        while self._pending is not None or self._writing is not None:
            if self._writing is not None:
                await asyncio.wait([self._writing])
            else:
                await asyncio.sleep(0)  # the flush is due at the next loop iteration

    def record(self) -> DaemonRecord:
        """What the file should say now.

        An entry is remade only for a tree whose view changed (the read model hands
        out the same view while the tree is the same): a crash-looping instance among
        a thousand others remakes one entry per write, not a thousand.
        """
        kept = self._entries
        entries: dict[str, tuple[TreeView, TreeRecord]] = {}
        for name, tree in self._trees().items():
            held = kept.get(name)
            if held is None or held[0] is not tree:  # the root is our child, unreaped until
                held = (tree, _tree_entry(name, tree, start_time(tree.root)))  # we see its exit
            entries[name] = held
        self._entries = entries
        scales = {} if self._scales is None else dict(self._scales())
        trees = tuple(entry for _, entry in entries.values())
        return DaemonRecord(self._me, self._my_start, self._booted, trees, scales)

    def write_now(self) -> None:
        """Write the current record at once, on the calling thread (raises OSError)."""
        write(self.path, self.record())
        self.writes += 1

    async def close(self, *, remove_file: bool) -> None:
        """Stop following changes, let a write in flight end, then (clean shutdown) remove it."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._stale = False
        if self._writing is not None:
            await asyncio.wait([self._writing])
        if self._executor is not None:  # idle now; joining its thread is done off the loop
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True)
        if not remove_file:
            return
        scales = {} if self._scales is None else dict(self._scales())
        if scales:  # every program is stopped: only the scales are left to keep
            write(self.path, DaemonRecord(self._me, self._my_start, self._booted, (), scales, True))
        else:
            remove(self.path)

    def __repr__(self) -> str:
        return f"<Checkpoint {self.path} writes={self.writes}>"


def _tree_entry(name: str, tree: TreeView, started: float | None) -> TreeRecord:
    return TreeRecord(name, tree.root, tree.pgid, started, tree.marker, tree.cgroup)
