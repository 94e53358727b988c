"""Seccomp through the one spawn path: corral.run(..., sandbox=Sandbox(seccomp=...))."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

import corral
from corral import Result
from corral._errors import InvalidSpec, SpawnError, UnsupportedFeature
from corral._platform.linux.seccomp import libseccomp
from corral._platform.linux.seccomp.filter import CompiledFilter
from corral._sandbox import seccomp_plan
from corral._sandbox.plan import plan
from corral._sandbox.presets import PRESETS
from corral.lowlevel import Feature, override_feature
from corral.sandbox import Sandbox, Seccomp
from tests.helpers import argv
from tests.support.twins import Twin

pytestmark = pytest.mark.requires(Feature.SECCOMP)  # names are checked against libseccomp

PYTHON_STARTUP = frozenset({
    "lseek", "rt_sigaction", "ioctl", "getdents64", "readlink", "write", "fcntl", "getrandom",
    "sysinfo", "gettid", "futex", "epoll_create1", "getcwd",
})  # fmt: skip
"""With "minimal-exec": what this Python needs to start and run try_syscall (by tracing)."""


@pytest.fixture(autouse=True)
def in_scratch_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """try_syscall's mkdir works in the working directory the child inherits."""
    monkeypatch.chdir(tmp_path)


def attempt(seccomp: Seccomp, *calls: str, check: bool = True) -> Result:
    return corral.run(
        argv("try_syscall", *calls), sandbox=Sandbox(seccomp=seccomp),
        stdout="capture", stderr="capture", check=check,
    )  # fmt: skip


def outcomes(result: Result) -> dict[str, str]:
    found: dict[str, str] = json.loads(result.stdout)
    return found


# -- the spec: names are checked when it is built --------------------------------------


def test_an_unknown_syscall_is_named_with_a_suggestion() -> None:
    with pytest.raises(InvalidSpec, match=r"unknown syscall 'ptrac'; did you mean ptrace\?"):
        Seccomp(syscalls=frozenset({"ptrac"}))


def test_an_unknown_preset_is_named_with_a_suggestion() -> None:
    with pytest.raises(InvalidSpec, match=r"unknown seccomp preset 'no-netwrok'; did you mean"):
        Seccomp(presets=("no-netwrok",))


def test_a_preset_must_match_the_default() -> None:
    with pytest.raises(InvalidSpec, match=r"'no-network' is a deny-list; it needs default='allow'"):
        Seccomp(default="deny", presets=("no-network",))
    with pytest.raises(
        InvalidSpec, match=r"'minimal-exec' is an allow-list; it needs default='deny'"
    ):
        Seccomp(presets=("minimal-exec",))


def test_every_preset_names_syscalls_libseccomp_knows() -> None:
    for preset in PRESETS.values():
        for rule in preset.rules:
            assert rule.why, rule.syscall
            assert libseccomp.resolve_name(rule.syscall) != libseccomp.NR_SCMP_ERROR, rule.syscall


# -- deny-lists -----------------------------------------------------------------------


def test_a_denied_call_gets_eperm_and_others_work(twin: Twin) -> None:
    result = twin.run(
        argv("try_syscall", "mkdir", "getcwd"),
        sandbox=Sandbox(seccomp=Seccomp(syscalls=frozenset({"mkdir"}))),
        stdout="capture",
    )
    assert outcomes(result) == {"mkdir": "EPERM", "getcwd": "ok"}


def test_action_kill_ends_the_process_with_sigsys() -> None:
    result = attempt(
        Seccomp(syscalls=frozenset({"mkdir"}), action="kill"), "getcwd", "mkdir", check=False
    )
    assert result.signal_name == "SIGSYS"
    assert result.stderr.splitlines()[-1] == b"trying mkdir"


def test_action_log_lets_the_call_through() -> None:
    result = attempt(Seccomp(syscalls=frozenset({"mkdir"}), action="log"), "mkdir")
    assert outcomes(result) == {"mkdir": "ok"}


