"""The cgroup drivers on real hierarchies: layout, membership, limits, usage, kill, removal.

Every test runs against each driver this machine can build: here the v1 driver on
the hybrid layout's controller hierarchies, and the v2 driver on its controller-less
unified tree (membership, kill and removal work there; limits are refused, saying
why). Children join an instance the way sandboxed spawns do, through a step run
between fork and exec. Scratch cgroups are removed; a test that leaves one fails.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import IO

import pytest

import corral
from corral._platform import ChildStep, ChildStepFailed, environ_bytes, fork_exec, tree_members
from corral._platform.linux.cgroups import (
    Cgroup,
    CgroupDriver,
    CgroupStepFailed,
    Controller,
    driver_for,
    instance_name,
    join,
    layout,
    status_of,
)
from corral._platform.linux.cgroups.v1 import V1Driver
from corral._platform.linux.cgroups.v2 import V2Driver
from corral._process.tree import Tree
from corral._sandbox.cgroup_plan import InstanceCgroup
from corral.lowlevel import Feature
from tests.helpers import argv
from tests.support import cgroups as scratch_check
from tests.support.pids import PidReports

pytestmark = pytest.mark.requires(Feature.CGROUPS)

HIERARCHIES = layout.hierarchies()
DRIVERS: list[CgroupDriver] = [
    driver
    for driver in (
        V1Driver([h for h in HIERARCHIES if h.version == 1]) if any(
            h.version == 1 for h in HIERARCHIES) else None,
        next((V2Driver(h) for h in HIERARCHIES if h.version == 2), None),
    )
    if driver is not None and driver.problem(None) is None
]  # fmt: skip
CONTROLLERS: tuple[Controller, ...] = ("memory", "cpu", "pids")
FEATURE = {"memory": Feature.CGROUP_MEMORY, "cpu": Feature.CGROUP_CPU, "pids": Feature.CGROUP_PIDS}
USABLE = [(d, c) for d in DRIVERS for c in CONTROLLERS if d.problem(c) is None]
LACKING = [(d, c) for d in DRIVERS for c in CONTROLLERS if d.problem(c) is not None]
_names = itertools.count()


def driver_id(value: object) -> str:
    return f"v{value.version}" if isinstance(value, V1Driver | V2Driver) else str(value)


each_driver = pytest.mark.parametrize("driver", DRIVERS, ids=driver_id)


@pytest.fixture(autouse=True)
def no_leftover_cgroups() -> Iterator[None]:
    with scratch_check.checked():
        yield


@pytest.fixture
def scratch() -> Iterator[Callable[[CgroupDriver, frozenset[Controller]], Cgroup]]:
    """Make instance cgroups; each is removed after the test."""
    made: list[Cgroup] = []

    def make(driver: CgroupDriver, controllers: frozenset[Controller] = frozenset()) -> Cgroup:
        cgroup = driver.create(f"test.{os.getpid()}.{next(_names)}", controllers)
        made.append(cgroup)
        return cgroup

    yield make
    for cgroup in made:
        cgroup.remove()


@contextlib.contextmanager
def started_in(cgroup: Cgroup, *args: str, pass_fds: tuple[int, ...] = ()) -> Iterator[
        tuple[int, IO[str]]]:  # fmt: skip
    """Start a helper that joins `cgroup` before exec; yield its pid and stdout."""
    steps = [
        ChildStep(f"cgroup: join {d}", functools.partial(join, os.path.join(d, "cgroup.procs")))
        for d in cgroup.directories
    ]
    read, write = os.pipe()
    try:
        pid = fork_exec(
            sys.executable, [sys.executable, *args], environ_bytes(), cwd=None,
            fd_map=[(write, 1)], pass_fds=pass_fds, pgroup=0, new_session=False, steps=steps,
        )  # fmt: skip
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    with os.fdopen(read) as out:
        try:
            yield pid, out
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):  # the test reaped it already
                os.waitpid(pid, 0)


def reap(pids: list[int]) -> None:
    """Collect those of `pids` that were re-parented to us (we are a subreaper)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as f:
        return f.read().strip()


# -- layout ---------------------------------------------------------------------


