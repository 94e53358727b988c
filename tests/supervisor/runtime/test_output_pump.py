"""OutputPump: a child's pipe into its log and its followers, whole, in order, sharing the loop."""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from corral._observe.logs.follower import LogFollower
from corral._observe.logs.writer import LogWriter
from corral._supervisor.runtime.output import READ_SIZE, READS_PER_WAKEUP, OutputPump
from tests.support.waiting import DEADLINE

HELPERS = Path(__file__).resolve().parents[2] / "helpers"
Followers = dict[str, set[LogFollower]]


def _lines(count: int, width: int = 64) -> bytes:
    """`count` numbered lines of `width` bytes each, so any loss or reordering shows."""
    return b"".join(b"%0*d\n" % (width - 1, n) for n in range(count))


def _writer(path: Path) -> LogWriter:
    return LogWriter(str(path), timestamps=False, max_bytes=0, backups=0)


async def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """Yield to the loop until `condition` holds; fail after the deadline."""
    try:
        async with asyncio.timeout(DEADLINE):
            while not condition():
                await asyncio.sleep(0)  # one loop iteration, not a timed wait
    except TimeoutError:
        raise AssertionError(f"waited {DEADLINE:g} s for {what}") from None


def test_a_full_pipe_is_drained_four_reads_per_wakeup_then_the_loop_moves_on(
    tmp_path: Path,
) -> None:
    data = _lines(16 * 1024)  # 1 MiB: far more than one wakeup may take
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, len(data))
    assert os.write(write_end, data) == len(data)
    os.close(write_end)
    path = tmp_path / "flood.log"

    async def scenario() -> list[int]:
        loop = asyncio.get_running_loop()
        with _writer(path) as writer:
            pump = OutputPump(loop, read_end, writer, {}, "stdout")
            sizes: list[int] = []

            def tick() -> None:  # runs once per loop iteration, between the pump's wakeups
                sizes.append(writer.size)
                if not pump.closed:
                    loop.call_soon(tick)

            tick()
            await _wait_for(lambda: pump.closed, "EOF")
            return sizes

    sizes = asyncio.run(scenario(), debug=True)
    assert path.read_bytes() == data
    per_wakeup = READS_PER_WAKEUP * READ_SIZE
    steps = [after - before for before, after in itertools.pairwise(sizes)]
    assert [step for step in steps if step] == [per_wakeup] * (len(data) // per_wakeup)


def test_a_child_flooding_both_streams_reaches_both_logs_and_a_follower_whole(
    tmp_path: Path,
) -> None:
    size = 8 * 1024 * 1024
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    child = subprocess.Popen(
        [sys.executable, str(HELPERS / "flood.py"), str(size)],
        stdout=out_write,
        stderr=err_write,
        stdin=subprocess.DEVNULL,
    )
    os.close(out_write)
    os.close(err_write)

    async def scenario() -> bytes:
        loop = asyncio.get_running_loop()
        follower = LogFollower(max_bytes=2 * size)  # a reader that keeps up, as far as bounds go
        followers: Followers = {"stdout": {follower}}
        with _writer(tmp_path / "out.log") as out, _writer(tmp_path / "err.log") as err:
            pumps = [
                OutputPump(loop, out_read, out, followers, "stdout"),
                OutputPump(loop, err_read, err, followers, "stderr"),
            ]
            await _wait_for(lambda: all(p.closed for p in pumps), "EOF on both pipes")
        assert not follower.cut_off
        return await follower.take()

    try:
        followed = asyncio.run(scenario(), debug=True)
    finally:
        child.wait(timeout=DEADLINE)
    assert followed == (b"o" * 63 + b"\n") * (size // 64)
    assert (tmp_path / "out.log").read_bytes() == followed
    assert (tmp_path / "err.log").read_bytes() == (b"e" * 63 + b"\n") * (size // 64)


def test_bytes_reach_the_log_as_they_arrive_even_mid_line(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    path = tmp_path / "chatty.log"

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        with _writer(path) as writer:
            pump = OutputPump(loop, read_end, writer, {}, "stdout")
            os.write(write_end, b"begun ")
            await _wait_for(lambda: path.read_bytes() == b"begun ", "the begun line")
            os.write(write_end, b"and ended\nnext")
            await _wait_for(lambda: path.read_bytes() == b"begun and ended\nnext", "the rest")
            os.close(write_end)
            await _wait_for(lambda: pump.closed, "EOF")
        assert path.read_bytes() == b"begun and ended\nnext\n"  # EOF ends the last line

    asyncio.run(scenario(), debug=True)
