"""An instance's readiness channel: its own NOTIFY_SOCKET (sd_notify) or a pipe (s6's fd).

sd_notify: each instance of a `notify = "sd_notify"` program gets a datagram socket
of its own in the daemon's private notify directory (0700, beside the API socket),
named to the program by `NOTIFY_SOCKET`. The kernel attaches each sender's
credentials (SO_PASSCRED); a datagram is acted on only when its sender is a member
of the instance's current tree (`_platform.is_tree_member`, the definition stop and
sampling use). A sender the kernel cannot name (pid 0: it exited before the
datagram was read) or a pid outside the tree is ignored and counted, as is a
malformed datagram; none of them can take the daemon down. Datagrams are read on
the loop (`add_reader`), never blocking it.

fd: the program gets the write end of a pipe at `notification_fd(program)` (named
by `NOTIFY_FD` too) and writes a newline there once it is ready; the pipe is made
anew for each spawn and closed once the newline came.

What is read becomes lifecycle inputs fed to the instance's driver
(`corral._lifecycle.notify`); STATUS=, MAINPID= and the phase are shown in status
and sent as `notify` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
from collections.abc import Callable
from typing import TypeAlias

from corral._errors import CorralError
from corral._lifecycle.messages import Input, NotifiedReady
from corral._lifecycle.notify import MAX_DATAGRAM, parse_notification
from corral._lifecycle.policy import NotifyMode
from corral._observe.events import EventLog
from corral._platform import (
    Datagram,
    TreeIdentity,
    bind_credentials_datagram,
    is_tree_member,
    max_unix_socket_path,
    receive_datagram,
)
from corral._supervisor.view import NotifyView

__all__ = ["NOTIFY_DIRECTORY", "EnvPairs", "FdPairs", "Readiness", "notify_directory"]

NOTIFY_DIRECTORY = "notify"
"""The notify sockets' directory, beside the daemon's API socket."""
READS_PER_WAKEUP = 32
"""Datagrams read per wakeup at most: a program that floods its socket waits its turn."""
_EVENTS_IN_FULL = 16
"""Ignored datagrams announced one by one; after these, every 1,024th (all are counted)."""
_names = itertools.count(1)
EnvPairs: TypeAlias = tuple[tuple[str, str], ...]
FdPairs: TypeAlias = tuple[tuple[int, int], ...]


def notify_directory(api_socket: str) -> str:
    """The daemon's private directory of notify sockets: beside its API socket."""
    return os.path.join(os.path.dirname(api_socket), NOTIFY_DIRECTORY)


