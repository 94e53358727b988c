"""The cgroup v2 driver's limit files and usage parsing, against a laid-out directory.

A MOCK, on purpose and only here: this machine's v2 tree (/sys/fs/cgroup/unified)
has no controllers — they are bound to the v1 hierarchies, and a controller can
live in one hierarchy only — so memory.max, cpu.max, pids.max and their usage
files cannot exist for real on it. These tests lay out those files in a plain
directory and check what the driver writes and how it reads them. Membership,
kill and removal on the real v2 tree are tested in test_cgroups.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corral._errors import UnsupportedFeature
from corral._platform.linux.cgroups.v2 import V2Cgroup

LIMIT_FILES = ("memory.max", "memory.high", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max")


@pytest.fixture
def laid_out(tmp_path: Path) -> Path:
    for name in LIMIT_FILES:  # empty: a plain file, unlike cgroupfs, keeps bytes not overwritten
        (tmp_path / name).write_text("")
    (tmp_path / "memory.current").write_text("1048576\n")
    (tmp_path / "memory.peak").write_text("2097152\n")
    (tmp_path / "pids.current").write_text("3\n")
    (tmp_path / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\n")
    (tmp_path / "memory.events").write_text("low 0\nhigh 2\nmax 5\noom 1\noom_kill 1\n")
    return tmp_path


def test_every_limit_goes_to_its_v2_file_in_its_v2_format(laid_out: Path) -> None:
    cgroup = V2Cgroup(str(laid_out))
    cgroup.set_memory_max(64 << 20)
    cgroup.set_memory_high(48 << 20)
    cgroup.set_memory_swap_max(0, memory_max=64 << 20)
    cgroup.set_cpu_quota(0.5)
    cgroup.set_cpu_weight(200)
    cgroup.set_pids_max(64)
    written = {name: (laid_out / name).read_text().strip() for name in LIMIT_FILES}
    assert written == {
        "memory.max": str(64 << 20),
        "memory.high": str(48 << 20),
        "memory.swap.max": "0",
        "cpu.max": "50000 100000",
        "cpu.weight": "200",
        "pids.max": "64",
    }


def test_usage_is_read_from_the_v2_files(laid_out: Path) -> None:
    usage = V2Cgroup(str(laid_out)).usage()
    assert usage.memory_current == 1 << 20
    assert usage.memory_peak == 2 << 20
    assert usage.cpu_seconds == 1.5
    assert usage.pids == 3
    assert usage.oom_kills == 1


def test_a_controller_file_that_is_absent_is_unsupported_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFeature) as caught:
        V2Cgroup(str(tmp_path)).set_pids_max(64)
    assert caught.value.feature == "cgroup-pids"
    assert "pids.max" in caught.value.reason
