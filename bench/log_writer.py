"""Micro-benchmark: LogWriter against plain os.write of the same chunks to a file.

Writes 1,000,000 lines of 100 bytes in 64-line chunks (a busy pipe) and in 1-line
chunks (the worst case: one syscall per line), with timestamps off and on, and
prints MB/s, lines/s and the ratio of time against plain os.write. Figures only;
it asserts nothing. Each figure is the best of --repeat runs.

    .venv/bin/python bench/log_writer.py [--repeat 3] [--dir /var/tmp]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable

from corral._observe.logs.writer import LogWriter

LINES = 1_000_000
LINE = b"x" * 99 + b"\n"

Sink = Callable[[str], tuple[Callable[[bytes], None], Callable[[], None]]]


def plain_sink(path: str) -> tuple[Callable[[bytes], None], Callable[[], None]]:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(chunk: bytes) -> None:
        os.write(fd, chunk)

    return write, lambda: os.close(fd)


def writer_sink(*, timestamps: bool, max_bytes: int = 0, backups: int = 0) -> Sink:
    def make(path: str) -> tuple[Callable[[bytes], None], Callable[[], None]]:
        w = LogWriter(path, timestamps=timestamps, max_bytes=max_bytes, backups=backups)
        return w.write, w.close

    return make


def run_once(sink: Sink, lines_per_chunk: int, directory: str) -> float:
    path = os.path.join(directory, "bench.log")
    chunk = LINE * lines_per_chunk
    count = LINES // lines_per_chunk
    write, close = sink(path)
    start = time.perf_counter()
    for _ in range(count):
        write(chunk)
    elapsed = time.perf_counter() - start
    close()
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    return elapsed


def best_of(repeat: int, sink: Sink, lines_per_chunk: int, directory: str) -> float:
    return min(run_once(sink, lines_per_chunk, directory) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write (default: the temp dir)")
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="corral-bench-", dir=args.dir)
    sinks: list[tuple[str, Sink]] = [
        ("os.write (baseline)", plain_sink),
        ("LogWriter, timestamps off", writer_sink(timestamps=False)),
        ("LogWriter, timestamps on", writer_sink(timestamps=True)),
        (
            "LogWriter, off, rotate 16 MiB x3",
            writer_sink(timestamps=False, max_bytes=16 << 20, backups=3),
        ),
        (
            "LogWriter, on, rotate 16 MiB x3",
            writer_sink(timestamps=True, max_bytes=16 << 20, backups=3),
        ),
    ]
    try:
        for lines_per_chunk in (64, 1):
            print(f"\n{LINES:,} lines of {len(LINE)} bytes, {lines_per_chunk} line(s) per chunk")
            print(f"  {'':34} {'MB/s':>8} {'lines/s':>12} {'x baseline':>11}")
            baseline = 0.0
            for label, sink in sinks:
                seconds = best_of(args.repeat, sink, lines_per_chunk, directory)
                baseline = baseline or seconds
                mbps = LINES * len(LINE) / seconds / 1e6
                print(
                    f"  {label:34} {mbps:8.0f} {LINES / seconds:12,.0f} {seconds / baseline:11.2f}"
                )
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
