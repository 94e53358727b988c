"""Cgroup limits through the library: `sandbox=Sandbox(cgroup=CgroupLimits(...))`.

Each test starts a real helper in a cgroup of its own (on this machine, the v1
hierarchies of the hybrid layout) and proves the effect: a fork bomb stops at the
pids limit, a memory hog is OOM-killed at the memory limit, the CPU quota is in
the controller's files, and a double-forked daemon that the /proc scan cannot find
still dies, because its cgroup holds it. Deaths are proved with pidfds and by EOF
on a pipe every descendant holds; no cgroup may be left behind.
"""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import Iterator

import pytest

import corral
from corral._platform.linux.cgroups import detect
from corral.lowlevel import Feature, override_feature
from corral.sandbox import CgroupLimits, Sandbox
from tests.helpers import argv
from tests.support import cgroups
from tests.support.pids import PidReports, assert_reaped
from tests.support.twins import AsyncDriven, Handle, Twin

MIB = 1 << 20


@pytest.fixture(autouse=True)
def no_leftover_cgroups() -> Iterator[None]:
    with cgroups.checked():
        yield


def limits(**fields: object) -> Sandbox:
    return Sandbox(cgroup=CgroupLimits(**fields))  # type: ignore[arg-type]


def cgroup_usage(proc: Handle) -> dict[str, int | float | None] | None:
    """`cgroup_usage()` of the real handle (the async twin wraps an AsyncProcess)."""
    real = proc.proc if isinstance(proc, AsyncDriven) else proc
    assert isinstance(real, corral.Process | corral.AsyncProcess)
    return real.cgroup_usage()


def usage(proc: Handle) -> dict[str, int | float | None]:
    found = cgroup_usage(proc)
    assert found is not None
    return found


@pytest.mark.requires(Feature.CGROUP_PIDS)
def test_a_fork_bomb_stops_at_pids_max_and_nothing_outlives_the_stop(twin: Twin) -> None:
    with PidReports() as reports:
        fd = reports.write_fd
        bomb = argv("fork_bomb", "--fd", str(fd), "--tries", "150")
        with twin.start(bomb, pass_fds=[fd], sandbox=limits(pids_max=64)) as proc:
            words = (proc.readline() or "").split()
            assert proc.readline() == "ready"
            forked, failed = int(words[1]), int(words[3])
            assert forked == 63  # the root is the 64th
            assert failed == 150 - 63  # each refused with EAGAIN
            assert usage(proc)["pids"] == 64
            directory = cgroups.cgroup_of(proc.pid, "pids")
            assert len(cgroups.members(directory)) == 64
            children = reports.wait_for(forked)
        assert not os.path.exists(directory)
        reports.deaths.assert_dead()
    # leaving `reports` waited for EOF: no process holds the pipe any more
    for pid in children:
        assert_reaped(pid)


@pytest.mark.requires(Feature.CGROUP_MEMORY)
def test_a_memory_hog_is_oom_killed_at_memory_max(twin: Twin) -> None:
    sandbox = limits(memory_max=64 * MIB)
    with twin.start(argv("hog_memory", "1024"), sandbox=sandbox, check=False) as proc:
        result = proc.wait()
        used = usage(proc)
    assert result.signal_name == "SIGKILL"
    assert "survived" not in result.stdout_text
    assert used["oom_kills"] is not None
    assert used["oom_kills"] >= 1
    assert used["memory_peak"] is not None
    assert used["memory_peak"] <= 64 * MIB


@pytest.mark.requires(Feature.CGROUP_MEMORY)
def test_run_reports_the_oom_kill_as_killed_by_sigkill(twin: Twin) -> None:
    with pytest.raises(corral.KilledBySignal) as caught:
        twin.run(argv("hog_memory", "1024"), sandbox=limits(memory_max=64 * MIB))
    assert caught.value.signal_name == "SIGKILL"


@pytest.mark.requires(Feature.CGROUP_CPU)
def test_the_cpu_quota_and_weight_are_written(twin: Twin) -> None:
    sandbox = limits(cpu_quota=0.5, cpu_weight=200)
    with twin.start(argv("trap_term", "exit"), sandbox=sandbox) as proc:
        assert proc.readline() == "ready"
        directory = cgroups.cgroup_of(proc.pid, "cpu")
        files = sorted(os.listdir(directory))
        if "cpu.max" in files:  # cgroup v2
            assert read(directory, "cpu.max") == "50000 100000"
            assert read(directory, "cpu.weight") == "200"
        else:
            assert read(directory, "cpu.cfs_quota_us") == "50000"
            assert read(directory, "cpu.cfs_period_us") == "100000"
            assert read(directory, "cpu.shares") == "2048"  # weight 100 is 1024 shares