def test_no_network_denies_inet_sockets_and_keeps_unix_ones() -> None:
    result = attempt(
        Seccomp(presets=("no-network",)), "socket-inet", "socket-inet6", "socket-unix", "mkdir"
    )
    assert outcomes(result) == {
        "socket-inet": "EPERM", "socket-inet6": "EPERM", "socket-unix": "ok", "mkdir": "ok",
    }  # fmt: skip


def test_service_default_leaves_ordinary_work_alone() -> None:
    result = attempt(Seccomp(presets=("service-default",)), "getcwd", "mkdir", "socket-inet")
    assert outcomes(result) == {"getcwd": "ok", "mkdir": "ok", "socket-inet": "ok"}


def test_presets_and_names_combine() -> None:
    result = attempt(
        Seccomp(presets=("no-network",), syscalls=frozenset({"mkdir"})), "socket-inet", "mkdir"
    )
    assert outcomes(result) == {"socket-inet": "EPERM", "mkdir": "EPERM"}


# -- allow-lists ----------------------------------------------------------------------


def test_minimal_exec_is_enough_for_a_small_program_even_under_kill() -> None:
    spec = Seccomp(default="deny", presets=("minimal-exec",), action="kill")
    assert corral.run(["/bin/true"], sandbox=Sandbox(seccomp=spec)).exit_code == 0


def test_a_call_missing_from_an_allow_list_gets_eperm() -> None:
    spec = Seccomp(default="deny", presets=("minimal-exec",), syscalls=PYTHON_STARTUP)
    assert outcomes(attempt(spec, "getcwd", "mkdir")) == {"getcwd": "ok", "mkdir": "EPERM"}


def test_an_allow_list_without_what_the_loader_needs_cannot_start_it() -> None:
    spec = Seccomp(default="deny", action="kill")  # execve and exit only
    result = corral.run(["/bin/true"], sandbox=Sandbox(seccomp=spec), check=False)
    assert result.signal_name == "SIGSYS"


# -- planning -------------------------------------------------------------------------


def test_the_plan_names_the_step_and_summarises_the_policy() -> None:
    made = plan(
        Sandbox(seccomp=Seccomp(default="deny", syscalls=frozenset({"read", "exit"}))), label="t"
    )
    assert [step.name for step in made.ordered_steps()] == ["seccomp: load (4 rules)"]
    summary = made.limits["seccomp"]
    assert isinstance(summary, dict)
    assert summary["instructions"] > 0
    assert {k: v for k, v in summary.items() if k != "instructions"} == {
        "default": "deny", "action": "errno", "presets": [], "syscalls": ["exit", "read"],
        "added": ["execve", "exit_group"], "skipped": [], "rules": 4,
    }  # fmt: skip


def test_syscalls_of_other_architectures_are_skipped_and_listed() -> None:
    made = plan(Sandbox(seccomp=Seccomp(presets=("no-mount",), action="kill")), label="t")
    summary = made.limits["seccomp"]
    assert isinstance(summary, dict)
    assert summary["skipped"] == ["umount"]
    assert summary["action"] == "kill-process"
    assert summary["rules"] == len(PRESETS["no-mount"].rules) - 1


def test_denying_execve_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="denies execve"):
        plan(Sandbox(seccomp=Seccomp(syscalls=frozenset({"execve"}))), label="t")


def test_without_the_feature_the_spawn_is_refused() -> None:
    with (
        override_feature(Feature.SECCOMP, False),
        pytest.raises(UnsupportedFeature, match="seccomp"),
    ):
        attempt(Seccomp(syscalls=frozenset({"mkdir"})), "mkdir")


def test_a_failed_load_reports_the_step_and_errno(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel rejecting a program is real; only the compiler is swapped for one
    # that emits a program without a return instruction.
    spec = Seccomp(syscalls=frozenset({"mkdir"}))
    bogus = seccomp_plan._Compiled(CompiledFilter(b"\0" * 8, 1), "errno", (), ())
    monkeypatch.setattr(seccomp_plan, "_compile", lambda _: bogus)
    with pytest.raises(SpawnError) as caught:
        attempt(spec, "mkdir")
    assert caught.value.step == "seccomp: load (1 rule)"
    assert caught.value.errno == errno.EINVAL
    assert "seccomp: load (1 rule): PR_SET_SECCOMP: Invalid argument [EINVAL]" in str(caught.value)