class Readiness:
    """One instance's channel: made before each spawn, read on the loop, fed to its driver."""

    __slots__ = (
        "_directory",
        "_events",
        "_fd_number",
        "_feed",
        "_loop",
        "_members",
        "_mode",
        "_name",
        "_phase",
        "_pipe",
        "_socket",
        "_tree",
        "ignored",
        "main_pid",
        "malformed",
        "path",
        "status",
    )

    def __init__(
        self,
        name: str,
        mode: NotifyMode,
        *,
        directory: str,
        fd_number: int,
        events: EventLog,
        feed: Callable[[Input], object],
        tree: Callable[[], TreeIdentity | None],
        phase: Callable[[], str | None],
    ) -> None:
        self._name = name
        self._mode = mode
        self._directory = directory
        self._fd_number = fd_number
        self._events = events
        self._feed = feed
        self._tree = tree
        self._phase = phase
        self._loop = asyncio.get_running_loop()
        self._socket: socket.socket | None = None
        self._pipe: tuple[int, int] | None = None
        """(read end, write end) of this spawn's notification pipe; -1 once closed."""
        self._members: set[int] = set()
        """Senders already found in the current tree (the scan is paid once per pid)."""
        self.path: str | None = None
        """NOTIFY_SOCKET, once made."""
        self.status: str | None = None
        """The last STATUS= of the current process."""
        self.main_pid: int | None = None
        """The last accepted MAINPID= of the current process."""
        self.ignored = 0
        """Datagrams not attributable to the instance's tree (no pid, or another's)."""
        self.malformed = 0
        """Datagrams ignored as malformed (too large, not UTF-8, a line without '=')."""

    def view(self) -> NotifyView:
        """What status shows of it."""
        return NotifyView(
            protocol=self._mode,
            socket=self.path,
            status=self.status,
            phase=self._phase(),
            main_pid=self.main_pid,
            ignored=self.ignored,
            malformed=self.malformed,
        )

    # -- around a spawn -------------------------------------------------------

    def prepare(
        self, watchdog: float
    ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[int, int], ...]]:
        """Before a spawn: (environment pairs, map_fds) that hand the channel over."""
        self.status = self.main_pid = None
        self._members.clear()
        if self._mode == "fd":
            return (("NOTIFY_FD", str(self._fd_number)),), ((self._open_pipe(), self._fd_number),)
        env = [("NOTIFY_SOCKET", self._open_socket())]
        if watchdog:
            env.append(("WATCHDOG_USEC", str(round(watchdog * 1e6))))
        return tuple(env), ()

    def spawned(self) -> None:
        """After the spawn (or its failure): our copy of the pipe's write end goes."""
        if self._pipe is not None and self._pipe[1] >= 0:
            os.close(self._pipe[1])
            self._pipe = (self._pipe[0], -1)

    def close(self) -> None:
        """The socket (and its file) and any pipe are gone; nothing more is read."""
        self._close_pipe()
        if self._socket is not None:
            self._loop.remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None
            if self.path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)

    # -- sd_notify --------------------------------------------------------------

    def _open_socket(self) -> str:
        if self._socket is not None and self.path is not None:
            return self.path
        path = os.path.join(self._directory, f"{next(_names)}.sock")
        if len(os.fsencode(path)) > max_unix_socket_path():
            raise CorralError(
                f"{self._name}: its NOTIFY_SOCKET {path} is longer than a unix socket path "
                f"may be ({max_unix_socket_path()} bytes): set a shorter [daemon] socket"
            )
        try:
            self._socket = bind_credentials_datagram(path)
        except OSError as exc:
            raise CorralError(f"{self._name}: cannot make its NOTIFY_SOCKET {path}: {exc}") from exc
        self.path = path
        self._loop.add_reader(self._socket.fileno(), self._readable)
        return path

    def _readable(self) -> None:
        sock = self._socket
        for _ in range(READS_PER_WAKEUP):
            if sock is None or sock is not self._socket:
                return
            try:
                datagram = receive_datagram(sock, MAX_DATAGRAM + 1)
            except OSError as exc:  # never seen; never worth the daemon
                self._ignore("malformed", f"cannot be read: {exc}")
                return
            if datagram is None:
                return
            self._datagram(datagram)

    def _datagram(self, datagram: Datagram) -> None:
        if datagram.truncated:
            self._ignore("malformed", f"larger than {MAX_DATAGRAM} bytes")
            return
        who = self._sender(datagram.pid)
        if who is not None:
            self._ignore("ignored", who)
            return
        note = parse_notification(datagram.data)
        if isinstance(note, str):
            self._ignore("malformed", note)
            return
        before = (self.status, self.main_pid, self._phase())
        if note.status is not None:
            self.status = note.status
        if note.main_pid is not None:
            tree = self._tree()
            if tree is not None and is_tree_member(tree, note.main_pid):
                self.main_pid = note.main_pid
            else:
                self._ignore("ignored", f"MAINPID={note.main_pid} is not in its process tree")
        for event in note.inputs:
            self._feed(event)
        after = (self.status, self.main_pid, self._phase())
        if after != before:
            self._events.emit(
                "notify", self._name, status=after[0], main_pid=after[1], phase=after[2]
            )

    def _sender(self, pid: int) -> str | None:
        """None when `pid` may speak for the instance, else why not."""
        if pid == 0:
            return "its sender could not be identified (it exited before it was read)"
        if pid in self._members:
            return None
        tree = self._tree()
        if tree is None:
            return f"pid {pid} sent it while the instance has no process"
        if not is_tree_member(tree, pid):
            return f"pid {pid} is not in its process tree"
        self._members.add(pid)
        return None

    def _ignore(self, counter: str, why: str) -> None:
        count = getattr(self, counter) + 1
        setattr(self, counter, count)
        if count <= _EVENTS_IN_FULL or count % 1024 == 0:
            self._events.emit(
                "notify.ignored",
                self._name,
                level="warning",
                reason=why,
                count=count,
                counter=counter,
            )

    # -- fd (s6) ------------------------------------------------------------------

    def _open_pipe(self) -> int:
        self._close_pipe()
        read, write = os.pipe()
        os.set_blocking(read, False)
        self._pipe = (read, write)
        self._loop.add_reader(read, self._pipe_readable, read)
        return write

    def _pipe_readable(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if b"\n" in chunk:
            self._close_pipe()
            self._feed(NotifiedReady())
        elif not chunk:  # closed without a newline: the ready timeout decides
            self._close_pipe()

    def _close_pipe(self) -> None:
        if self._pipe is None:
            return
        read, write = self._pipe
        self._pipe = None
        self._loop.remove_reader(read)
        os.close(read)
        if write >= 0:
            os.close(write)
