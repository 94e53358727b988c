"""Pool(..., sandbox=Sandbox(...)): every worker starts under the sandbox, as any program.

Real workers through the one spawn path (its fork path, since a sandbox forces it),
with their task and result pipes at fds 3 and 4 as without one. What a task sees
from inside proves the sandbox: its rlimits, its user, and a cgroup memory cap
that OOM-kills a task past it; the pool still replaces a worker that died under
the sandbox. A user switch needs the interpreter readable by that user: where the
venv's python lives under a 0700 directory (/root here), that test is skipped
and the rlimit and cgroup tests carry the proof.
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
from collections.abc import Iterator

import pytest

from corral import InvalidSpec
from corral.lowlevel import Feature
from corral.pool import Pool, WorkerDied
from corral.sandbox import CgroupLimits, Identity, Sandbox
from tests.pool import tasks
from tests.support import cgroups
from tests.support.waiting import DEADLINE

MIB = 1 << 20


@pytest.fixture(autouse=True)
def no_leftover_cgroups() -> Iterator[None]:
    with cgroups.checked():
        yield


def _others_can_reach(path: str) -> bool:
    """Every directory above `path` is searchable, and `path` readable, by "other"."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for end in range(2, len(parts)):
        if not os.stat(os.sep.join(parts[:end])).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def test_every_worker_runs_under_the_pools_rlimits() -> None:
    with Pool(2, sandbox=Sandbox(rlimits={"nofile": (256, 512)})) as pool:
        seen = {pool.submit(tasks.nofile_limit).result(DEADLINE) for _ in range(6)}
        assert seen == {(256, 512)}
        assert list(pool.map(tasks.square, range(5), timeout=DEADLINE)) == [0, 1, 4, 9, 16]


def test_a_worker_killed_under_a_sandbox_fails_only_its_task_and_is_replaced() -> None:
    with Pool(1, sandbox=Sandbox(rlimits={"nofile": 300})) as pool:
        with pytest.raises(WorkerDied, match="SIGKILL") as caught:
            pool.submit(tasks.kill_self).result(DEADLINE)
        after = {pool.submit(tasks.pid).result(DEADLINE) for _ in range(4)}
        assert caught.value.pid not in after
        assert pool.submit(tasks.nofile_limit).result(DEADLINE) == (300, 300)


@pytest.mark.requires(Feature.CGROUP_MEMORY)
def test_a_task_past_the_cgroup_memory_cap_is_oom_killed_and_the_pool_goes_on() -> None:
    with Pool(1, sandbox=Sandbox(cgroup=CgroupLimits(memory_max=64 * MIB))) as pool:
        assert pool.submit(tasks.hog, 8).result(DEADLINE) == 8 * MIB  # under the cap
        with pytest.raises(WorkerDied, match=r"OOM-killed \(SIGKILL\)") as caught:
            pool.submit(tasks.hog, 256).result(DEADLINE)
        assert caught.value.oom_killed
        assert pool.submit(tasks.add, 2, 3).result(DEADLINE) == 5


@pytest.mark.skipif(
    not all(_others_can_reach(p) for p in (sys.executable, __file__)),
    reason="the interpreter or the tests are not readable by nobody here (a 0700 /root)",
)
def test_workers_run_as_the_sandboxs_user() -> None:
    nobody = pwd.getpwnam("nobody").pw_uid
    with Pool(1, sandbox=Sandbox(identity=Identity(user="nobody"))) as pool:
        assert pool.submit(tasks.uid).result(DEADLINE) == nobody


@pytest.mark.parametrize("bad", ["nobody", {"rlimits": {"nofile": 10}}, 3])
def test_a_sandbox_that_is_not_a_sandbox_is_invalid_spec_at_the_pool(bad: object) -> None:
    with pytest.raises(InvalidSpec, match=r"sandbox must be a corral\.sandbox\.Sandbox"):
        Pool(1, sandbox=bad)  # type: ignore[arg-type]


def test_a_sandbox_naming_an_unknown_rlimit_is_invalid_spec_before_any_worker() -> None:
    with pytest.raises(InvalidSpec, match="nofiles"):
        Pool(1, sandbox=Sandbox(rlimits={"nofiles": 10}))
