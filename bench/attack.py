"""The daemon under attack: its worst loop stall, and how fast a crash-looping program restarts.

A real daemon runs under `bench.loop_probe` (a heartbeat due every millisecond on its
loop; a beat's lateness is how long the loop was stalled) with `--instances` sleepers
(default 1000, one program with numprocs) and one program that exits at once and is
restarted at once (`true`, no backoff, no start limit). Each phase lasts `--seconds`
(default 3) while one attacker, a thread of ours, works on the unix socket:

- `quiet`: no attacker, the floor;
- `pipeline`: one connection sends 500 requests (`GET /v1/events` of an empty range)
  at a time without waiting, then reads the 500 answers, over and over;
- `targets`: `POST /v1/start` naming `all` 37,000 times (about 256 KiB, the largest
  body taken), over and over;
- `status`: `GET /v1/status` of every instance, over and over (not an attack: the
  largest reply a client may ask for, with a /proc scan of every tree);
- `flood`: idle connections opened as fast as the daemon takes or refuses them
  (the admitted ones held until the phase ends).

Per phase: loop lateness (p50, p99, max, ms), what the attacker got done, and the crash
loop's restarts per second (its RUNNING events over the phase). Run from the repository
root:

    .venv/bin/python -m bench.attack [--instances 1000] [--seconds 3] [--json]
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack

from bench.daemon.harness import Daemon, scratch_dir, write_config
from bench.loop_stall import Phase, render, summarise
from bench.machine import machine
from corral._control.client import Client

PIPELINED = 500
_EMPTY = b"GET /v1/events?since=4611686018427387904 HTTP/1.1\r\nHost: x\r\n\r\n"
_ALL = {"targets": ["all"] * 37_000}
"""About 256 KiB, the largest body the daemon takes (`MAX_BODY`)."""


def _config(directory: str, instances: int) -> str:
    programs = f"""
[programs.sleepers]
command = ["sleep", "300"]
numprocs = {instances}
start_seconds = 0

[programs.crashy]
command = ["true"]
start_seconds = 0
restart = "always"
backoff = {{ initial = 0, max = 0, jitter = 0 }}
start_limit = {{ burst = 1000000, interval = 1 }}
"""
    return write_config(directory, programs)


Attacker = Callable[[str, threading.Event], int]
"""Works on the daemon's socket until the event is set; returns how much it got done."""


def _pipeline(path: str, stop: threading.Event) -> int:
    answered = 0
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        while not stop.is_set():
            sock.sendall(_EMPTY * PIPELINED)
            seen = 0
            while seen < PIPELINED:
                seen += sock.recv(1 << 20).count(b"HTTP/1.1 200")
            answered += seen
    return answered


def _targets(path: str, stop: threading.Event) -> int:
    done = 0
    with Client(path, timeout=None) as client:
        while not stop.is_set():
            client.request("POST", "/v1/start", _ALL)
            done += 1
    return done


def _status(path: str, stop: threading.Event) -> int:
    done = 0
    with Client(path, timeout=None) as client:
        while not stop.is_set():
            client.request("GET", "/v1/status")
            done += 1
    return done


def _idle_flood(path: str, stop: threading.Event) -> int:
    attempts = 0
    with ExitStack() as held:
        while not stop.is_set() and attempts < 100_000:
            try:
                sock = held.enter_context(socket.socket(socket.AF_UNIX))
            except OSError as exc:  # our own fd limit: hold what we have until the end
                if exc.errno != errno.EMFILE:
                    raise
                stop.wait()
                break
            sock.connect(path)
            attempts += 1
    return attempts


ATTACKS: dict[str, Attacker | None] = {
    "quiet": None,
    "pipeline": _pipeline,
    "targets": _targets,
    "status": _status,
    "flood": _idle_flood,
}


def _phase(daemon: Daemon, name: str, seconds: float) -> tuple[Phase, int, float]:
    """(the phase, what its attacker got done, the crash loop's restarts per second)."""
    attacker = ATTACKS[name]
    since = daemon.last_seq()
    stop = threading.Event()
    done: list[int] = []
    thread = None
    if attacker is not None:
        thread = threading.Thread(target=lambda: done.append(attacker(daemon.socket, stop)))
    began = time.monotonic()
    if thread is not None:
        thread.start()
    time.sleep(seconds)
    stop.set()
    ended = time.monotonic()
    if thread is not None:
        thread.join()
    events, _ = daemon.state_events(since)
    restarts = sum(1 for e in events if e.subject == "crashy:0" and e.new == "RUNNING")
    return Phase(name, began, ended), sum(done), restarts / (ended - began)


def run(args: argparse.Namespace) -> dict[str, object]:
    """Every phase on one daemon; the table and per-phase figures."""
    with scratch_dir(keep=args.keep) as directory:
        config = _config(directory, args.instances)
        beats_path = os.path.join(directory, "beats.jsonl")
        probe = (sys.executable, "-m", "bench.loop_probe", "--out", beats_path)
        rows: dict[str, dict[str, float]] = {}
        phases: list[Phase] = []
        with Daemon(config, command=probe) as daemon:
            daemon.wait_states(args.instances, "RUNNING", 0, timeout=300)
            for name in ATTACKS:
                phase, done, rate = _phase(daemon, name, args.seconds)
                phases.append(phase)
                rows[name] = {"attacker_done": done, "restarts_per_s": rate}
        with open(beats_path, encoding="utf-8") as f:
            beats = [(float(due), float(late)) for due, late in map(json.loads, f)]
    return {"lateness": summarise(phases, beats), "phases": rows}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.attack", description=__doc__)
    parser.add_argument("--instances", type=int, default=1000, help="sleeping instances (1000)")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per phase (3)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print("command:", " ".join(sys.orig_argv))
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()))
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    lateness = result["lateness"]
    assert isinstance(lateness, dict)
    print("\n".join(render({"loop lateness": lateness})))
    phases = result["phases"]
    assert isinstance(phases, dict)
    print(f"{'phase':<12}{'attacker got done':>20}{'restarts/s':>12}")
    for name, row in phases.items():
        print(f"{name:<12}{int(row['attacker_done']):>20}{row['restarts_per_s']:>12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