def test_our_own_cgroup_is_found_in_every_hierarchy() -> None:
    assert HIERARCHIES
    for hierarchy in HIERARCHIES:
        assert str(os.getpid()) in read(hierarchy.own, "cgroup.procs").split(), hierarchy
        assert hierarchy.own.startswith(hierarchy.mount)


def test_v1_controllers_choose_the_v1_driver_and_a_v2_tree_alone_the_v2_driver() -> None:
    v1 = [h for h in HIERARCHIES if h.version == 1]
    v2 = [h for h in HIERARCHIES if h.version == 2]
    assert isinstance(driver_for(HIERARCHIES), V1Driver if v1 else V2Driver)
    if v2:
        assert isinstance(driver_for(v2), V2Driver)
    assert driver_for([]) is None


def test_without_a_hierarchy_each_cgroup_feature_says_what_is_missing() -> None:
    for feature in (Feature.CGROUPS, *FEATURE.values()):
        status = status_of(None, feature)
        assert not status.supported
        assert "no cgroup file system is mounted" in status.reason
        assert status.needs == "a mounted cgroup2 file system (or cgroup v1 controllers)"


def test_instance_names_are_single_safe_directory_names() -> None:
    assert instance_name("web:0") == "web:0"
    assert instance_name("../etc/x y") == "_etc_x_y"
    assert instance_name("...") == "instance"


# -- membership, usage, kill, removal ----------------------------------------------


@each_driver
def test_an_instance_is_made_beneath_our_own_cgroup_and_removed(
    driver: CgroupDriver, scratch: Callable[[CgroupDriver], Cgroup]
) -> None:
    cgroup = scratch(driver)
    owns = [h.own for h in HIERARCHIES]
    for directory in cgroup.directories:
        assert os.path.isdir(directory)
        parent = os.path.dirname(directory)
        assert os.path.basename(parent) == f"corral.{os.getpid()}"
        assert os.path.dirname(parent) in owns
    cgroup.remove()
    assert not any(os.path.exists(d) for d in cgroup.directories)
    assert scratch_check.leftovers() == []  # corral.<pid> went with its last instance


def test_an_instance_is_made_even_when_a_release_thread_removed_our_parent_meanwhile() -> None:
    # A release thread (off the daemon's loop) may rmdir the emptied corral.<pid> between
    # the creator's mkdir of it and of the instance; creating takes no lock the loop
    # could wait on, so it makes the parent again instead.
    hierarchy = HIERARCHIES[0]
    removed: list[str] = []

    def release_meanwhile(parent: str) -> None:
        if not removed:
            os.rmdir(parent)
            removed.append(parent)

    directory = layout.make_instance(hierarchy, f"race-{next(_names)}", release_meanwhile)
    try:
        assert removed, "the parent was not removed in between"
        assert os.path.isdir(directory)
        assert os.path.dirname(directory) == removed[0]
    finally:
        layout.remove_instance(directory)
    assert scratch_check.leftovers() == []


@each_driver
def test_the_child_joins_every_hierarchy_before_exec(
    driver: CgroupDriver, scratch: Callable[[CgroupDriver], Cgroup]
) -> None:
    cgroup = scratch(driver)
    with started_in(cgroup, *argv("trap_term", "exit")[1:]) as (pid, out):
        assert out.readline() == "ready\n"
        assert cgroup.members() == [pid]
        for directory in cgroup.directories:
            assert read(directory, "cgroup.procs").split() == [str(pid)]


@each_driver
def test_usage_reports_what_the_layout_can_tell(
    driver: CgroupDriver, scratch: Callable[[CgroupDriver], Cgroup]
) -> None:
    cgroup = scratch(driver)
    with started_in(cgroup, *argv("trap_term", "exit")[1:]) as (_, out):
        assert out.readline() == "ready\n"
        usage = cgroup.usage()
    assert usage.cpu_seconds is not None
    assert usage.cpu_seconds > 0
    if driver.problem("pids") is None:
        assert usage.pids == 1
    else:
        assert usage.pids is None
    if driver.problem("memory") is None:
        assert usage.memory_current is not None
        assert usage.memory_current > 0
        assert usage.memory_peak is not None
        assert usage.memory_peak >= usage.memory_current
        assert usage.oom_kills == 0
    else:
        assert (usage.memory_current, usage.memory_peak, usage.oom_kills) == (None, None, None)


