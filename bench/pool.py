"""Pool worker death and timeouts: how soon the task fails, how soon a spare takes over.

Usage: python -m bench.pool [--iterations N] [--spares N] [--json]

`Pool(1, spares=1)`: one task slot and one warm spare (`--spares 0`: none, so the
next task waits for a fresh interpreter). Each sample submits a task
that reports its worker's pid through a FIFO and waits, then a second task that
returns CLOCK_MONOTONIC as it starts (queued behind the first). The bench takes
CLOCK_MONOTONIC and SIGKILLs the worker; the first task's done-callback (run in the
pool's loop thread when it sets WorkerDied) takes CLOCK_MONOTONIC again. Figures:

- death -> its future fails (target, issue 14: <= 10 ms);
- death -> the spare starts the next task (target, issue 14: <= 15 ms);
- a 0.2 s timeout: from submit (to an idle, ready worker) to TaskTimedOut, minus 0.2 s.

Between samples the bench waits (a back-off re-check) until the replacement spare
has said READY, so every sample kills a pool with a warm spare.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from typing import Any

from bench.daemon.report import Target, print_figures, sampled
from corral.pool import Pool, TaskTimedOut, WorkerDied

DETECT = Target(10.0, "<= 10 ms (issue 14)")
SPARE = Target(15.0, "<= 15 ms (issue 14)")
LATE = Target(10.0, "<= 10 ms (issue 14)")
WAIT = 30.0


def report_pid_and_wait(fifo: str) -> None:
    """In a worker: write our pid to the FIFO, then wait to be killed."""
    with open(fifo, "w") as out:
        out.write(str(os.getpid()))
    signal.pause()


def started_at() -> float:
    """In a worker: CLOCK_MONOTONIC as the task starts (one clock for the machine)."""
    return time.monotonic()


def _warm(pool: Pool, workers: int) -> None:
    """Re-check, with a short back-off, until `workers` workers are READY and idle."""
    engine = pool._engine  # a bench may look inside: this is what "a warm spare" means
    deadline, delay = time.monotonic() + WAIT, 0.001
    while sum(w.ready and not w.ending for w in list(engine.workers)) < workers:
        if time.monotonic() > deadline:
            raise SystemExit("the pool did not get its spare back within 30 s")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _read_fifo(fifo: str) -> str:
    """What a task writes to the FIFO; SystemExit if no task writes within 30 s."""
    got: list[str] = []

    def read() -> None:
        with open(fifo) as reports:
            got.append(reports.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(WAIT)
    if not got:
        raise SystemExit("no task wrote its pid to the FIFO within 30 s")
    return got[0]


def _fail_time(future: Future[Any]) -> list[float]:
    seen: list[float] = []
    future.add_done_callback(lambda _f: seen.append(time.monotonic()))
    return seen


def deaths(pool: Pool, fifo: str, samples: int, workers: int) -> tuple[list[float], list[float]]:
    """(death -> future failed, death -> next task started), in ms, per sample."""
    detect: list[float] = []
    replace: list[float] = []
    for _ in range(samples):
        _warm(pool, workers)
        doomed = pool.submit(report_pid_and_wait, fifo)
        failed = _fail_time(doomed)
        following = pool.submit(started_at)
        pid = int(_read_fifo(fifo))
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        if not isinstance(doomed.exception(WAIT), WorkerDied):
            raise SystemExit(f"expected WorkerDied, got {doomed.exception()!r}")
        started = following.result(WAIT)
        detect.append((failed[0] - killed) * 1e3)
        replace.append((started - killed) * 1e3)
    return detect, replace


def timeouts(pool: Pool, fifo: str, samples: int, workers: int) -> list[float]:
    """How late a 0.2 s timeout fails its future, in ms, per sample."""
    late: list[float] = []
    for _ in range(samples):
        _warm(pool, workers)
        submitted = time.monotonic()
        future = pool.schedule(report_pid_and_wait, (fifo,), timeout=0.2)
        failed = _fail_time(future)
        _read_fifo(fifo)
        if not isinstance(future.exception(WAIT), TaskTimedOut):
            raise SystemExit(f"expected TaskTimedOut, got {future.exception()!r}")
        late.append((failed[0] - submitted - 0.2) * 1e3)
    return late


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=100, help="samples (default 100)")
    parser.add_argument("--spares", type=int, default=1, help="warm spares (default 1)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    # the tasks must be pickled by reference to an importable module, not __main__
    here = importlib.import_module("bench.pool")

    scratch = tempfile.TemporaryDirectory(prefix="cb-pool-")
    with scratch as directory, Pool(1, spares=args.spares) as pool:
        fifo = os.path.join(directory, "pids")
        os.mkfifo(fifo)
        detect, replace = here.deaths(pool, fifo, args.iterations, 1 + args.spares)
        late = here.timeouts(pool, fifo, max(args.iterations // 4, 1), 1 + args.spares)
    figures = [
        sampled("death", "SIGKILL -> its future fails", "ms", detect, target=DETECT),
        sampled("death", "SIGKILL -> the spare starts the next task", "ms", replace, target=SPARE),
        sampled("timeout", "0.2 s timeout: TaskTimedOut this late", "ms", late, target=LATE),
    ]
    return print_figures("bench.pool", argv, figures, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
