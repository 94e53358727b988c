"""A daemon under test: started in a scratch directory, driven through its API, cleaned up.

`Daemon` runs `python -m corral daemon -c CONFIG` with stdout and stderr in a file of
the scratch directory, and waits for the `ready` line it writes on `CORRAL_READY_FD`
once its API answers. Leaving its `with` block shuts it down through the API and
proves that every process it started is gone: before the shutdown it opens a pidfd on
each of its descendants (found through /proc/PID/task/*/children, so pid reuse cannot
fool the check) and afterwards waits for each to become readable. On any error, or if
a descendant outlives the shutdown, the daemon and each descendant are SIGKILLed
through those pidfds (program groups with killpg), never by name.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from corral._control.client import Client
from corral._platform import process_table

if TYPE_CHECKING:
    from types import TracebackType

READY_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 120.0
GONE_TIMEOUT = 10.0
POLL = 0.01
"""Seconds between polls of the event ring while waiting for states."""


@contextlib.contextmanager
def scratch_dir(*, keep: bool = False) -> Iterator[str]:
    """A fresh directory under /tmp (short: unix socket paths are limited to 108 bytes)."""
    path = tempfile.mkdtemp(prefix="cb-", dir="/tmp")
    try:
        yield path
    finally:
        if keep:
            print(f"kept scratch directory {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def write_config(directory: str, programs: str, name: str = "corral.toml") -> str:
    """A config file in `directory`: socket and logs beside it, then `programs` (TOML)."""
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f'[daemon]\nsocket = "d.sock"\nlog_dir = "logs"\n\n{programs}')
    return path


@dataclass(frozen=True, slots=True)
class StateEvent:
    """One "state" event of the daemon's event ring."""

    seq: int
    time: float
    """Wall-clock seconds (time.time() in the daemon), comparable to CLOCK_REALTIME."""
    subject: str
    old: str
    new: str
    pid: int | None


