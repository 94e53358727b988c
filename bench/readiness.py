"""Readiness latency: from a program's READY=1 datagram to the RUNNING state a client sees.

Usage: python -m bench.readiness [--iterations N] [--json] [--keep]

A real daemon runs one `notify = "sd_notify"` program, started and stopped once per
sample through the API. The program (a few lines of stdlib Python, written into the
scratch directory) waits 20 ms, takes CLOCK_MONOTONIC and CLOCK_REALTIME, appends
both to a file (closed before the send, so the bench never reads an older line) and
sends `READY=1` to its NOTIFY_SOCKET: the figures include that append. The bench follows
the event stream (`GET /v1/events?follow=1`, as any client would) and takes
CLOCK_MONOTONIC when the RUNNING event arrives. Two figures per sample:

- datagram -> RUNNING seen by the client: monotonic, program to bench (the target);
- datagram -> state change in the daemon: the RUNNING event's wall-clock `time`
  minus the program's CLOCK_REALTIME stamp (the daemon's share of it).

Target (issue 12): readiness seen <= 5 ms after the datagram, on the median.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time

from bench.daemon.harness import Daemon, scratch_dir, write_config
from bench.daemon.report import Figure, Target, print_figures, sampled
from corral._control.client import Client, EventFeed

TARGET = Target(5.0, "<= 5 ms (issue 12)")
WAIT = 30.0
"""Seconds any one state may take to arrive before the bench gives up."""

PROGRAM = """\
import os, socket, sys, time
time.sleep(0.02)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
out = open(sys.argv[1], "a")
mono, real = time.monotonic_ns(), time.time_ns()
out.write(f"{mono} {real}\\n")
out.close()
sock.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
time.sleep(300)
"""


def _config(directory: str) -> str:
    script = os.path.join(directory, "ready.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(PROGRAM)
    stamps = os.path.join(directory, "stamps")
    programs = textwrap.dedent(
        f"""\
        [programs.ready]
        command = [{json.dumps(sys.executable)}, {json.dumps(script)}, {json.dumps(stamps)}]
        notify = "sd_notify"
        autostart = false
        restart = "never"
        stop_timeout = 5
        """
    )
    return write_config(directory, programs)


def _wait_state(feed: EventFeed, state: str) -> tuple[int, float]:
    """(CLOCK_MONOTONIC ns when it arrived, the event's daemon wall-clock time)."""
    deadline = time.monotonic() + WAIT
    while True:
        event = feed.next(max(deadline - time.monotonic(), 0.0))
        if event.get("kind") == "state" and event["data"]["new"] == state:
            return time.monotonic_ns(), float(event["time"])


def _last_stamps(path: str) -> tuple[int, int]:
    with open(path, encoding="utf-8") as f:
        mono, real = f.read().splitlines()[-1].split()
    return int(mono), int(real)


def measure(iterations: int, warmup: int, *, keep: bool) -> list[Figure]:
    """Start and stop the program `warmup + iterations` times; the figures of the last ones."""
    seen: list[float] = []
    inside: list[float] = []
    with scratch_dir(keep=keep) as directory, Daemon(_config(directory)) as daemon:
        stamps = os.path.join(directory, "stamps")
        with Client(daemon.socket, timeout=WAIT) as follower:
            feed = follower.follow_events()
            for n in range(warmup + iterations):
                daemon.request("POST", "/start", {"targets": ["ready:0"]})
                arrived, daemon_time = _wait_state(feed, "RUNNING")
                mono, real = _last_stamps(stamps)
                if n >= warmup:
                    seen.append((arrived - mono) / 1e6)
                    inside.append(daemon_time * 1e3 - real / 1e6)
                daemon.request("POST", "/stop", {"targets": ["ready:0"]})
                _wait_state(feed, "STOPPED")
            feed.close()
    client = "READY=1 -> RUNNING seen by a client"
    return [
        sampled("readiness", client, "ms", seen, tail=0.99, target=TARGET),
        sampled("readiness", "READY=1 -> state change in the daemon", "ms", inside, tail=0.99),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=200, help="samples (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="discarded samples (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    figures = measure(args.iterations, args.warmup, keep=args.keep)
    return print_figures("bench.readiness", argv, figures, as_json=args.json, tail="p99")


if __name__ == "__main__":
    sys.exit(main())