@each_driver
def test_kill_all_ends_every_member_even_a_double_forked_one(
    driver: CgroupDriver, scratch: Callable[[CgroupDriver], Cgroup]
) -> None:
    cgroup = scratch(driver)
    with PidReports() as reports:
        fd = reports.write_fd
        args = argv("double_fork", "--fd", str(fd), "--detach")[1:]
        with started_in(cgroup, *args, pass_fds=(fd,)) as (_, out):
            assert out.readline().strip().isdigit()
            assert out.readline() == "ready\n"
            root, grandchild = reports.wait_for(2)
            killed = cgroup.kill_all()
            assert {root, grandchild} <= set(killed)
            reports.deaths.assert_dead()
            assert cgroup.members() == []
            reap([grandchild])


@each_driver
def test_a_tree_with_a_cgroup_has_every_process_in_it_as_a_member(
    driver: CgroupDriver, scratch: Callable[[CgroupDriver], Cgroup]
) -> None:
    # The grandchild left the root's group and session, carries no marker and was
    # re-parented to us: only the cgroup ties it to the tree.
    cgroup = scratch(driver)
    nobody = f"CORRAL_TREE=test-{os.getpid()}-in-no-environment".encode()
    with PidReports() as reports:
        fd = reports.write_fd
        args = argv("double_fork", "--fd", str(fd), "--detach")[1:]
        with started_in(cgroup, *args, pass_fds=(fd,)) as (_, out):
            assert out.readline().strip().isdigit()
            assert out.readline() == "ready\n"
            root, grandchild = reports.wait_for(2)
            (with_cgroup,) = tree_members([Tree(root, root, nobody, InstanceCgroup(cgroup))])
            (without,) = tree_members([Tree(root, root, nobody)])
            cgroup.kill_all()
            reports.deaths.assert_dead()
            reap([grandchild])
    assert {s.pid for s in with_cgroup} == {root, grandchild}
    assert {s.pid for s in without} == {root}


@each_driver
def test_remove_kills_what_is_left_in_it(
    driver: CgroupDriver, scratch: Callable[[CgroupDriver], Cgroup]
) -> None:
    cgroup = scratch(driver)
    with started_in(cgroup, *argv("trap_term", "ignore")[1:]) as (pid, out):
        assert out.readline() == "ready\n"
        cgroup.remove()
        assert not any(os.path.exists(d) for d in cgroup.directories)
        _, status = os.waitpid(pid, 0)
        assert os.WTERMSIG(status) == signal.SIGKILL


def test_a_failed_join_in_the_child_names_the_step() -> None:
    own = HIERARCHIES[0].own
    step = f"cgroup: join {own}/no-such-cgroup"
    join_missing = functools.partial(join, f"{own}/no-such-cgroup/cgroup.procs")
    with pytest.raises(ChildStepFailed) as caught:
        fork_exec(
            sys.executable, [sys.executable, "-c", "pass"], environ_bytes(), cwd=None,
            fd_map=[], pass_fds=(), pgroup=0, new_session=False,
            steps=[ChildStep(step, join_missing)],
        )  # fmt: skip
    assert caught.value.step == step
    assert caught.value.errno == errno.ENOENT


# -- limits -----------------------------------------------------------------------

EXPECTED: dict[tuple[int, str], dict[str, str]] = {
    (1, "memory"): {"memory.limit_in_bytes": str(64 << 20)},
    (1, "cpu"): {"cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000", "cpu.shares": "2048"},
    (1, "pids"): {"pids.max": "64"},
    (2, "memory"): {"memory.max": str(64 << 20), "memory.high": str(48 << 20)},
    (2, "cpu"): {"cpu.max": "50000 100000", "cpu.weight": "200"},
    (2, "pids"): {"pids.max": "64"},
}


