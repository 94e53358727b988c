"""A minimal init for a pid namespace: pid 1 runs the program as pid 2, reaps, forwards.

Pid 1 of a namespace has two duties the kernel gives no other process
(pid_namespaces(7)). Every orphan inside is re-parented to it, so unless it
reaps them they stay zombies; and it receives only the signals it has a handler
for (SIGKILL and SIGSTOP from an ancestor namespace excepted), so a program that
never expected to be pid 1 ignores a plain SIGTERM. When pid 1 exits, the kernel
SIGKILLs everything else in the namespace.

`become_init` is a child step. It blocks the signals it will handle, forks, and
returns only in the new child (pid 2), which continues with the remaining steps
and execs the program in a process group of its own. Pid 1 closes every fd but
stdio (the step-report pipe among them, so the parent sees EOF at the program's
exec), gives up every capability but CAP_KILL and sets no_new_privs (it is left
behind before the program's identity is applied), then waits with sigwaitinfo: a
SIGTERM, SIGINT, SIGHUP, SIGUSR1 or SIGUSR2 is forwarded to the program's group,
and each SIGCHLD reaps every exited child.
Blocked signals are queued even for pid 1 (the kernel only drops a signal that
is ignored and unblocked), so nothing needs a handler. Signals sent to pid 1's
own group reach it alone: the program's group is separate, so each signal is
delivered once. When the program exits, pid 1 exits with its code, or 128 + the
signal number if a signal killed it (pid 1 cannot kill itself with a signal).
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import NoReturn

FORWARDED = frozenset(
    {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2}
)
"""Signals pid 1 passes on to the program's process group."""

_WATCHED = FORWARDED | {signal.SIGCHLD}


def become_init() -> None:
    """Child step: fork the program; this process stays behind as pid 1 and never returns."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    program = os.fork()
    if program == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        os.setpgid(0, 0)
        return
    _serve(program)


def _serve(program: int) -> NoReturn:  # pragma: no cover - runs as pid 1 of a namespace
    try:
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        _give_up_privileges()
        while True:
            info = signal.sigwaitinfo(_WATCHED)
            if info.si_signo == signal.SIGCHLD:
                status = _reap(program)
                if status is not None:
                    os._exit(_exit_code(status))
            else:
                _forward(program, info.si_signo)
    finally:
        os._exit(_EXIT_INIT_FAILED)


_EXIT_INIT_FAILED = 127
_PR_SET_NO_NEW_PRIVS = 38


def _give_up_privileges() -> None:
    """Keep only CAP_KILL (to signal a program of another uid) and set no_new_privs.

    Pid 1 stays behind before the program's identity is applied, so it would keep the
    daemon's root and every capability; reaping and forwarding need none of that.
    Where the daemon holds no capabilities to drop (not root), there is nothing to
    give up and a refusal is ignored.
    """
    from corral._platform import libc
    from corral._platform.linux import capabilities

    kill = frozenset({capabilities.NUMBERS["CAP_KILL"]})
    with contextlib.suppress(OSError):
        capabilities.drop_bounding(kill)
        capabilities.set_process_sets(kill)
    libc.handle().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _reap(program: int) -> int | None:
    """Reap every exited child; the program's raw status if it was among them."""
    found = None
    while True:
        try:
            pid, raw = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if pid == 0:
            return found
        if pid == program:
            found = raw


def _forward(program: int, number: int) -> None:
    try:
        os.killpg(program, number)
    except ProcessLookupError:  # it left its group: the program alone
        with contextlib.suppress(ProcessLookupError):
            os.kill(program, number)


def _exit_code(raw: int) -> int:
    if os.WIFSIGNALED(raw):
        return 128 + os.WTERMSIG(raw)
    return os.waitstatus_to_exitcode(raw)
