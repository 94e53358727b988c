"""`corral security`'s scoring (corral._sandbox.exposure): each way out of a sandbox is
a weighted check that names the key closing it; the score is the open share of the
weight, 0..10. Checks come from the live process where it was read, from the spec
otherwise. Pure: no process is started here (the daemon test reads a live one)."""

from __future__ import annotations

import pytest

from corral._platform import ProcessInfo
from corral._sandbox.exposure import Observed, assess, observe, rating, weakest
from corral.sandbox import CgroupLimits, Identity, Namespaces, Sandbox, Seccomp

ALL_CAPS = f"{(1 << 41) - 1:016x}"


def _open(found: object) -> dict[str, str]:
    return {e.check: e.key for e in found.exposures if e.exposed}  # type: ignore[attr-defined]


def test_an_unsandboxed_program_of_a_root_daemon_is_wide_open() -> None:
    found = assess(None, None, daemon_uid=0, daemon_umask=0o022)
    opened = _open(found)
    assert opened["root"] == "sandbox.user"
    assert opened["cap-sys-admin"] == "sandbox.capabilities"
    assert opened["seccomp"] == "sandbox.seccomp"
    assert opened["namespace-net"] == "sandbox.namespaces.net"
    assert opened["memory-limit"] == "sandbox.memory"
    assert "umask" not in opened  # 022: others cannot write
    assert found.score >= 9.0
    assert found.rating == "UNSAFE"
    assert {e.source for e in found.exposures} == {"config"}


def test_a_tight_sandbox_closes_every_check_and_scores_zero() -> None:
    tight = Sandbox(
        identity=Identity(user="nobody", no_new_privs=True, umask=0o027),
        capabilities=frozenset(),
        cgroup=CgroupLimits(memory_max=1 << 28, pids_max=64, cpu_quota=0.5),
        seccomp=Seccomp(presets=("service-default",)),
        namespaces=Namespaces(
            pid=True, net=True, ipc=True, user=True, hostname="box", private_tmp=True,
            read_only=("/usr",),
        ),
    )  # fmt: skip
    found = assess(tight, None, daemon_uid=0, daemon_umask=0o022)
    assert _open(found) == {}
    assert (found.score, found.rating) == (0.0, "OK")


def test_keeping_one_capability_opens_only_its_check() -> None:
    kept = Sandbox(identity=Identity(user="nobody"), capabilities=frozenset({"CAP_NET_RAW"}))
    opened = _open(assess(kept, None, daemon_uid=0, daemon_umask=0o022))
    assert "cap-net-raw" in opened
    assert "cap-sys-admin" not in opened
    assert "root" not in opened


def test_a_non_root_user_without_no_new_privs_can_still_regain_capabilities() -> None:
    """Capabilities left alone keep the bounding set: a setuid binary gives them back."""
    loose = Sandbox(identity=Identity(user="nobody"))
    assert "cap-sys-admin" in _open(assess(loose, None, daemon_uid=0, daemon_umask=0o022))
    guarded = Sandbox(identity=Identity(user="nobody", no_new_privs=True))
    assert "cap-sys-admin" not in _open(assess(guarded, None, daemon_uid=0, daemon_umask=0o022))


def test_an_allow_list_filter_refuses_what_it_does_not_list() -> None:
    allow_list = Sandbox(seccomp=Seccomp(default="deny", presets=("minimal-exec",)))
    opened = _open(assess(allow_list, None, daemon_uid=0, daemon_umask=0o022))
    assert not {"seccomp", "seccomp-ptrace", "seccomp-mount"} & opened.keys()
    deny_ptrace_only = Sandbox(seccomp=Seccomp(presets=("no-ptrace",)))
    opened = _open(assess(deny_ptrace_only, None, daemon_uid=0, daemon_umask=0o022))
    assert "seccomp-ptrace" not in opened
    assert opened["seccomp-mount"] == 'sandbox.seccomp.presets = ["no-mount"]'


def test_what_the_live_process_shows_wins_over_the_spec() -> None:
    """A spec can say one thing and the process have another (a setuid exec, a
    program that unshares by itself): the kernel's word is the one scored."""
    spec = Sandbox(identity=Identity(user="nobody"), capabilities=frozenset())
    seen = Observed(
        uid=0, held=(1 << 21), bounding=0, no_new_privs=True, seccomp="disabled",
        own_namespaces=frozenset({"net"}), umask=0o000,
    )  # fmt: skip
    found = assess(spec, seen, daemon_uid=0, daemon_umask=0o022)
    by_check = {e.check: e for e in found.exposures}
    assert by_check["root"].exposed
    assert by_check["root"].source == "running"
    assert by_check["cap-sys-admin"].exposed
    assert by_check["cap-sys-admin"].source == "running"
    assert not by_check["cap-sys-module"].exposed
    assert not by_check["namespace-net"].exposed
    assert by_check["namespace-pid"].exposed
    assert by_check["umask"].exposed
    assert by_check["umask"].source == "running"
    assert by_check["memory-limit"].source == "config"  # the kernel shows no spec limit here


def test_observe_reads_uid_capabilities_and_namespaces_against_the_daemons() -> None:
    process = ProcessInfo(
        pid=10, uids=[1000, 65534, 65534, 65534], seccomp="filter", no_new_privs=True,
        capabilities={"CapInh": "0", "CapPrm": "0", "CapEff": "0", "CapBnd": ALL_CAPS,
                      "CapAmb": "0"},
        namespaces={"net": "net:[2]", "pid": "pid:[1]"}, umask=0o027,
    )  # fmt: skip
    daemon = ProcessInfo(pid=1, namespaces={"net": "net:[1]", "pid": "pid:[1]"})
    seen = observe(process, daemon)
    assert seen.uid == 65534  # the effective one
    assert (seen.held, seen.bounding) == (0, (1 << 41) - 1)
    assert seen.own_namespaces == frozenset({"net"})
    assert (seen.no_new_privs, seen.seccomp, seen.umask) == (True, "filter", 0o027)


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0.0, "OK"), (2.0, "OK"), (2.1, "MEDIUM"), (5.0, "MEDIUM"), (7.9, "EXPOSED"), (8.1, "UNSAFE")],
)
def test_ratings_band_the_score(score: float, expected: str) -> None:
    assert rating(score) == expected


def test_a_tree_is_as_exposed_as_its_most_exposed_member() -> None:
    """A child that regained root or left a namespace exposes the whole program."""
    confined = Observed(
        uid=65534, held=0, bounding=0, no_new_privs=True, seccomp="filter",
        own_namespaces=frozenset({"net", "pid"}), umask=0o027,
    )  # fmt: skip
    escaped = Observed(
        uid=0, held=1 << 21, bounding=0, no_new_privs=False, seccomp="disabled",
        own_namespaces=frozenset({"pid"}), umask=0o000,
    )  # fmt: skip
    tree = weakest([confined, escaped])
    assert tree == Observed(
        uid=0, held=1 << 21, bounding=0, no_new_privs=False, seccomp="disabled",
        own_namespaces=frozenset({"pid"}), umask=0o000,
    )  # fmt: skip
    assert weakest([confined]) == confined
    assert weakest([]) is None
