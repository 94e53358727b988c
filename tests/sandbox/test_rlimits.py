"""Resource limits through the one spawn path: each, by name, is what the child's getrlimit says.

The limits chosen stay within ours (raising a hard limit needs CAP_SYS_RESOURCE,
which a container's root may lack) and leave room for Python to start.
"""

from __future__ import annotations

import errno
import resource
from pathlib import Path

import pytest

import corral
from corral import File
from corral._errors import InvalidSpec, SpawnError
from corral._platform.posix.rlimits import RLIMITS
from corral.sandbox import Identity, Rlimit, Sandbox
from tests.sandbox.creds import nobody, python_for, report

ROOMY = {"as": 16 << 30, "data": 16 << 30, "stack": 64 << 20, "rss": 16 << 30}
"""Memory limits that Python starts within; any other unlimited limit gets 1 << 20."""


def ours(name: str) -> tuple[int | None, int | None]:
    soft, hard = resource.getrlimit(RLIMITS[name])
    return finite(soft), finite(hard)


def finite(side: int) -> int | None:
    return None if side == resource.RLIM_INFINITY else side


def lowered(name: str) -> Rlimit:
    """A limit within ours that differs from ours where it can: hard as ours, soft half."""
    hard = ours(name)[1]
    if hard is None:
        hard = ROOMY.get(name, 1 << 20)
    return Rlimit(soft=hard // 2, hard=hard)


@pytest.mark.parametrize("name", sorted(RLIMITS))
def test_every_rlimit_is_applied_by_name(name: str) -> None:
    limit = lowered(name)
    found = report(Sandbox(rlimits={name: limit}))
    assert found["rlimits"][name] == [limit.soft, limit.hard]


def test_several_limits_at_once_and_the_others_are_ours() -> None:
    sandbox = Sandbox(
        rlimits={
            "nofile": Rlimit(soft=64, hard=64),
            "core": Rlimit(soft=0, hard=0),
            "fsize": Rlimit(soft=1 << 20, hard=2 << 20),
        }
    )
    found = report(sandbox)["rlimits"]
    assert found["nofile"] == [64, 64]
    assert found["core"] == [0, 0]
    assert found["fsize"] == [1 << 20, 2 << 20]
    assert found["cpu"] == list(ours("cpu"))


def test_unlimited_is_none_on_both_sides() -> None:
    name = next(name for name in sorted(RLIMITS) if ours(name)[1] is None)
    found = report(Sandbox(rlimits={name: Rlimit(soft=None, hard=None)}))
    assert found["rlimits"][name] == [None, None]


def test_limits_are_applied_before_the_switch_to_another_user() -> None:
    user = nobody()
    limits = {"nproc": Rlimit(soft=500, hard=1000)}
    sandbox = Sandbox(identity=Identity(user=user.name), rlimits=limits)
    found = report(sandbox, python=python_for(user.name))
    assert (found["uid"][0], found["rlimits"]["nproc"]) == (user.uid, [500, 1000])


def test_a_file_size_limit_is_enforced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = corral.run(
        ["head", "-c", "4096", "/dev/zero"],
        sandbox=Sandbox(rlimits={"fsize": Rlimit(soft=1024, hard=1024)}),
        stdout=File(str(out)),
        check=False,
    )
    assert result.signal_name == "SIGXFSZ"  # the default action, not our ignored one
    assert out.stat().st_size == 1024


def test_a_limit_the_kernel_refuses_names_the_step_and_errno() -> None:
    with pytest.raises(SpawnError) as caught:
        corral.run(["true"], sandbox=Sandbox(rlimits={"nofile": Rlimit(soft=2**31, hard=2**31)}))
    error = caught.value
    assert (error.step, error.errno) == ("rlimit nofile", errno.EPERM)
    assert str(error) == (
        "cannot start `true`: rlimit nofile: 2147483648 soft, 2147483648 hard: raising a hard "
        "limit needs CAP_SYS_RESOURCE, and nofile stays within fs.nr_open [EPERM]"
    )


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"nofil": 1}, r"unknown rlimit 'nofil'; did you mean nofile\?"),
        ({"nofile": (2, 1)}, "rlimit soft 2 is above hard 1"),
        ({"nofile": -1}, "rlimit values must be >= 0 or None, got -1"),
        ({"nofile": (None, 5)}, "an unlimited soft limit needs an unlimited hard limit"),
        ({"nofile": "64"}, "an rlimit is a number, a"),
    ],
)
def test_a_bad_limit_is_refused_when_the_spec_is_built(
    limits: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidSpec, match=message):
        Sandbox(rlimits=limits)  # type: ignore[arg-type]


def test_names_are_normalised_and_a_number_or_a_pair_is_short_for_an_rlimit() -> None:
    shorthand: dict[str, object] = {"RLIMIT_NOFILE": 5, "Core": (0, 1)}
    sandbox = Sandbox(rlimits=shorthand)  # type: ignore[arg-type]  # accepted, not annotated
    assert dict(sandbox.rlimits) == {
        "nofile": Rlimit(soft=5, hard=5),
        "core": Rlimit(soft=0, hard=1),
    }
