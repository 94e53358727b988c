"""Creating namespaces: clone(2) with CLONE_NEW* flags, and user namespace id maps.

Why clone and not unshare(2) in the child: a pid namespace made by unshare
applies only to the caller's *future* children, so the program would need an
intermediate process; clone puts the new child itself in every new namespace at
once, as pid 1 of a new pid namespace, and it stays our direct child (waitpid
and pidfds work as for a fork). clone also accepts CLONE_NEWUSER from a
threaded process, which unshare refuses (EINVAL).

Python 3.11 has no os.clone, so the raw syscall goes through ctypes. The call
uses `ctypes.PyDLL`, which keeps the GIL held (a CDLL call releases it, and
another thread could run between fork bookkeeping and the fork itself), and is
bracketed by the interpreter's own fork hooks, exactly as os.fork brackets
fork(2): `PyOS_BeforeFork` (takes the import lock, runs os.register_at_fork
"before" hooks), then `PyOS_AfterFork_Child` in the child (resets the GIL,
threads and locks, runs the "child" hooks) or `PyOS_AfterFork_Parent`. With a
NULL stack, clone behaves like fork: the child continues on a copy of our stack.

What the raw syscall skips, compared with glibc's fork(): glibc's own atfork
work (it takes the malloc arena locks around the fork and resets its stdio
locks, and updates the cached thread id of the child). The child code after a
clone runs only os-level and ctypes calls on its own thread's malloc arena, so
the remaining hazard is another thread holding that same arena's lock at the
instant of the clone; docs/decisions/0007-namespaces.md weighs it.

User namespaces: the child starts with no uid or gid mapping (it appears as the
overflow uid) until its parent writes /proc/PID/uid_map and gid_map, once each;
writing gid_map unprivileged first needs /proc/PID/setgroups = "deny"
(user_namespaces(7)). Our after-fork hook does that while the child waits at its
gate, so the child's first step already runs as root of its namespace.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable
from functools import cache

from corral._platform import libc
from corral._platform.posix.child import ChildStepFailed, Forker

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

FLAG_NAMES: dict[int, str] = {
    CLONE_NEWUSER: "user", CLONE_NEWPID: "pid", CLONE_NEWNET: "net",
    CLONE_NEWNS: "mount", CLONE_NEWUTS: "uts", CLONE_NEWIPC: "ipc",
}  # fmt: skip
"""Each flag and the namespace kind it creates, for messages and summaries."""

_SYS_CLONE = {
    "x86_64": 56, "aarch64": 220, "riscv64": 220, "armv7l": 120, "i686": 120, "ppc64le": 120,
}  # fmt: skip
"""clone's number; every arch listed takes flags first, so a NULL-stack call is portable."""


def clone_number() -> int | None:
    """The clone syscall number on this machine, None when we do not know it."""
    return _SYS_CLONE.get(os.uname().machine)


def clone_forker(flags: int) -> Forker:
    """A Forker that clones into new namespaces (`flags`: CLONE_NEW* bits) instead of fork.

    A refused clone raises ChildStepFailed for the step "clone", so the spawn error
    names it with the errno (EPERM, ENOSPC past user.max_*_namespaces, EINVAL).
    """
    number = clone_number()
    if number is None:
        raise OSError(0, f"the clone syscall number is unknown on {os.uname().machine}")
    syscall = _raw_syscall()
    api = ctypes.pythonapi

    def clone() -> int:
        api.PyOS_BeforeFork()
        pid = syscall(number, flags | signal.SIGCHLD, 0, 0, 0, 0)
        if pid == 0:  # pragma: no cover - the child
            api.PyOS_AfterFork_Child()
            return 0
        err = ctypes.get_errno()
        api.PyOS_AfterFork_Parent()
        if pid < 0:
            names = ", ".join(n for f, n in FLAG_NAMES.items() if flags & f)
            raise ChildStepFailed("clone", err, f"{os.strerror(err)} (new {names} namespaces)")
        return int(pid)

    return clone


@cache
def _raw_syscall() -> Callable[..., int]:
    """libc's syscall() through a PyDLL handle: the GIL stays held across the call."""
    path = libc.handle()._name
    function = ctypes.PyDLL(path, use_errno=True).syscall
    function.restype = ctypes.c_long
    function.argtypes = [ctypes.c_long] * 6
    return function


def write_id_maps(pid: int, uid: int, gid: int) -> None:
    """Map root inside `pid`'s new user namespace to `uid`/`gid` outside (one id each)."""
    _write(f"/proc/{pid}/setgroups", "deny")
    _write(f"/proc/{pid}/uid_map", f"0 {uid} 1\n")
    _write(f"/proc/{pid}/gid_map", f"0 {gid} 1\n")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    except OSError as exc:
        raise OSError(exc.errno, f"writing {text.strip()!r} to {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
