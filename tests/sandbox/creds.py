"""Run tests/helpers/report_creds.py in a sandbox and read back what the kernel says.

The report comes from the child's own /proc/self/status and getrlimit, so a test
compares the spec with what the process really got. A child that switches to
another user must be able to run an interpreter: ours may live where that user
cannot go (a pyenv under a 0700 /root), so `python_for` finds one that the user
can run by running the helper as that user, not by guessing from file modes.
"""

from __future__ import annotations

import functools
import grp
import json
import os
import pwd
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import corral
from corral import Result
from corral.sandbox import Identity, Sandbox
from tests.helpers import path

HELPER = path("report_creds")


@dataclass(frozen=True, slots=True)
class Account:
    """A user of this machine and its primary group, as the tests switch to them."""

    name: str
    uid: int
    gid: int
    group: str
    """The name of the primary group (nogroup on Debian, nobody on Fedora)."""


def report(
    sandbox: Sandbox,
    *args: str,
    python: str = sys.executable,
    run: Callable[..., Result] = corral.run,
) -> dict[str, Any]:
    """The helper's JSON report, run with `python` under `sandbox` (by `run`: a twin's, say)."""
    result = run([python, "-I", HELPER, *args], sandbox=sandbox, cwd="/")
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def our_status(name: str) -> str:
    """A field of this (the test) process's /proc/self/status."""
    with open("/proc/self/status") as lines:
        for line in lines:
            key, _, value = line.partition(":")
            if key == name:
                return value.strip()
    raise KeyError(name)


@functools.cache
def python_for(user: str) -> str:
    """An interpreter `user` can run that can read the helper; the test fails if none can."""
    candidates = [sys.executable, os.path.realpath(sys.executable)]
    candidates += [p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if os.path.exists(p)]
    candidates += [found for found in [shutil.which("python3", path=os.defpath)] if found]
    sandbox = Sandbox(identity=Identity(user=user))
    tried = []
    for python in dict.fromkeys(candidates):
        try:
            result = corral.run([python, "-I", HELPER], sandbox=sandbox, cwd="/", check=False)
        except corral.SpawnError as exc:
            tried.append(str(exc))
            continue
        if result.exit_code == 0:
            return python
        tried.append(f"{python}: exit {result.exit_code}: {result.stderr_text.strip()[-200:]}")
    pytest.fail(f"no Python that user {user} can run with {HELPER}; tried: " + "; ".join(tried))


@functools.cache
def nobody() -> Account:
    """The unprivileged `nobody` user and its primary group."""
    entry = pwd.getpwnam("nobody")
    group = grp.getgrgid(entry.pw_gid).gr_name
    return Account(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid, group=group)
