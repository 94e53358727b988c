"""FakeProgram: a real process that behaves as told, for tests of code that runs programs.

It exits with a chosen code after a chosen delay (or runs until signalled), writes
chosen output on each stream, ignores chosen signals, takes its time to exit on
SIGTERM, forks children into its group, and leaves a double-forked grandchild in a
session of its own (what a daemonizing program does). With `report` it writes its
pids there as JSON once all of them run, so a test can wait for the file.

The program is this interpreter running `fake_main.py`'s text (`python -I -c`), so
it needs nothing installed beyond Python; it starts in about 20 ms.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from corral._errors import InvalidSpec
from corral._platform import parse_signal, signal_name
from corral._process.command import Command


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeProgram:
    """What the fake does; `argv` runs it, `command()` wraps that in a Command."""

    exit_code: int = 0
    """Its exit status (0-255) when it ends by itself."""
    delay: float | None = 0.0
    """Seconds it runs before exiting; None runs until a signal ends it."""
    stdout: str = ""
    """Written to stdout at start."""
    stderr: str = ""
    """Written to stderr at start."""
    read_stdin: bool = False
    """Copy stdin to stdout (until EOF) before the delay begins."""
    ignore: tuple[str, ...] = ()
    """Signals it ignores ("TERM", "INT", "HUP", ...); SIGKILL cannot be."""
    exit_delay: float = 0.0
    """Seconds it takes to exit after SIGTERM (a slow shutdown); then 128 + 15."""
    children: int = 0
    """Children forked into its process group, each sleeping until killed."""
    grandchild: bool = False
    """Leave one double-forked grandchild in a new session (outside the group)."""
    report: str | None = None
    """A path to write {"pid", "children", "grandchild"} to once all of them run."""

    def __post_init__(self) -> None:
        if isinstance(self.exit_code, bool) or not 0 <= self.exit_code <= 255:
            raise InvalidSpec(f"fake exit_code must be within 0..255, got {self.exit_code!r}")
        for name, value in (("delay", self.delay), ("exit_delay", self.exit_delay)):
            if value is not None and (isinstance(value, bool) or value < 0):
                raise InvalidSpec(f"fake {name} must be >= 0 seconds, got {value!r}")
        if self.children < 0:
            raise InvalidSpec(f"fake children must be >= 0, got {self.children!r}")
        names = tuple(signal_name(parse_signal(name)).removeprefix("SIG") for name in self.ignore)
        if "KILL" in names or "STOP" in names:
            raise InvalidSpec("a fake program cannot ignore SIGKILL or SIGSTOP")
        object.__setattr__(self, "ignore", names)
        if self.report is not None:
            object.__setattr__(self, "report", os.fspath(self.report))

    @property
    def argv(self) -> list[str]:
        """The command line that runs the fake."""
        return [sys.executable, "-I", "-c", _program(), json.dumps(asdict(self))]

    def command(self) -> Command:
        """The fake as a Command, to run, start or pipe like any other."""
        return Command(*self.argv)


@cache
def _program() -> str:
    return (Path(__file__).parent / "fake_main.py").read_text(encoding="utf-8")
