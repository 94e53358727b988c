"""Run corral's daemon with a heartbeat on its event loop that records how late each beat ran.

Usage (bench.loop_stall starts it): python -m bench.loop_probe --out FILE [--period S] -c CONFIG

Every loop the daemon makes (through the loop policy; src/ has no hook) gets a
callback due every `--period` seconds (default 0.001). Each beat records when
it was due and how late it ran: a beat can only run once the callback before it
returns, so its lateness is how long the loop was stalled (plus the loop's own
scheduling slack, the floor an idle daemon shows). At exit the beats are
written to FILE as JSON lines `[due, late]`, both seconds on CLOCK_MONOTONIC,
which the bench process shares. Exits with the daemon's code.
"""

from __future__ import annotations

import argparse
import json
import sys
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # asyncio is imported at run time only after `ssl` is kept out
    import asyncio


class Heartbeat:
    """A callback due every `period` seconds on one loop; records (due, lateness) per beat."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.due = array("d")
        """When each beat was due (loop.time(), i.e. time.monotonic())."""
        self.late = array("d")
        """How long after its due time each beat ran, in seconds."""

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Schedule the first beat on `loop`."""
        due = loop.time() + self.period
        loop.call_at(due, self._beat, loop, due)

    def _beat(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        now = loop.time()
        self.due.append(due)
        self.late.append(max(0.0, now - due))
        following = max(due + self.period, now)
        loop.call_at(following, self._beat, loop, following)

    def write(self, path: str) -> None:
        """Every beat so far, one JSON line `[due, late]` each."""
        with open(path, "w", encoding="utf-8") as out:
            for due, late in zip(self.due, self.late, strict=True):
                out.write(json.dumps([due, late]) + "\n")


def _beating_loops(heartbeat: Heartbeat) -> None:
    import asyncio

    class Policy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            loop = super().new_event_loop()
            loop.call_soon(heartbeat.start, loop)
            return loop

    asyncio.set_event_loop_policy(Policy())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loop_probe", description=__doc__)
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--out", required=True, help="where the beats are written at exit")
    parser.add_argument("--period", type=float, default=0.001, help="seconds between beats")
    args = parser.parse_args(argv)
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]  # as corral.__main__ does
    heartbeat = Heartbeat(args.period)
    _beating_loops(heartbeat)
    from corral._control.daemon_main import run_daemon

    code = run_daemon(args.config)
    heartbeat.write(args.out)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