class Daemon:
    """One `corral daemon` process, its API client, and the proof that it cleaned up."""

    def __init__(self, config_path: str, command: Sequence[str] | None = None) -> None:
        self.config_path = config_path
        self.command = (sys.executable, "-m", "corral", "daemon") if command is None else command
        """What runs the daemon; `-c CONFIG` is appended (bench.loop_probe wraps it)."""
        self.directory = os.path.dirname(config_path)
        self.socket = os.path.join(self.directory, "d.sock")
        self.output = os.path.join(self.directory, "daemon.out")
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: Client | None = None
        self.spawned_at = math.nan
        """time.time() just before the daemon process was spawned."""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> Daemon:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.shutdown()
        else:
            self.kill()

    # -- starting -------------------------------------------------------------

    def start(self) -> None:
        """Spawn the daemon; return once it says its API answers."""
        read, write = os.pipe()
        env = dict(os.environ, CORRAL_READY_FD=str(write))
        with open(self.output, "wb") as out:
            self.spawned_at = time.time()
            self.proc = subprocess.Popen(
                [*self.command, "-c", self.config_path],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(write,),
                env=env,
                start_new_session=True,
            )
        os.close(write)
        try:
            ready = _read_line(read, READY_TIMEOUT)
        finally:
            os.close(read)
        if ready != b"ready\n":
            self.kill()
            raise RuntimeError(f"the daemon did not start; its output:\n{self.tail()}")
        self.client = Client(self.socket, timeout=None)

    def tail(self, lines: int = 20) -> str:
        """The end of the daemon's output file."""
        with open(self.output, "rb") as f:
            text = f.read()[-16384:].decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- the API --------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: object | None = None,
        query: dict[str, str] | None = None,
    ) -> Any:
        """One API call on the kept connection; the decoded JSON reply."""
        assert self.client is not None
        return self.client.request(method, "/v1" + path, body=body, query=query)

    def last_seq(self) -> int:
        """The sequence number of the newest event."""
        return cast(int, self.request("GET", "/events", query={"since": str(1 << 62)})["last_seq"])

    def events(self, since: int) -> tuple[list[dict[str, Any]], int]:
        """The events after `since` as the API gives them, and the newest sequence number.

        Raises if the ring dropped events after `since` (it keeps the last 10,000).
        """
        reply = self.request("GET", "/events", query={"since": str(since)})
        rows: list[dict[str, Any]] = reply["events"]
        if rows and rows[0]["seq"] != since + 1:
            raise RuntimeError(f"the event ring lost events {since + 1}..{rows[0]['seq'] - 1}")
        return rows, cast(int, reply["last_seq"])

    def state_events(self, since: int) -> tuple[list[StateEvent], int]:
        """The "state" events after `since`, and the newest sequence number."""
        rows, last = self.events(since)
        events = [
            StateEvent(
                r["seq"],
                r["time"],
                r["subject"],
                r["data"]["old"],
                r["data"]["new"],
                r["data"].get("pid"),
            )
            for r in rows
            if r["kind"] == "state"
        ]
        return events, last

    def listening_at(self) -> float:
        """The daemon's wall-clock time of its "listening" event (its API was up)."""
        rows, _ = self.events(0)
        for row in rows:
            if row["kind"] == "daemon" and str(row["data"].get("message", "")).startswith("listen"):
                return cast(float, row["time"])
        return math.nan

    def wait_states(self, count: int, state: str, since: int, timeout: float) -> float:
        """Wait until `count` instances are in `state` (per events after `since`).

        Returns the daemon's wall-clock time of the last of those transitions.
        """
        latest: dict[str, StateEvent] = {}
        deadline = time.monotonic() + timeout
        seq = since
        while True:
            events, seq = self.state_events(seq)
            latest.update((e.subject, e) for e in events)
            reached = [e.time for e in latest.values() if e.new == state]
            if len(reached) >= count:
                return max(reached)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(reached)} of {count} instances {state} after {timeout} s")
            time.sleep(POLL)

    def pids(self) -> list[int]:
        """Pids of the live instances, per `status`."""
        rows = self.request("GET", "/status")["instances"]
        return [r["pid"] for r in rows if r["pid"] is not None]

    # -- ending ---------------------------------------------------------------

    def shutdown(self) -> float:
        """Shut down through the API; returns seconds until the daemon exited.

        Raises if the daemon fails, or if any of its descendants outlives it (those
        are killed first).
        """
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return math.nan
        watched = _watch(descendants(proc.pid))
        try:
            start = time.monotonic()
            self.request("POST", "/shutdown")
            self._close_client()
            code = proc.wait(SHUTDOWN_TIMEOUT)
            elapsed = time.monotonic() - start
        except BaseException:
            _kill_all(proc, watched)
            raise
        survivors = _wait_gone(watched, GONE_TIMEOUT)
        if survivors:
            _kill_all(proc, watched)
        else:
            _close(watched)
        if survivors or code != 0:
            raise RuntimeError(
                f"daemon exited {code}; {len(survivors)} of its processes outlived it "
                f"(killed now): {sorted(survivors)[:10]}\n{self.tail()}"
            )
        return elapsed

    def kill(self) -> None:
        """SIGKILL the daemon and every descendant (after an error)."""
        self._close_client()
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            _kill_all(proc, _watch(descendants(proc.pid)))
        proc.wait()

    def _close_client(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


# -- processes: descendants, pidfds, /proc figures --------------------------------


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, from the parent links of one pass over /proc.

    (/proc/PID/task/*/children would be cheaper but needs CONFIG_PROC_CHILDREN,
    which some kernels, this machine's among them, lack.)
    """
    children: dict[int, list[int]] = {}
    for proc in process_table().values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found: list[int] = []
    frontier = [pid]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in found:
                found.append(child)
                frontier.append(child)
    return found


def _watch(pids: Sequence[int]) -> dict[int, int]:
    """pid -> pidfd for each pid still alive."""
    fds: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            fds[pid] = os.pidfd_open(pid)
    return fds


def _wait_gone(watched: dict[int, int], timeout: float) -> list[int]:
    """Wait until each pidfd is readable (its process exited); return the pids that are not."""
    poller = select.poll()
    by_fd = {fd: pid for pid, fd in watched.items()}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while by_fd and (left := deadline - time.monotonic()) > 0:
        for fd, _ in poller.poll(left * 1000):
            poller.unregister(fd)
            del by_fd[fd]
    return list(by_fd.values())


def _kill_all(proc: subprocess.Popen[bytes], watched: dict[int, int]) -> None:
    """SIGKILL the daemon, then each watched descendant and the group it leads."""
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    for pid, fd in watched.items():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
    proc.wait()
    _wait_gone(watched, GONE_TIMEOUT)
    _close(watched)


def _close(watched: dict[int, int]) -> None:
    for fd in watched.values():
        os.close(fd)


def _read_line(fd: int, timeout: float) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 64)
        if not chunk:
            break
        data += chunk
    return data


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of `pid` in KiB, from /proc/PID/status."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` (all threads), from /proc/PID/stat (ticks)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    fields = raw[raw.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ns(pid: int) -> int:
    """Nanoseconds on CPU of `pid`'s threads, from /proc/PID/task/*/schedstat (finer than ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


# -- statistics -----------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]
