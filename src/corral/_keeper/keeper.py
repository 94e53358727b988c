"""The keeper process: `python -m corral._keeper --socket PATH -- DAEMON-ARGV...`.

It becomes a child subreaper, binds PATH (SOCK_SEQPACKET, 0600), spawns the daemon
as its child (own process group, its end of a socketpair at CORRAL_KEEPER_FD) and
then only answers messages, reaps and forwards signals:

- `hello` -> `hello` (keeper pid, daemon pid, unrecorded children), then `entries`
  batches with their fds, then `end`: everything it holds, for a new daemon;
- `put` {id, pid, meta, kinds} + fds: hold these fds for entry `id` (replacing one
  held under that id); `drop` {id}: close and forget them;
- `bye`: the daemon is shutting down cleanly: when it exits, the keeper exits too,
  with its code;
- `run` {argv, env, cwd} + stdin, stdout, stderr: spawn a new daemon (none may be
  running); the connection is told `exited` {code} when it ends; `signal` {sig}
  forwards a signal to it.

A child that exits is reaped; if it is an entry's root its raw wait status is kept
in the entry. TERM, INT, QUIT, HUP, USR1 and USR2 go to the daemon while one runs;
TERM, INT or QUIT with no daemon end the keeper. It decides nothing else.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import resource
import select
import signal
import socket
import struct
import sys
from typing import TYPE_CHECKING

from corral._keeper import protocol
from corral._keeper.protocol import Message, ProtocolError

if TYPE_CHECKING:
    from typing import Any

PR_SET_CHILD_SUBREAPER = 36
FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
ENDING = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})
READY_VARIABLE = "CORRAL_READY_FD"


class Entry:
    """The fds held for one instance's process, and its exit once reaped."""

    __slots__ = ("fds", "kinds", "meta", "pid", "status")

    def __init__(self, pid: int, meta: dict[str, Any], kinds: list[str], fds: list[int]) -> None:
        self.pid = pid
        self.meta = meta
        self.kinds = kinds
        self.fds = fds
        self.status: int | None = None
        """Its raw wait status, once the keeper reaped it."""


class Daemon:
    """The daemon the keeper spawned and its state as the keeper sees it."""

    __slots__ = ("clean", "conn", "greeted", "launcher", "pid")

    def __init__(self, pid: int, conn: socket.socket | None) -> None:
        self.pid = pid
        self.conn = conn
        """The socketpair end, or the connection a daemon started by `run` greeted from."""
        self.launcher: socket.socket | None = None
        """The connection that asked for it with `run`: told `exited`."""
        self.greeted = False
        self.clean = False


