"""corral.testing: FakeProgram behaves as told, for real; spawn_fails makes the next spawns
fail as the kernel would, and corral's own error path reports them."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

import corral
from corral import InvalidSpec, SpawnError, TimedOut
from corral.testing import FakeProgram, spawn_fails
from tests.support.pids import watch
from tests.support.waiting import wait_until


def _report(path: Path) -> dict[str, object]:
    wait_until(path.exists, what=f"the fake's report at {path}")
    report: dict[str, object] = json.loads(path.read_text())
    return report


def test_a_fake_exits_with_its_code_and_writes_its_output() -> None:
    fake = FakeProgram(exit_code=3, stdout="to stdout\n", stderr="to stderr\n")
    result = corral.run(fake.argv, check=False)
    assert result.exit_code == 3
    assert result.stdout_text == "to stdout\n"
    assert result.stderr_text == "to stderr\n"


def test_a_fake_can_echo_its_stdin() -> None:
    assert FakeProgram(read_stdin=True).command().input("abc").run().stdout_text == "abc"


def test_a_fake_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    fake = FakeProgram(delay=None, ignore=("TERM",))
    with pytest.raises(TimedOut) as timed_out:
        corral.run(fake.argv, timeout=0.5, grace=0.2)
    assert timed_out.value.result.signal_name == "SIGKILL"


def test_a_slow_exit_takes_its_time_after_sigterm_then_exits_143(tmp_path: Path) -> None:
    report = tmp_path / "pids"
    fake = FakeProgram(delay=None, exit_delay=0.2, report=str(report))
    with corral.start(fake.argv, grace=30) as proc:
        _report(report)
        result = proc.stop(grace=30)
    assert result.exit_code == 143
    assert result.signal_name is None


def test_children_and_a_daemonized_grandchild_are_made_and_ended_with_the_tree(
    tmp_path: Path,
) -> None:
    report = tmp_path / "pids"
    fake = FakeProgram(delay=None, children=2, grandchild=True, report=str(report))
    with ExitStack() as stack:
        proc = stack.enter_context(corral.start(fake.argv))
        pids = _report(report)
        assert pids["pid"] == proc.pid
        children = pids["children"]
        grandchild = pids["grandchild"]
        assert isinstance(children, list)
        assert isinstance(grandchild, int)
        assert len(children) == 2
        assert all(os.getpgid(child) == proc.pid for child in children)
        assert os.getsid(grandchild) != os.getsid(proc.pid)  # out of the group and session
        deaths = stack.enter_context(watch([*children, grandchild]))
        proc.stop()
        deaths.assert_dead()


def test_an_injected_exec_failure_is_the_spawn_error_the_kernel_would_give() -> None:
    with spawn_fails(errno.EAGAIN):
        with pytest.raises(SpawnError) as failed:
            corral.run(["true"])
        assert corral.run(["true"]).exit_code == 0  # times=1: the next spawn works
    assert failed.value.errno == errno.EAGAIN
    assert failed.value.step == "spawn"
    assert "injected by corral.testing" in str(failed.value)


def test_an_injected_emfile_fails_the_pipes_and_leaks_no_fd() -> None:
    before = len(os.listdir("/proc/self/fd"))
    with spawn_fails(errno.EMFILE, step="pipe", times=None), pytest.raises(SpawnError) as failed:
        corral.run(["true"])
    assert failed.value.errno == errno.EMFILE
    assert failed.value.step == "pipe for stdout"
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_fault_can_be_kept_to_one_program_and_reaches_the_async_twin() -> None:
    async def both() -> tuple[BaseException | corral.Result, ...]:
        return tuple(
            await asyncio.gather(
                corral.run_async(["false"]), corral.run_async(["true"]), return_exceptions=True
            )
        )

    with spawn_fails(errno.ENOMEM, program="false", times=None):
        false, true = asyncio.run(both())
    assert isinstance(false, SpawnError)
    assert false.errno == errno.ENOMEM
    assert isinstance(true, corral.Result)


def test_a_real_emfile_is_a_spawn_error_too() -> None:
    # not injected: a process with no fds left to make the pipes with (subprocess and
    # asyncio raise a bare OSError here; corral promises CorralError for every failure)
    script = """
import errno, os, resource, sys
import corral
corral.run(["true"])  # every module it needs is imported before the fds run out
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
held = []
try:
    while True:
        held.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    pass
os.close(held.pop())
try:
    corral.run(["true"])
except corral.SpawnError as exc:
    print(exc.step, errno.errorcode[exc.errno])
"""
    src = Path(corral.__file__).parent.parent
    env = dict(os.environ, PYTHONPATH=str(src))
    argv = [sys.executable, "-c", script]
    out = subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)
    assert out.stdout.decode().split() == ["pipe", "for", "stdout", "EMFILE"], out.stderr


def test_bad_fakes_and_faults_are_refused() -> None:
    with pytest.raises(InvalidSpec, match="exit_code"):
        FakeProgram(exit_code=300)
    with pytest.raises(InvalidSpec, match="SIGKILL"):
        FakeProgram(ignore=("KILL",))
    with pytest.raises(InvalidSpec, match="signal"):
        FakeProgram(ignore=("NOPE",))
    with pytest.raises(InvalidSpec, match="step"), spawn_fails(step="fork"):
        pass
    with pytest.raises(InvalidSpec, match="errno"), spawn_fails(99999):
        pass
