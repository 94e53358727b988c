"""Starting a program with posix_spawn(3): the fast, fork-free path.

glibc implements posix_spawn with clone(CLONE_VM | CLONE_VFORK), so its cost does
not grow with the parent's memory the way fork() does, and it reports an exec
failure's errno to the caller. Every fd the child gets is set up with DUP2 file
actions from fds the parent already opened (so an unopenable file is reported by
the parent, naming the file); the inheritable fds the child is not given are
closed by close actions after them (posix/fds.py). Python ignores SIGPIPE and
SIGXFSZ; those dispositions would survive exec, so the child gets them back at
their defaults and an empty signal mask.

posix_spawn has no portable "change directory" action. On glibc and musl,
`linux/spawn_chdir.py` adds `posix_spawn_file_actions_addchdir_np`; elsewhere
`shell_chdir_argv` runs the program through `/bin/sh -c 'cd DIR && exec ...'`.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence

SIGNALS_TO_DEFAULT = (signal.SIGPIPE, signal.SIGXFSZ)

_SHELL_CHDIR = 'cd -- "$1" || exit 127; shift; exec "$@"'


def spawn(
    path: str,
    argv: Sequence[str],
    env: Mapping[bytes, bytes],
    *,
    fd_map: Sequence[tuple[int, int]],
    pgroup: int | None,
    new_session: bool,
    close: Sequence[int] = (),
) -> int:
    """posix_spawn `path`; `fd_map` holds (parent fd, child fd) pairs applied in order.

    `close` names fds the child closes after the dup2s (the strays: posix/fds.py).
    `new_session` wins over `pgroup` (a session leader leads its own group), as in
    `linux/spawn_chdir.py`.
    """
    actions: list[tuple[int, ...]] = [(os.POSIX_SPAWN_DUP2, src, dst) for src, dst in fd_map]
    if close:
        actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in close]
    if pgroup is None or new_session:
        return os.posix_spawn(
            path,
            list(argv),
            env,
            file_actions=actions,
            setsid=new_session,
            setsigmask=(),
            setsigdef=SIGNALS_TO_DEFAULT,
        )
    return os.posix_spawn(
        path,
        list(argv),
        env,
        file_actions=actions,
        setpgroup=pgroup,
        setsigmask=(),
        setsigdef=SIGNALS_TO_DEFAULT,
    )


def shell_chdir_argv(path: str, argv: Sequence[str], cwd: str) -> tuple[str, list[str]]:
    """The (path, argv) that enters `cwd` through /bin/sh, then execs the program."""
    # cd(1) looks a relative operand up in $CDPATH first (and prints where it went)
    # unless the operand starts with "./"; posix_spawn's chdir never does.
    if not cwd.startswith("/"):
        cwd = "./" + cwd
    return "/bin/sh", ["sh", "-c", _SHELL_CHDIR, "sh", cwd, path, *argv[1:]]