def set_limits(driver: CgroupDriver, cgroup: Cgroup, controller: Controller) -> None:
    if controller == "memory":
        cgroup.set_memory_max(64 << 20)
        if driver.version == 2:
            cgroup.set_memory_high(48 << 20)
    elif controller == "cpu":
        cgroup.set_cpu_quota(0.5)
        cgroup.set_cpu_weight(200)
    else:
        cgroup.set_pids_max(64)


@pytest.mark.parametrize(("driver", "controller"), USABLE, ids=driver_id)
def test_limits_are_written_to_the_controller_files(
    driver: CgroupDriver, controller: Controller, scratch: Callable[..., Cgroup]
) -> None:
    cgroup = scratch(driver, frozenset({controller}))
    set_limits(driver, cgroup, controller)
    written = {}
    for name in EXPECTED[driver.version, controller]:
        directory = next(d for d in cgroup.directories if os.path.exists(os.path.join(d, name)))
        written[name] = read(directory, name)
    assert written == EXPECTED[driver.version, controller]


@pytest.mark.parametrize(
    "driver", [d for d in DRIVERS if d.version == 1 and d.problem("memory") is None], ids=driver_id
)
def test_v1_limits_swap_with_memory_and_has_no_memory_high(
    driver: CgroupDriver, scratch: Callable[..., Cgroup]
) -> None:
    cgroup = scratch(driver, frozenset({"memory"}))
    with pytest.raises(corral.UnsupportedFeature, match="memory_swap_max needs memory_max too"):
        cgroup.set_memory_swap_max(16 << 20, memory_max=None)
    with pytest.raises(corral.UnsupportedFeature) as caught:
        cgroup.set_memory_high(48 << 20)
    assert str(caught.value) == (
        "cgroup-memory is not available here: memory_high has no cgroup v1 equivalent "
        "(memory.soft_limit_in_bytes only reclaims under machine-wide memory pressure and "
        "never throttles) (needs cgroup v2 (memory.high))"
    )
    cgroup.set_memory_max(64 << 20)
    cgroup.set_memory_swap_max(16 << 20, memory_max=64 << 20)
    memory = next(d for d in cgroup.directories if "memory" in d)
    assert read(memory, "memory.memsw.limit_in_bytes") == str(80 << 20)  # memory plus swap


@pytest.mark.parametrize("driver", [d for d in DRIVERS if d.problem("cpu") is None], ids=driver_id)
def test_a_write_the_kernel_refuses_names_the_file(
    driver: CgroupDriver, scratch: Callable[..., Cgroup]
) -> None:
    cgroup = scratch(driver, frozenset({"cpu"}))
    with pytest.raises(CgroupStepFailed) as caught:
        cgroup.set_cpu_quota(0.001)  # 100 us: below the kernel's 1000 us minimum
    name = "cpu.cfs_quota_us" if driver.version == 1 else "cpu.max"
    assert caught.value.step == f"cgroup: {name}"
    assert caught.value.errno == errno.EINVAL
    assert caught.value.strerror is not None
    assert caught.value.strerror.startswith("invalid argument (writing '100")


@pytest.mark.parametrize(("driver", "controller"), LACKING, ids=driver_id)
def test_a_controller_the_layout_lacks_is_unsupported_saying_why(
    driver: CgroupDriver, controller: Controller, scratch: Callable[..., Cgroup]
) -> None:
    status = status_of(driver, FEATURE[controller])
    assert not status.supported
    assert f"the {controller} controller" in status.reason
    if driver.version == 2 and not any(h.controllers for h in HIERARCHIES if h.version == 2):
        assert "(its cgroup.controllers lists nothing)" in status.reason
        assert "a hybrid layout binds controllers to cgroup v1 instead" in status.needs
    with pytest.raises(corral.UnsupportedFeature) as refused:
        driver.create("never-made", frozenset({controller}))
    assert refused.value.feature == f"cgroup-{controller}"
    assert refused.value.reason == status.reason
    cgroup = scratch(driver)  # an instance without it refuses the limit, naming the file
    with pytest.raises(corral.UnsupportedFeature, match=rf"\b{controller}\b"):
        set_limits(driver, cgroup, controller)
