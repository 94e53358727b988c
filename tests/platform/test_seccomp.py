"""The libseccomp binding, the syscall name table, filter export, and the child-side loader."""

from __future__ import annotations

import errno
import os
import signal

import pytest

from corral._platform import fork_exec
from corral._platform.linux.seccomp import libseccomp, probe
from corral._platform.linux.seccomp.filter import (
    ArgCompare,
    CompiledFilter,
    Policy,
    SyscallRule,
    compile_filter,
    kernel_actions,
)
from corral._platform.linux.seccomp.names import syscall_names
from corral._platform.posix.child import ChildStep, ChildStepFailed
from corral.lowlevel import Feature

pytestmark = pytest.mark.requires(Feature.SECCOMP)


def test_the_probe_finds_libseccomp_and_filter_mode() -> None:
    assert probe().supported
    assert libseccomp.version() >= (2, 4, 0)


def test_the_probe_names_a_missing_or_old_libseccomp(monkeypatch: pytest.MonkeyPatch) -> None:
    # A machine without libseccomp cannot exist in this suite; the loader is swapped.
    def missing() -> object:
        raise OSError("libseccomp.so.2: cannot open shared object file")

    with monkeypatch.context() as patch:
        patch.setattr(libseccomp, "library", missing)
        status = probe()
    assert not status.supported
    assert status.reason.startswith("libseccomp.so.2 cannot be loaded")
    assert status.needs.startswith("libseccomp 2.4+")
    monkeypatch.setattr(libseccomp, "version", lambda: (2, 3, 3))
    assert probe().reason == "libseccomp is 2.3.3"


def test_names_and_numbers_resolve_both_ways() -> None:
    number = libseccomp.resolve_name("openat")
    assert number >= 0
    assert libseccomp.resolve_number(number) == "openat"
    assert libseccomp.resolve_name("nosuchcall") == libseccomp.NR_SCMP_ERROR
    assert libseccomp.resolve_number(100_000) is None


def test_a_name_of_another_architecture_resolves_negative() -> None:
    names = syscall_names()
    if "umount" in names:  # pragma: no cover - architectures that still have umount
        pytest.skip("this architecture has umount")
    assert libseccomp.NR_SCMP_ERROR != libseccomp.resolve_name("umount") < 0


def test_syscall_names_are_the_native_table() -> None:
    names = syscall_names()
    assert {"read", "openat", "execve", "socket", "exit_group"} <= names
    assert "nosuchcall" not in names
    assert len(names) > 300


def test_a_filter_exports_to_bpf() -> None:
    socket = libseccomp.resolve_name("socket")
    policy = Policy(
        default="allow",
        action="errno",
        rules=(
            SyscallRule(libseccomp.resolve_name("ptrace")),
            SyscallRule(socket, (ArgCompare(0, "ne", 1),)),
        ),
    )
    compiled = compile_filter(policy)
    assert compiled.rules == 2
    assert compiled.instructions > 4
    assert len(compiled.program) == 8 * compiled.instructions
    assert repr(compiled) == f"<CompiledFilter rules=2 instructions={compiled.instructions}>"


def test_every_action_compiles() -> None:
    rules = (SyscallRule(libseccomp.resolve_name("mkdir")),)
    for action in ("errno", "kill", "log"):
        for default in ("allow", "deny"):
            assert compile_filter(Policy(default=default, action=action, rules=rules)).instructions
    assert {"errno", "kill_process", "log"} <= kernel_actions()


def test_a_context_refuses_use_after_release() -> None:
    context = libseccomp.FilterContext(libseccomp.ACT_ALLOW)
    context.release()
    context.release()  # twice is harmless
    with pytest.raises(ValueError, match="released"):
        context.add_rule(libseccomp.act_errno(errno.EPERM), 0)


def test_libseccomp_errors_carry_errno() -> None:
    bad_argument = [(9, libseccomp.CMP_EQ, 0, 0)]  # syscalls have arguments 0..5
    with (
        libseccomp.FilterContext(libseccomp.ACT_ALLOW) as context,
        pytest.raises(libseccomp.LibseccompError) as caught,
    ):
        context.add_rule(libseccomp.act_errno(errno.EPERM), 0, bad_argument)
    assert caught.value.errno == errno.EINVAL
    assert "seccomp_rule_add" in str(caught.value)


def _run_with(step: ChildStep, argv: list[str]) -> int:
    pid = fork_exec(
        argv[0], argv, dict(os.environb), cwd=None, fd_map=[], pass_fds=[], pgroup=None,
        new_session=False, steps=[step],
    )  # fmt: skip
    return os.waitpid(pid, 0)[1]


def test_the_loader_runs_in_the_child_and_the_filter_holds_after_exec() -> None:
    mkdir = libseccomp.resolve_name("mkdir")
    compiled = compile_filter(Policy(default="allow", action="kill", rules=(SyscallRule(mkdir),)))
    status = _run_with(ChildStep("seccomp", compiled.load), ["/bin/mkdir", "/nonexistent/x"])
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGSYS  # mkdir, called after the exec, was fatal


def test_a_program_the_kernel_rejects_fails_the_step_with_its_errno() -> None:
    bogus = CompiledFilter(b"\0" * 8, 1)  # one load instruction, no return
    with pytest.raises(ChildStepFailed) as caught:
        _run_with(ChildStep("seccomp: load (1 rule)", bogus.load), ["/bin/true"])
    assert caught.value.step == "seccomp: load (1 rule)"
    assert caught.value.errno == errno.EINVAL
    assert "PR_SET_SECCOMP" in str(caught.value)
