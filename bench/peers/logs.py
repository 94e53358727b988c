"""Workload 1, log capture: how fast each supervisor gets a flood of stdout into its log.

`writer` prints numbered 100-byte lines, 64 per write(2) or 1 per write(2), after
stamping its own start (CLOCK_REALTIME ns) into a side file. The figure is the time
from that stamp until the supervisor's log file holds every line: its size reaches
lines x 100 bytes (x 125 with corral's timestamps on: see STAMP_BYTES). Alongside:
the supervisor daemon's CPU seconds over that time (from /proc/PID/stat; the
writer's own CPU is not counted), and lines lost or mangled (every number once, in
order, byte for byte). Floors: the writer into /dev/null,
and into `cat > file` through a pipe (cat's CPU is its rusage).

The writer waits a second before its stamp, so the CLI that started it has exited
and the daemon's CPU baseline is read before the flood; it then holds (pause()) until
the daemon is shut down, so no supervisor restarts it mid-measurement.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from bench.peers.corral import Corral
from bench.peers.peer import Adapter, Program, RunOptions, Session, SessionError
from bench.peers.report import Metric, Results, Target, times

LINE = 100
TAIL = b"x" * (LINE - 11)
MODES = (64, 1)
"""Lines per write(2)."""
START_DELAY_MS = 1000
SETTLE = 0.5
STALL = 10.0
"""Give up once the writer has finished and the log has not grown for this long."""
DEADLINE = 300.0
STAMP = re.compile(rb"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
"""corral's line prefix with timestamps on."""
STAMP_BYTES = len("2026-11-24T23:11:05.123Z ")
"""Every line gets exactly one prefix (a line continued by the next chunk gets none), so
the full log's size is known with timestamps on too: watching the size costs the harness
nothing, where counting newlines as the file grew cost it CPU only that variant paid."""


def metrics(lines: int) -> list[Metric]:
    size = f"{lines:,} lines, {lines * LINE / 1e6:g} MB"
    found = []
    for mode in MODES:
        what = f"log capture, {mode} line{'s' if mode > 1 else ''}/write ({size})"
        found += [
            Metric(f"logs{mode}.time", f"{what}: time", "s", 3, "floor-cat"),
            Metric(f"logs{mode}.cpu", f"{what}: supervisor CPU", "s", 2, "floor-cat"),
            Metric(f"logs{mode}.lost", f"{what}: lines lost or mangled", "lines", 0),
        ]
    return found


def targets() -> list[Target]:
    found = []
    for mode in MODES:
        key = f"logs{mode}.time"
        found += [
            Target(key, "corral", "<= 1.2x floor (cat)", times(1.2, key, "floor-cat")),
            Target(key, "corral-ts", "<= 1.5x floor (cat)", times(1.5, key, "floor-cat")),
            Target(f"logs{mode}.lost", "corral", "no line lost", lambda _r: 0.0),
            Target(f"logs{mode}.lost", "corral-ts", "no line lost", lambda _r: 0.0),
        ]
    return found


# -- one sample ----------------------------------------------------------------------


def _side_times(side: Path) -> list[int]:
    try:
        return [int(x) for x in side.read_text().split()]
    except (OSError, ValueError):
        return []


def wait_complete(path: Path, size: int, side: Path) -> int | None:
    """CLOCK_REALTIME ns when `path` holds `size` bytes; None if it stalls or times out."""
    seen = 0
    last_change = time.monotonic()
    deadline = last_change + DEADLINE
    while True:
        try:
            now_size = os.stat(path).st_size
        except FileNotFoundError:
            now_size = 0
        if now_size >= size:
            return time.time_ns()
        now = time.monotonic()
        if now_size != seen:
            seen, last_change = now_size, now
        elif now - last_change > STALL and len(_side_times(side)) >= 2:
            return None
        if now > deadline:
            return None
        time.sleep(0.001)


@functools.cache
def expected_bytes(lines: int) -> bytes:
    return b"".join(b"%09d %s\n" % (i, TAIL) for i in range(lines))


def count_damage(path: Path, lines: int, *, timestamps: bool) -> int:
    """Lines lost plus lines mangled (bad bytes, duplicated, out of order) in the log."""
    data = path.read_bytes() if path.exists() else b""
    if timestamps:
        data = STAMP.sub(b"", data)
    if data == expected_bytes(lines):
        return 0
    seen: set[int] = set()
    bad = 0
    last = -1
    pieces = data.split(b"\n")
    bad += pieces[-1] != b""
    for raw in pieces[:-1]:
        if len(raw) != LINE - 1 or raw[9:10] != b" " or raw[10:] != TAIL or not raw[:9].isdigit():
            bad += 1
            continue
        number = int(raw[:9])
        if number in seen or number >= lines or number < last:
            bad += 1
        seen.add(number)
        last = max(last, number)
    return (lines - len(seen & set(range(lines)))) + bad


