"""supervisord event listeners: `[listeners.NAME]` processes fed the daemon's events.

Each listener is a process the daemon runs through the one spawn path (`launch` with
the daemon's reaper, awaited with the library's `AsyncProcess`), stdin and stdout
pipes, stderr appended to `LOG_DIR/listener-NAME.stderr.log`, with the SUPERVISOR_*
variables supervisord gives a listener (its name as process and group name). It speaks supervisord's
protocol: it writes `READY\\n`; the daemon writes one event, a header line
(`ver:3.0 server:corral serial:N pool:NAME poolserial:N eventname:E len:M`) and M
bytes of payload; it answers `RESULT 2\\nOK` (done) or `RESULT 4\\nFAIL` (the event
goes back to the front of its buffer and is sent again), then READY again.

Events come from the one event stream: each "state" event of an instance becomes a
PROCESS_STATE_<STATE> event (corral's state names are supervisord's, `names.STATES`;
group = program, process = instance index, as the XML-RPC side names them), and
TICK_5 / TICK_60 come from a timer. A listener's buffer holds `buffer_size` events;
one more drops the oldest and says so in a "listener.dropped" event. A listener that
exits is started again after a backoff (1 s, doubling to 30 s while it keeps dying
within 10 s of its start), each time with a "listener" event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from corral._control.server.supervisord.names import STATES
from corral._errors import CorralError
from corral._observe.events import Event, EventLog
from corral._process.reaper import OwningReaper
from corral._process.spawn import launch
from corral._process.spec import File, ProcessSpec
from corral._supervisor.config.listeners import ListenerSpec

if TYPE_CHECKING:
    from corral._supervisor.runtime.supervisor import Supervisor

__all__ = ["Listeners", "last_exit_codes"]

log = logging.getLogger("corral.listeners")

BACKOFF_FIRST = 1.0
"""Seconds before a listener that died is started again, the first time."""
BACKOFF_MAX = 30.0
"""The longest wait before a restart."""
STABLE_AFTER = 10.0
"""A listener up this long when it dies is restarted after BACKOFF_FIRST again."""
IDLE_CHECK = 0.5
"""Seconds between checks that an idle listener (READY, nothing to send) still runs."""
TICKS = (("TICK_5", 5), ("TICK_60", 60))

Outgoing = tuple[str, str]
"""(eventname, payload) waiting in a listener's buffer."""


class Listeners:
    """Every configured listener at work, fed from the event stream."""

    def __init__(
        self,
        specs: tuple[ListenerSpec, ...],
        *,
        events: EventLog,
        reaper: OwningReaper,
        log_dir: str,
        server_url: str,
        last_exit_code: Callable[[str], int | None],
    ) -> None:
        self._events, self._reaper, self._log_dir = events, reaper, log_dir
        self._last_exit_code = last_exit_code
        self._pools = [_Pool(spec, events, server_url) for spec in specs]
        self._serial = 0
        self._pids: dict[str, int] = {}
        self._tries: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run each listener, and feed them from now on."""
        if not self._pools:
            return
        self._unsubscribe = self._events.subscribe(self._on_event)
        for pool in self._pools:
            self._tasks.append(loop.create_task(pool.run(self._reaper, self._log_dir)))
        for name, every in TICKS:
            if any(pool.wants(name) for pool in self._pools):
                self._tasks.append(loop.create_task(self._tick(name, every)))

    async def close(self) -> None:
        """Stop feeding; end every listener's process tree."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def _on_event(self, event: Event) -> None:
        if event.kind != "state" or not event.subject:
            return
        new, old = str(event.data.get("new")), str(event.data.get("old"))
        if new not in STATES or new == "UNKNOWN":
            return
        name = event.subject
        pid = event.data.get("pid")
        if isinstance(pid, int):
            self._pids[name] = pid
        eventname = f"PROCESS_STATE_{new}"
        if not any(pool.wants(eventname) for pool in self._pools):
            self._track(name, new)
            return
        group, _, process = name.rpartition(":")
        fields: list[tuple[str, object]] = [
            ("processname", process),
            ("groupname", group),
            ("from_state", old if old in STATES else "UNKNOWN"),
        ]
        fields += self._extra(name, new)
        self._track(name, new)
        self._send(eventname, " ".join(f"{key}:{value}" for key, value in fields))

    def _extra(self, name: str, new: str) -> list[tuple[str, object]]:
        """The fields supervisord adds to each kind of process state event."""
        pid = self._pids.get(name, 0)
        if new in ("STARTING", "BACKOFF"):
            tries = self._tries.get(name, 0) + (1 if new == "BACKOFF" else 0)
            return [("tries", tries)]
        if new == "EXITED":
            return [("expected", int(self._last_exit_code(name) == 0)), ("pid", pid)]
        if new in ("RUNNING", "STOPPING", "STOPPED"):
            return [("pid", pid)]
        return []

    def _track(self, name: str, new: str) -> None:
        """Count the tries of one start (supervisord's backoff count), per instance."""
        if new == "BACKOFF":
            self._tries[name] = self._tries.get(name, 0) + 1
        elif new in ("RUNNING", "STOPPED", "EXITED", "FATAL"):
            self._tries.pop(name, None)

    def _send(self, eventname: str, payload: str) -> None:
        for pool in self._pools:
            if pool.wants(eventname):
                self._serial += 1
                pool.offer(self._serial, eventname, payload)

    async def _tick(self, name: str, every: int) -> None:
        while True:
            now = time.time()
            await asyncio.sleep(every - now % every)
            self._send(name, f"when:{int(time.time())}")