class Keeper:
    """What the keeper holds and whom it talks to.

    Plain classes, not dataclasses: importing `dataclasses` costs the keeper about
    2.7 MB of resident memory (it brings `inspect` and `re`).
    """

    def __init__(self, listener: socket.socket, nofile: tuple[int, int]) -> None:
        self.listener = listener
        self.nofile = nofile
        """The fd limits the keeper was started with: each daemon starts with them too."""
        self.entries: dict[str, Entry] = {}
        self.roots: dict[int, str] = {}
        """Entry ids by root pid (for the reaper)."""
        self.conns: dict[int, socket.socket] = {}
        self.daemon: Daemon | None = None
        self.exit_code: int | None = None
        """Set when the keeper is to exit, with this code."""

    def finished(self) -> int | None:
        """The code to exit with, once the keeper is done; None while it keeps."""
        return self.exit_code

    # -- the daemon -----------------------------------------------------------

    def spawn(
        self, argv: list[str], env: dict[str, str], cwd: str | None, fds: list[tuple[int, int]]
    ) -> Daemon:
        """Start the daemon as our child, in its own process group, linked by a socketpair."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**env, protocol.FD_VARIABLE: str(theirs.fileno())}
        actions: list[tuple[int, ...]] = [(os.POSIX_SPAWN_DUP2, fd, at) for fd, at in fds]
        os.set_inheritable(theirs.fileno(), True)
        old = os.getcwd()
        resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)
        try:
            if cwd is not None:
                os.chdir(cwd)  # posix_spawn has no chdir action before Python 3.13
            pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setpgroup=0)
        finally:
            os.chdir(old)
            theirs.close()
            hard = self.nofile[1]  # we hold several fds per program: up to the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        daemon = self.daemon = Daemon(pid, ours)
        self._watch(ours)
        return daemon

    def forward(self, signum: int) -> None:
        """A signal to the keeper: the daemon's if one runs; TERM/INT/QUIT end it otherwise."""
        if self.daemon is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.daemon.pid, signum)
        elif signum in ENDING:
            self.exit_code = 128 + signum

    def reap(self) -> None:
        """Collect every exited child; keep an entry root's status; notice the daemon's end."""
        while True:
            try:
                pid, raw = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.daemon is not None and pid == self.daemon.pid:
                self._daemon_ended(raw)
            elif (key := self.roots.pop(pid, None)) is not None:
                self.entries[key].status = raw

    def _daemon_ended(self, raw: int) -> None:
        daemon, self.daemon = self.daemon, None
        assert daemon is not None
        code = os.waitstatus_to_exitcode(raw)
        code = code if code >= 0 else 128 - code
        if daemon.launcher is not None:
            with contextlib.suppress(OSError):
                protocol.send(daemon.launcher, {"op": "exited", "code": code})
        if daemon.conn is not None:
            self._forget(daemon.conn)
        if daemon.clean or not daemon.greeted or not (self.entries or self.children()):
            self.exit_code = code
            return
        say(f"the daemon (pid {daemon.pid}) ended ({_ended(raw)}); holding {len(self.entries)}")

    def children(self) -> list[int]:
        """Our live children that are neither the daemon nor an entry's root."""
        found: list[int] = []
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/children") as f:
                found.extend(int(pid) for pid in f.read().split())
        daemon = None if self.daemon is None else self.daemon.pid
        return sorted(p for p in found if p != daemon and p not in self.roots)

    # -- connections ----------------------------------------------------------

    def _watch(self, conn: socket.socket) -> None:
        self.conns[conn.fileno()] = conn

    def _forget(self, conn: socket.socket) -> None:
        self.conns.pop(conn.fileno(), None)
        conn.close()

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
        if uid != os.getuid():
            conn.close()  # the socket is 0600 in a 0700 directory: this is belt and braces
            return
        self._watch(conn)

    def readable(self, conn: socket.socket) -> None:
        try:
            received = protocol.recv(conn)
        except ProtocolError as exc:
            with contextlib.suppress(OSError):
                protocol.send(conn, {"op": "refused", "reason": str(exc)})
            self._forget(conn)
            return
        except OSError:
            received = None
        if received is None:
            self._forget(conn)
            return
        message, fds = received
        try:
            self.handle(conn, message, fds)
        except (KeyError, TypeError, ValueError, OSError) as exc:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            with contextlib.suppress(OSError):
                protocol.send(conn, {"op": "refused", "reason": f"{type(exc).__name__}: {exc}"})

    def handle(self, conn: socket.socket, message: Message, fds: list[int]) -> None:
        op = message["op"]
        daemon = self.daemon
        if op == "put":
            kinds = [str(kind) for kind in message["kinds"]]
            if len(kinds) != len(fds):
                raise ValueError(f"{len(fds)} fds for {len(kinds)} kinds")
            key, pid = str(message["id"]), int(message["pid"])
            self._drop(key)
            self.entries[key] = Entry(pid, dict(message.get("meta", {})), kinds, fds)
            self.roots[pid] = key
        elif op == "drop":
            self._drop(str(message["id"]))
        elif op == "hello":
            self._hello(conn)
        elif op == "bye" and daemon is not None:
            daemon.clean = True
        elif op == "run":
            self._run(conn, message, fds)
        elif op == "signal" and daemon is not None and daemon.launcher is conn:
            self.forward(int(message["sig"]))
        else:
            raise ValueError(f"unknown operation {op!r}")

    def _drop(self, key: str) -> None:
        entry = self.entries.pop(key, None)
        if entry is None:
            return
        if self.roots.get(entry.pid) == key:
            del self.roots[entry.pid]
        for fd in entry.fds:
            os.close(fd)

    def _hello(self, conn: socket.socket) -> None:
        daemon = self.daemon
        if daemon is not None and daemon.conn is None and daemon.launcher is not None:
            daemon.conn = conn  # a daemon started by `run` found us through the socket
        if daemon is not None and daemon.conn is conn:
            daemon.greeted = True
        me = {"keeper": os.getpid(), "daemon": None if daemon is None else daemon.pid}
        protocol.send(conn, {"op": "hello", **me, "children": self.children()})
        batch: list[Message] = []
        fds: list[int] = []
        for key, entry in self.entries.items():
            if len(fds) + len(entry.fds) > protocol.MAX_FDS:
                protocol.send(conn, {"op": "entries", "entries": batch}, fds)
                batch, fds = [], []
            batch.append(
                {"id": key, "pid": entry.pid, "meta": entry.meta, "kinds": entry.kinds}
                | {"status": entry.status}
            )
            fds.extend(entry.fds)
        if batch:
            protocol.send(conn, {"op": "entries", "entries": batch}, fds)
        protocol.send(conn, {"op": "end"})

    def _run(self, conn: socket.socket, message: Message, fds: list[int]) -> None:
        """Spawn a new daemon for a launcher, with the launcher's fds at their numbers."""
        try:
            if self.daemon is not None:
                raise ValueError(f"a daemon runs already (pid {self.daemon.pid})")
            targets = [int(at) for at in message["targets"]]
            if len(targets) != len(fds):
                raise ValueError(f"{len(fds)} fds for {len(targets)} targets")
            low = max([*targets, 2]) + 1  # out of the targets' way before they are placed
            moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low) for fd in fds]
            for fd in fds:
                os.close(fd)
            fds = moved
            argv = [str(arg) for arg in message["argv"]]
            env = {str(k): str(v) for k, v in message["env"].items()}
            daemon = self.spawn(argv, env, message.get("cwd"), list(zip(fds, targets, strict=True)))
        finally:
            for fd in fds:
                os.close(fd)
        daemon.launcher = conn
        protocol.send(conn, {"op": "started", "pid": daemon.pid})


