"""Cost of a log-pattern alert rule on log capture: the writer alone against the writer
plus the rule's watcher (`corral._supervisor.runtime.alert_logs.LogWatcher`).

What the daemon does per chunk a program writes: `LogWriter.write`, then each
follower's `offer` (a log rule's watcher is one). Lines of 100 bytes, none of which
match (the common case: the pattern is searched, nothing fires), written in chunks of
64 lines (a busy pipe) and of 1 line (one read per line, the worst case). Variants,
interleaved per round in a shuffled order: `writer` (no rule), `writer + 1 rule`
(`^ERROR`), `writer + 5 rules` (five patterns on the same stream), `writer + (?i) rule`
(one pattern with no plain literal, which the regex engine must scan byte by byte).
Reports the median time per round and its ratio to `writer`. Run:

    .venv/bin/python -m bench.alert_logs [--lines 200000] [--rounds 7] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from bench.machine import machine
from corral._observe.logs.writer import LogWriter
from corral._supervisor.runtime.alert_logs import LogWatcher

SEED = 1
LINE = b"2026-12-03 15:00:00 INFO request served in 12 ms " + b"x" * 49 + b"\n"
PATTERNS = ("^ERROR", "Traceback", "panic:", "FATAL", "OOM-killed")
NO_LITERAL = "(?i)out of memory"
"""A pattern without a plain literal to look for first: the regex reads every byte."""


def run_once(path: str, chunks: list[bytes], patterns: tuple[str, ...]) -> float:
    """Seconds to capture every chunk with a log rule of each pattern watching."""
    rules = len(patterns)
    writer = LogWriter(path, timestamps=False, max_bytes=0, backups=0)
    watcher = LogWatcher(list(enumerate(patterns)), lambda rid, line: None)
    offer: Callable[[bytes], bool] | None = watcher.offer if rules else None
    began = time.perf_counter()
    for chunk in chunks:
        writer.write(chunk)
        if offer is not None:
            offer(chunk)
    took = time.perf_counter() - began
    writer.close()
    os.unlink(path)
    return took


def measure(lines: int, per_chunk: int, rounds: int, directory: str) -> dict[str, list[float]]:
    chunk = LINE * per_chunk
    chunks = [chunk] * (lines // per_chunk)
    variants: dict[str, tuple[str, ...]] = {
        "writer": (),
        "writer + 1 rule": PATTERNS[:1],
        "writer + 5 rules": PATTERNS,
        "writer + (?i) rule": (NO_LITERAL,),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    shuffle = random.Random(SEED).shuffle
    for _ in range(rounds + 1):
        shuffle(order)
        for name in order:
            took = run_once(os.path.join(directory, "bench.log"), chunks, variants[name])
            times[name].append(took)
    return {name: values[1:] for name, values in times.items()}  # the first round warms up


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_logs", description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000, help="lines per run (200000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (7)")
    parser.add_argument("--dir", default=None, help="where the log is written (a temp dir)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print("command:", " ".join(sys.orig_argv))
    print("machine:", ", ".join(f"{k} {v}" for k, v in machine().items()))
    directory = tempfile.mkdtemp(prefix="bench-alert-logs-", dir=args.dir)
    try:
        for per_chunk in (64, 1):
            times = measure(args.lines, per_chunk, args.rounds, directory)
            floor = sorted(times["writer"])[len(times["writer"]) // 2]
            print(f"{args.lines} lines of {len(LINE)} bytes, {per_chunk} lines per chunk")
            for name, values in times.items():
                median = sorted(values)[len(values) // 2]
                rate = args.lines * len(LINE) / median / 1e6
                print(f"  {name:<19} {median:7.3f} s  {rate:7.1f} MB/s  x{median / floor:.2f}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
