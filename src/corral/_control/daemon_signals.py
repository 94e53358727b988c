"""The daemon's signal table: what each signal whose default would end a process does to it.

A root daemon killed by a stray signal orphans every program it runs, so every
signal whose default action terminates a process is either handled or left to a
disposition that cannot end the daemon uncleanly:

- TERM, INT and QUIT shut down cleanly (supervisord's convention for all three);
- HUP reloads the config as `corral reload` does (a bad config is an event, the old
  config runs on);
- USR1 and USR2 reopen every log file and the audit log (nginx's and supervisord's
  logrotate hooks);
- every other one (ALRM, VTALRM, PROF, IO, PWR, STKFLT, XCPU, SYS, TRAP and the
  real-time signals) is ignored, with an event saying it came.

Handled, never SIG_IGN: a handled disposition is reset to the default by exec, so
the programs get every signal at its default whatever the daemon does with it (an
ignored one would stay ignored in them). PIPE and XFSZ stay ignored as Python sets
them (a failed write reports EPIPE or EFBIG); the spawn path gives them back to the
programs at their defaults. The faults (ILL, ABRT, FPE, SEGV, BUS) are left alone:
they report a bug in the daemon itself, and carrying on after one is worse.
docs/daemon.md ("Signals") shows this table.
"""

from __future__ import annotations

import asyncio
import enum
import signal
from collections.abc import Callable, Mapping

from corral._errors import CorralError
from corral._observe.events import EventLog
from corral._platform import signal_name
from corral._supervisor.operations import Operations

__all__ = ["LEFT_ALONE", "TABLE", "Reaction", "SignalReactions", "install_signals"]


class Reaction(enum.Enum):
    """What the daemon does on a signal."""

    SHUTDOWN = "stop every program (reverse priority), then exit 0"
    RELOAD = "reload the config, as `corral reload` does"
    REOPEN_LOGS = "reopen every log file and the audit log at its path"
    IGNORE = "nothing but a `daemon` event naming the signal"


def _named(*names: str) -> list[int]:
    """The signals of these names that this platform has."""
    return [int(getattr(signal, name)) for name in names if hasattr(signal, name)]


def _table() -> dict[int, Reaction]:
    table = dict.fromkeys(_named("SIGTERM", "SIGINT", "SIGQUIT"), Reaction.SHUTDOWN)
    table[int(signal.SIGHUP)] = Reaction.RELOAD
    table.update(dict.fromkeys(_named("SIGUSR1", "SIGUSR2"), Reaction.REOPEN_LOGS))
    others = _named(
        "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGPWR", "SIGSTKFLT",
        "SIGXCPU", "SIGSYS", "SIGTRAP", "SIGEMT", "SIGLOST",
    )  # fmt: skip
    realtime = range(signal.SIGRTMIN, signal.SIGRTMAX + 1) if hasattr(signal, "SIGRTMIN") else ()
    table.update(dict.fromkeys([*others, *realtime], Reaction.IGNORE))
    return table


TABLE: Mapping[int, Reaction] = _table()
"""Signal number -> what the daemon does on it, for every signal it handles."""

LEFT_ALONE = tuple(_named("SIGILL", "SIGABRT", "SIGFPE", "SIGSEGV", "SIGBUS"))
"""Faults: a bug in the daemon; their default (a core dump) is kept."""


def name_of(number: int) -> str:
    """ "SIGHUP", and "SIGRTMIN+3" for the real-time signals the Signals enum does not name."""
    low = getattr(signal, "SIGRTMIN", None)
    if low is not None and low < number <= signal.SIGRTMAX:
        return f"SIGRTMIN+{number - low}"
    return signal_name(number)


def install_signals(
    loop: asyncio.AbstractEventLoop, react: Callable[[int, Reaction], None]
) -> Callable[[], None]:
    """Handle every signal of TABLE on `loop` with `react(number, reaction)`; returns the undo."""
    for number, reaction in TABLE.items():
        loop.add_signal_handler(number, react, number, reaction)

    def uninstall() -> None:
        for number in TABLE:
            loop.remove_signal_handler(number)

    return uninstall


class SignalReactions:
    """Carries out TABLE's reactions for one daemon, through its Operations.

    A reload runs as a task (a reload waits for the programs it stops and starts);
    `close` waits for those still running.
    """

    def __init__(
        self,
        ops: Operations,
        events: EventLog,
        shutdown: Callable[[], None],
        reopen_audit: Callable[[], bool] = lambda: True,
    ) -> None:
        self._ops = ops
        self._reopen_audit = reopen_audit
        self._events = events
        self._shutdown = shutdown
        self._reloads: set[asyncio.Task[None]] = set()

    def __call__(self, number: int, reaction: Reaction) -> None:
        name = name_of(number)
        if reaction is Reaction.SHUTDOWN:
            self._say(f"{name}: shutting down")
            self._shutdown()
        elif reaction is Reaction.RELOAD:
            task = asyncio.get_running_loop().create_task(self._reload(name))
            self._reloads.add(task)
            task.add_done_callback(self._reloads.discard)
        elif reaction is Reaction.REOPEN_LOGS:
            logs = self._ops.reopen_logs()
            audit = "" if self._reopen_audit() else "; the audit log could not be reopened"
            self._say(f"{name}: reopened {logs} log files{audit}")
        else:
            self._say(f"{name}: ignored", level="warning")

    async def _reload(self, name: str) -> None:
        self._say(f"{name}: reloading the config")
        try:
            report = await self._ops.reload()
        except CorralError as exc:
            self._say(f"{name}: reload failed, the running config is kept: {exc}", level="error")
            return
        changes = {"added": report.added, "removed": report.removed, "changed": report.changed}
        shown = {key: ",".join(names) for key, names in changes.items() if names}
        self._say(f"{name}: reloaded", **shown)

    def _say(self, message: str, **data: object) -> None:
        self._events.emit("daemon", "", message=message, **data)

    async def close(self) -> None:
        """Wait for the reloads signals started (shutdown makes them end soon)."""
        await asyncio.gather(*self._reloads, return_exceptions=True)