def launch(path: str, argv: list[str]) -> int:
    """Have the keeper at `path` spawn the daemon (its child, so a crash re-parents the
    programs to it), with our stdio and ready fd; wait for its end, forwarding signals."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.connect(path)
    targets = [0, 1, 2]
    ready = os.environ.get(READY_VARIABLE)
    if ready is not None:
        targets.append(int(ready))
    message = {"op": "run", "argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}
    protocol.send(sock, {**message, "targets": targets}, targets)
    if ready is not None:
        os.close(int(ready))  # the daemon's now: its EOF must mean the daemon's end
    for signum in FORWARDED:
        signal.signal(signum, lambda n, _: protocol.send(sock, {"op": "signal", "sig": n}))
    while True:
        try:
            received = protocol.recv(sock)
        except ProtocolError as exc:
            say(str(exc))
            return 1
        if received is None:
            say("the keeper went away")
            return 1
        answer, fds = received
        for fd in fds:
            os.close(fd)
        if answer.get("op") == "exited":
            return int(answer["code"])
        if answer.get("op") == "refused":
            say(f"the keeper refused to start the daemon: {answer.get('reason')}")
            return 1


def _signals(keeper: Keeper, wake: int) -> None:
    """Act on the signals the wakeup fd carried: reap, forward, or end."""
    with contextlib.suppress(BlockingIOError):
        for signum in os.read(wake, 256):
            if signum == signal.SIGCHLD:
                keeper.reap()
            else:
                keeper.forward(signum)


def say(text: str) -> None:
    """One line on the keeper's stderr (the terminal, or the daemon's log when detached)."""
    with contextlib.suppress(OSError):
        os.write(2, f"corral keeper: {text}\n".encode())


def _ended(raw: int) -> str:
    if os.WIFSIGNALED(raw):
        return signal.Signals(os.WTERMSIG(raw)).name
    return f"exit {os.waitstatus_to_exitcode(raw)}"


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


class KeeperRuns(Exception):
    """A keeper answers on the socket already: this process launches through it."""


def _listen(path: str) -> socket.socket:
    """Bind `path` 0600; a socket file nobody answers on (a dead keeper's) is replaced."""
    with contextlib.suppress(FileNotFoundError):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)
        else:
            raise KeeperRuns
        finally:
            probe.close()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(64)
    return listener


def _inherited() -> list[int]:
    """Fds above stdio we were started with (the daemon gets them; we close ours after)."""
    listed = [fd for fd in map(int, os.listdir("/proc/self/fd")) if fd > 2]
    return [fd for fd in listed if _is_open(fd)]  # not the listing's own, closed by now


def _is_open(fd: int) -> bool:
    try:
        os.get_inheritable(fd)
    except OSError:
        return False
    return True


def main(argv: list[str]) -> int:
    """Run the keeper until its daemon has shut down cleanly (or it is told to end)."""
    if len(argv) < 4 or argv[0] != "--socket" or argv[2] != "--":
        print("usage: python -m corral._keeper --socket PATH -- DAEMON-ARGV...", file=sys.stderr)
        return 2
    path, daemon_argv = argv[1], argv[3:]
    inherited = _inherited()
    try:
        _become_subreaper()
        os.close(os.pidfd_open(os.getpid()))  # pidfds are what the daemon hands us
    except (OSError, AttributeError) as exc:
        say(f"cannot keep programs here: {exc}")
        return 1
    env = dict(os.environ)
    try:
        listener = _listen(path)
    except KeeperRuns:
        return launch(path, daemon_argv)
    keeper = Keeper(listener, nofile=resource.getrlimit(resource.RLIMIT_NOFILE))
    try:
        return _serve(keeper, daemon_argv, env, inherited)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _serve(keeper: Keeper, argv: list[str], env: dict[str, str], inherited: list[int]) -> int:
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    for signum in (*FORWARDED, signal.SIGCHLD):
        signal.signal(signum, lambda *_: None)  # the wakeup fd carries it to the loop
    keeper.spawn(argv, env, None, [])  # our stdio and what we were given are inherited
    for fd in inherited:  # the ready pipe and the like are the daemon's now
        with contextlib.suppress(OSError):
            os.close(fd)
    env.pop(READY_VARIABLE, None)
    poller = select.poll()
    watched: set[int] = set()
    while keeper.finished() is None:
        fds = {wake_r, keeper.listener.fileno(), *keeper.conns}
        for fd in watched - fds:
            poller.unregister(fd)
        for fd in fds - watched:
            poller.register(fd, select.POLLIN)
        watched = fds
        for fd, _ in poller.poll():
            if fd == wake_r:
                _signals(keeper, wake_r)
            elif fd == keeper.listener.fileno():
                keeper.accept()
            elif (conn := keeper.conns.get(fd)) is not None:
                keeper.readable(conn)
            if keeper.finished() is not None:
                break
    code = keeper.finished()
    assert code is not None
    return code
