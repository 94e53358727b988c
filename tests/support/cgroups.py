"""Scratch cgroups: find what corral left beneath our own cgroups, and clean it up.

corral puts every cgroup it makes under `corral.<pid>` beneath our own cgroup in
each hierarchy; a test that leaves one behind fails (after the cleanup here, which
kills any member, thaws a frozen v1 freezer cgroup and removes the directories).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest

from corral._platform.linux.cgroups import layout
from tests.support.waiting import wait_until


def leftovers() -> list[str]:
    """corral.<our pid> directories that exist now, one per hierarchy at most."""
    found = (os.path.join(h.own, layout.parent_name()) for h in layout.hierarchies())
    return [path for path in found if os.path.isdir(path)]


def members(directory: str) -> list[int]:
    """Pids in `directory`'s cgroup and its sub-cgroups."""
    pids: list[int] = []
    for here, _, _ in os.walk(directory):
        with open(os.path.join(here, "cgroup.procs")) as f:
            pids.extend(int(word) for word in f.read().split())
    return pids


def clean_up(directory: str) -> None:
    """Kill every member, thaw, and remove the directory tree, deepest first."""
    for here, _, _ in os.walk(directory):
        state = os.path.join(here, "freezer.state")
        if os.path.exists(state):
            with open(state, "w") as f:
                f.write("THAWED")
    for pid in members(directory):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not members(directory), what=f"{directory} to be empty")
    for here, _, _ in sorted(os.walk(directory), key=lambda entry: -len(entry[0])):
        os.rmdir(here)


@contextlib.contextmanager
def checked() -> Iterator[None]:
    """Fail the test if it leaves a corral cgroup behind (after removing it)."""
    before = set(leftovers())
    yield
    left = [path for path in leftovers() if path not in before]
    for path in left:
        clean_up(path)
    if left:
        pytest.fail(f"the test left cgroups behind: {', '.join(left)}", pytrace=False)


def cgroup_of(pid: int, controller: str) -> str:
    """The directory of `pid`'s cgroup that has `controller` (v1 hierarchy, else v2).

    Assumes the hierarchy is mounted at its root, as it is on this machine.
    """
    found = layout.hierarchies()
    v1 = next((h for h in found if h.version == 1 and controller in h.controllers), None)
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if v1 is not None and controller in names.split(","):
                return os.path.normpath(v1.mount + path)
            if v1 is None and names == "":
                v2 = next(h for h in found if h.version == 2)
                return os.path.normpath(v2.mount + path)
    raise AssertionError(f"pid {pid} is in no cgroup with the {controller} controller")