def _writer_argv(opts: RunOptions, per_write: int, side: Path, how: str) -> list[str]:
    return [str(opts.writer), "lines", str(opts.lines), str(per_write), str(side), how]


def floor_devnull(opts: RunOptions, per_write: int) -> tuple[float | None, None, None]:
    """The writer alone, into /dev/null: its own start-to-end stamps."""
    run = opts.runs / "floor"
    _fresh(run)
    side = run / "side"
    argv = [*_writer_argv(opts, per_write, side, "exit")]
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    start, end = _side_times(side)[:2]
    return (end - start) / 1e9, None, None


def floor_cat(opts: RunOptions, per_write: int) -> tuple[float | None, float, int]:
    """The writer into `cat > file` through a pipe: time, cat's CPU, damage."""
    run = opts.runs / "floor"
    _fresh(run)
    side, log = run / "side", run / "cat.log"
    cat = shutil.which("cat") or "/bin/cat"
    with log.open("wb") as out:
        writer = subprocess.Popen(
            _writer_argv(opts, per_write, side, "exit"), stdout=subprocess.PIPE
        )
        assert writer.stdout is not None
        reader = subprocess.Popen([cat], stdin=writer.stdout, stdout=out)
        writer.stdout.close()
    done = wait_complete(log, opts.lines * LINE, side)
    _pid, status, usage = os.wait4(reader.pid, 0)
    reader.returncode = os.waitstatus_to_exitcode(status)
    writer.wait()
    start = _side_times(side)[0]
    seconds = None if done is None else (done - start) / 1e9
    return seconds, usage.ru_utime + usage.ru_stime, count_damage(log, opts.lines, timestamps=False)


def supervised(
    adapter: Adapter, opts: RunOptions, per_write: int
) -> tuple[float | None, float | None, int]:
    """The writer under `adapter`'s daemon: time, daemon CPU, damage."""
    run = opts.runs / adapter.name
    side = run / "side"
    argv = (*_writer_argv(opts, per_write, side, "hold"), str(START_DELAY_MS))
    program = Program(name="writer", argv=argv)
    stamps = isinstance(adapter, Corral) and adapter.timestamps
    size = opts.lines * (LINE + (STAMP_BYTES if stamps else 0))
    log = adapter.stdout_log(run, program)
    with Session(adapter, [program], run) as session:
        opts.keep_config(session, f"logs-{per_write}")
        time.sleep(SETTLE)
        session.start(program)
        cpu_before, read_at = session.cpu_seconds(), time.time_ns()
        done = wait_complete(log, size, side)
        cpu = session.cpu_seconds() - cpu_before
        session.check_alive()
    start = _side_times(side)[0]
    if read_at > start:
        opts.results.note(f"{adapter.name}: CPU baseline read after the writer began")
    seconds = None if done is None else (done - start) / 1e9
    return seconds, cpu, count_damage(log, opts.lines, timestamps=stamps)


def _fresh(run: Path) -> None:
    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)


# -- one round -------------------------------------------------------------------------


def run_round(adapters: list[Adapter], opts: RunOptions) -> None:
    """One sample of every variant, for each write size, in a shuffled order."""
    for per_write in MODES:
        variants: list[str | Adapter] = ["floor-devnull", "floor-cat", *adapters]
        opts.rng.shuffle(variants)
        for variant in variants:
            name = variant if isinstance(variant, str) else variant.name
            if variant == "floor-devnull":
                sample: tuple[float | None, float | None, int | None] = floor_devnull(
                    opts, per_write
                )
            elif variant == "floor-cat":
                sample = floor_cat(opts, per_write)
            else:
                assert not isinstance(variant, str)
                try:
                    sample = supervised(variant, opts, per_write)
                except SessionError as exc:
                    opts.failed(variant, f"logs-{per_write}", exc)
                    sample = (None, None, None)
            _record(opts.results, per_write, name, sample)
            seconds, cpu, damage = sample
            shown = "-" if seconds is None else f"{seconds:.3f}"
            cpu_text = "-" if cpu is None else f"{cpu:.2f}"
            opts.progress(
                f"logs {per_write}/write {name}: {shown} s, cpu {cpu_text}, lost {damage}"
            )


def _record(
    results: Results,
    per_write: int,
    name: str,
    sample: tuple[float | None, float | None, int | None],
) -> None:
    seconds, cpu, damage = sample
    results.add(f"logs{per_write}.time", name, seconds)
    if cpu is not None:
        results.add(f"logs{per_write}.cpu", name, cpu)
    if damage is not None:
        results.add(f"logs{per_write}.lost", name, float(damage))
    if seconds is None:
        results.note(f"{name}: log capture ({per_write}/write) never completed; see lines lost")
