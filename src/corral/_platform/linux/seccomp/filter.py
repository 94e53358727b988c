"""Build a seccomp filter in the parent; load it in the child without libseccomp.

A seccomp filter (seccomp(2), "SECCOMP_SET_MODE_FILTER") is a classic BPF program
the kernel runs on every system call of the task and its descendants; the filter
survives fork and execve and can never be removed. Loading one needs
CAP_SYS_ADMIN, or PR_SET_NO_NEW_PRIVS set first (prctl(2)), so that a filtered
program cannot exec a setuid binary that would run under a filter it did not
expect. We always set no_new_privs before loading: the seccomp phase runs after
any uid change, when CAP_SYS_ADMIN is usually gone, so a seccomp sandbox implies
no_new_privs.

`compile_filter` runs in the parent: libseccomp builds the program and exports
it (seccomp_export_bpf) to a memfd, which we read back into a ctypes buffer,
together with the struct sock_fprog that points at it and a bound prctl. The
child only calls `CompiledFilter.load`: two prctl calls on memory that already
exists, no allocation through libseccomp, no import.

The filter covers the native architecture only: a call through another ABI
(32-bit int 0x80 or x32 on x86_64) gets libseccomp's "bad arch" action, kill, so
a deny-list cannot be bypassed that way, and a 32-bit program cannot run under a
corral filter. Argument tests compare the full 64-bit register, while the kernel
reads an int argument from its low half: test an int with "ne" (deny unless it
is AF_UNIX) so that junk in the high half is denied rather than let through.
"""

from __future__ import annotations

import ctypes
import errno
import os
from dataclasses import dataclass
from functools import cache
from typing import Literal, TypeAlias

from corral._platform import libc
from corral._platform.linux.seccomp import libseccomp as lib

Action: TypeAlias = Literal["errno", "kill", "log"]
CompareOp: TypeAlias = Literal["ne", "lt", "le", "eq", "ge", "gt", "masked_eq"]

_OPS: dict[CompareOp, int] = {
    "ne": lib.CMP_NE, "lt": lib.CMP_LT, "le": lib.CMP_LE, "eq": lib.CMP_EQ,
    "ge": lib.CMP_GE, "gt": lib.CMP_GT, "masked_eq": lib.CMP_MASKED_EQ,
}  # fmt: skip
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SOCK_FILTER_SIZE = 8
"""struct sock_filter: u16 code, u8 jt, u8 jf, u32 k."""
_BPF_MAXINSNS = 4096
"""The longest program the kernel loads (linux/bpf_common.h)."""
_ACTIONS_AVAIL = "/proc/sys/kernel/seccomp/actions_avail"


@dataclass(frozen=True, slots=True)
class ArgCompare:
    """A test on one syscall argument: `arg[index] <op> value` (masked_eq: `& mask == value`)."""

    index: int
    """Argument number, 0..5."""
    op: CompareOp
    """The comparison, on the unsigned 64-bit register (see the module docstring)."""
    value: int
    """The datum compared against."""
    mask: int = 0
    """For masked_eq only: the bits of the argument compared."""

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(arg, op, datum_a, datum_b) in libseccomp's terms."""
        if self.op == "masked_eq":
            return (self.index, _OPS[self.op], self.mask, self.value)
        return (self.index, _OPS[self.op], self.value, 0)


@dataclass(frozen=True, slots=True)
class SyscallRule:
    """One rule of a policy: syscall `number`, only when every comparison in `args` holds."""

    number: int
    args: tuple[ArgCompare, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A resolved policy: syscall numbers, the default and what a denied call gets."""

    default: Literal["allow", "deny"]
    """allow: the rules are denied; deny: only the rules are allowed."""
    action: Action
    """What a denied call gets: errno (EPERM), kill (the process) or log (allowed, logged)."""
    rules: tuple[SyscallRule, ...]


@cache
def kernel_actions() -> frozenset[str]:
    """The filter actions this kernel supports (kill_process, errno, log, ...).

    /proc/sys/kernel/seccomp/actions_avail exists from Linux 4.14, the release that
    added kill_process and log; before it, only the older actions exist.
    """
    try:
        with open(_ACTIONS_AVAIL) as f:
            return frozenset(f.read().split())
    except OSError:
        return frozenset({"kill_thread", "trap", "errno", "trace", "allow"})


def action_value(action: Action) -> int:
    """The libseccomp action for a denied call; kill falls back to kill_thread before 4.14."""
    if action == "errno":
        return lib.act_errno(errno.EPERM)
    if action == "log":
        return lib.ACT_LOG
    return lib.ACT_KILL_PROCESS if "kill_process" in kernel_actions() else lib.ACT_KILL_THREAD


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class CompiledFilter:
    """A BPF program built in the parent, ready for `load()` in the child."""

    __slots__ = ("_buffer", "_prctl", "_program", "rules")

    def __init__(self, program: bytes, rules: int) -> None:
        self.rules = rules
        """How many rules the policy had (for step names and summaries)."""
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._program = _SockFprog(
            len(program) // _SOCK_FILTER_SIZE, ctypes.addressof(self._buffer)
        )
        self._prctl = libc.handle().prctl  # bound now: the child must not load libraries

    @property
    def instructions(self) -> int:
        """The length of the BPF program in instructions."""
        return int(self._program.len)

    @property
    def program(self) -> bytes:
        """The raw BPF program (struct sock_filter array)."""
        return self._buffer.raw

    def load(self) -> None:
        """Set no_new_privs, then install the filter on this thread (runs in the child)."""
        zero = ctypes.c_ulong(0)
        one = ctypes.c_ulong(1)
        libc.check(self._prctl(_PR_SET_NO_NEW_PRIVS, one, zero, zero, zero), "PR_SET_NO_NEW_PRIVS")
        mode = ctypes.c_ulong(_SECCOMP_MODE_FILTER)
        program = ctypes.byref(self._program)
        libc.check(self._prctl(_PR_SET_SECCOMP, mode, program, zero, zero), "PR_SET_SECCOMP")

    def __repr__(self) -> str:
        return f"<CompiledFilter rules={self.rules} instructions={self.instructions}>"


def compile_filter(policy: Policy) -> CompiledFilter:
    """Build `policy` with libseccomp and export it as BPF; OSError on failure."""
    denied = action_value(policy.action)
    default, matched = (
        (lib.ACT_ALLOW, denied) if policy.default == "allow" else (denied, lib.ACT_ALLOW)
    )
    with lib.FilterContext(default) as context:
        for rule in policy.rules:
            context.add_rule(matched, rule.number, [arg.as_tuple() for arg in rule.args])
        program = _export(context)
    if len(program) > _BPF_MAXINSNS * _SOCK_FILTER_SIZE:
        raise lib.LibseccompError(
            errno.E2BIG,
            f"the filter has {len(program) // _SOCK_FILTER_SIZE} BPF instructions; "
            f"the kernel takes at most {_BPF_MAXINSNS}",
        )
    return CompiledFilter(program, len(policy.rules))


def _export(context: lib.FilterContext) -> bytes:
    fd = os.memfd_create("corral-seccomp", os.MFD_CLOEXEC)
    try:
        context.export_bpf(fd)
        size = os.lseek(fd, 0, os.SEEK_CUR)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)