@pytest.mark.requires(Feature.CGROUPS)
def test_a_double_forked_daemon_the_scan_cannot_find_dies_on_stop(twin: Twin) -> None:
    with PidReports() as reports, override_feature(Feature.PROC_SCAN, False):
        fd = reports.write_fd
        daemon = argv("double_fork", "--fd", str(fd), "--detach")
        with twin.start(daemon, pass_fds=[fd], sandbox=limits()) as proc:
            assert (proc.readline() or "").isdigit()
            assert proc.readline() == "ready"
            root, grandchild = reports.wait_for(2)
            assert os.getsid(grandchild) != os.getsid(root)  # out of the group and session
            result = proc.stop()
        reports.deaths.assert_dead()
    assert result.signal_name == "SIGTERM"
    assert_reaped(grandchild)


@pytest.mark.requires(Feature.CGROUPS)
def test_what_a_finished_run_left_in_its_cgroup_dies_when_the_cgroup_goes(twin: Twin) -> None:
    with PidReports() as reports, override_feature(Feature.PROC_SCAN, False):
        fd = reports.write_fd
        daemon = argv("double_fork", "--fd", str(fd), "--detach", "--root-exits")
        result = twin.run(daemon, pass_fds=[fd], sandbox=limits())
        _, grandchild = reports.wait_for(2)
        reports.deaths.assert_dead()
    assert result.exit_code == 0
    assert_reaped(grandchild)


@pytest.mark.requires(Feature.CGROUP_CPU)
def test_a_limit_the_kernel_refuses_fails_the_spawn_naming_the_file(twin: Twin) -> None:
    with pytest.raises(corral.SpawnError) as caught:
        twin.run(argv("exit_with", "0"), sandbox=limits(cpu_quota=0.001))
    error = caught.value
    assert error.step in ("cgroup: cpu.cfs_quota_us", "cgroup: cpu.max")
    assert error.errno == errno.EINVAL
    assert f"{error.step}: invalid argument (writing '100" in str(error)
    assert str(error).endswith("[EINVAL]")


@pytest.mark.requires(Feature.CGROUP_MEMORY)
def test_memory_high_is_applied_on_v2_and_refused_by_name_on_v1(twin: Twin) -> None:
    driver = detect()
    assert driver is not None
    run_it = functools.partial(
        twin.run, argv("exit_with", "0"), sandbox=limits(memory_high=64 * MIB)
    )
    if driver.version == 2:
        assert run_it().exit_code == 0
        return
    with pytest.raises(corral.UnsupportedFeature) as caught:
        run_it()
    assert caught.value.feature == "cgroup-memory"
    assert caught.value.reason.startswith("memory_high has no cgroup v1 equivalent")


def test_a_cgroup_feature_switched_off_is_an_error_naming_it(twin: Twin) -> None:
    with (
        override_feature(Feature.CGROUP_PIDS, False),
        pytest.raises(corral.UnsupportedFeature) as caught,
    ):
        twin.run(argv("exit_with", "0"), sandbox=limits(pids_max=8))
    assert caught.value.feature == "cgroup-pids"


@pytest.mark.requires(Feature.CGROUPS)
def test_usage_outlives_the_handle_and_is_none_without_a_cgroup(twin: Twin) -> None:
    with twin.start(argv("exit_with", "0"), sandbox=limits()) as proc:
        proc.wait()
    final = usage(proc)
    assert set(final) == {"memory_current", "memory_peak", "cpu_seconds", "pids", "oom_kills"}
    assert final["cpu_seconds"] is not None
    assert final["cpu_seconds"] > 0
    with twin.start(argv("exit_with", "0")) as plain:
        plain.wait()
    assert cgroup_usage(plain) is None


def read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as f:
        return f.read().strip()


@pytest.mark.requires(Feature.CGROUP_MEMORY)
def test_run_names_the_oom_killer(twin: Twin) -> None:
    with pytest.raises(corral.KilledBySignal) as caught:
        twin.run(argv("hog_memory", "1024"), sandbox=limits(memory_max=64 * MIB))
    assert caught.value.oom_killed
    result = caught.value.result
    assert isinstance(result, corral.Result)
    assert result.oom_killed
    assert result.how == "OOM-killed (SIGKILL)"
    assert "the OOM killer (SIGKILL)" in str(caught.value)


def test_a_plain_sigkill_is_not_called_an_oom_kill(twin: Twin) -> None:
    with twin.start(["sleep", "30"], check=False) as proc:
        result = proc.kill()
    assert result.signal_name == "SIGKILL"
    assert not result.oom_killed
    assert result.how == "SIGKILL"