class _Pool:
    """One listener: its buffer and the process that drains it."""

    def __init__(self, spec: ListenerSpec, events: EventLog, server_url: str) -> None:
        self.spec, self._events = spec, events
        self._env = (
            ("SUPERVISOR_ENABLED", "1"),
            ("SUPERVISOR_SERVER_URL", server_url),
            ("SUPERVISOR_PROCESS_NAME", spec.name),
            ("SUPERVISOR_GROUP_NAME", spec.name),
        )
        """What supervisord sets for a listener (superlance's refuse to run without it)."""
        self._wanted = frozenset(spec.events)
        self._buffer: deque[tuple[int, str, str]] = deque()
        self._ready = asyncio.Event()
        self._poolserial = 0

    def wants(self, eventname: str) -> bool:
        """Whether this listener subscribed to `eventname`."""
        if eventname in self._wanted:
            return True
        return eventname.startswith("PROCESS_STATE_") and "PROCESS_STATE" in self._wanted

    def offer(self, serial: int, eventname: str, payload: str) -> None:
        """Buffer one event; a full buffer drops its oldest."""
        if len(self._buffer) >= self.spec.buffer_size:
            _, dropped, _ = self._buffer.popleft()
            self._events.emit(
                "listener.dropped", self.spec.name, level="warning", eventname=dropped,
                message=f"buffer of {self.spec.buffer_size} full: dropped the oldest event",
            )  # fmt: skip
        self._buffer.append((serial, eventname, payload))
        self._ready.set()

    async def run(self, reaper: OwningReaper, log_dir: str) -> None:
        """Run the listener for good: started again after a backoff whenever it exits."""
        delay = BACKOFF_FIRST
        while True:
            began = time.monotonic()
            why = await self._one_life(reaper, log_dir)
            delay = BACKOFF_FIRST if time.monotonic() - began >= STABLE_AFTER else delay
            self._events.emit("listener", self.spec.name, level="warning",
                              message=f"{why}; started again in {delay:g} s")  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    async def _one_life(self, reaper: OwningReaper, log_dir: str) -> str:
        """Start the listener and serve it until it exits: why it ended."""
        from corral._process.async_handle import AsyncProcess
        from corral._process.options import RunOptions

        stderr = File(os.path.join(log_dir, f"listener-{self.spec.name}.stderr.log"), append=True)
        spec = ProcessSpec(
            argv=self.spec.command, env_add=self._env, stdin="pipe", stdout="pipe", stderr=stderr
        )
        try:
            launched = launch(spec, notifier=reaper.notifier)
        except CorralError as exc:
            return f"could not start: {exc}"
        proc = AsyncProcess(launched, spec, RunOptions(check=False, grace=1.0))
        self._events.emit("listener", self.spec.name, level="info", pid=launched.pid,
                          message="started")  # fmt: skip
        async with proc:
            try:
                await self._serve(proc)
            except (CorralError, OSError) as exc:  # its stdin closed: it is ending
                log.info("listener %s: %s", self.spec.name, exc)
            result = await proc.stop()
        code = result.exit_code
        return f"exited ({code if code is not None else result.signal_name})"

    async def _serve(self, proc: _Proc) -> None:
        """The READY / event / RESULT exchange, until the listener's stdout ends."""
        line = await proc.readline("stdout", timeout=None)
        while line is not None:
            if line != "READY":
                log.warning("listener %s said %r, not READY", self.spec.name, line)
                line = await proc.readline("stdout", timeout=None)
                continue
            while not self._buffer:
                if not proc.running:  # it died while it had nothing to read
                    return
                self._ready.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), IDLE_CHECK)
            serial, eventname, payload = self._buffer.popleft()
            self._poolserial += 1
            body = payload.encode()
            header = (
                f"ver:3.0 server:corral serial:{serial} pool:{self.spec.name} "
                f"poolserial:{self._poolserial} eventname:{eventname} len:{len(body)}\n"
            )
            await proc.write(header.encode() + body)
            result, line = await _result(proc)
            if result != "OK":
                self._buffer.appendleft((serial, eventname, payload))  # sent again later


class _Proc(Protocol):
    """What `_serve` uses of `AsyncProcess`."""

    async def readline(self, stream: str = "stdout", timeout: float | None = None) -> str | None:
        """The next line."""
        ...

    @property
    def running(self) -> bool:
        """Whether it has not exited yet."""
        ...

    async def write(self, data: bytes | str) -> None:
        """Write to stdin."""
        ...


async def _result(proc: _Proc) -> tuple[str | None, str | None]:
    """Read `RESULT N` and its N bytes of body: (body, the line after it, or None at end).

    supervisor's `childutils.listener.ok` writes the body with no newline and READY
    straight after it, so the body is cut from the start of the next line.
    """
    line = await proc.readline("stdout", timeout=None)
    if line is None or not line.startswith("RESULT "):
        return None, line
    size = int(line[7:]) if line[7:].isdigit() else 0
    text = ""
    while len(text) < size:
        more = await proc.readline("stdout", timeout=None)
        if more is None:
            return None, None
        text = f"{text}\n{more}" if text else more
    body, rest = text[:size], text[size:].lstrip("\n")
    if rest:
        return body, rest
    return body, await proc.readline("stdout", timeout=None)


def last_exit_codes(supervisor: Supervisor) -> Callable[[str], int | None]:
    """A lookup of an instance's last exit code (None after a signal, or if it never ran)."""

    def code(name: str) -> int | None:
        driver = supervisor.drivers.get(name)
        ended = None if driver is None else driver.machine.last_exit
        return None if ended is None else ended.code

    return code
