"""`corral daemon --detach`: start the daemon in its own session, return once it answers.

The daemon is started through corral's own spawn path with a pipe passed down
(`CORRAL_READY_FD`); it writes "ready" there once its API socket is listening.
Reading that pipe is the wait: "ready" is success, EOF first means the daemon
died during start-up, and then the end of its log says why.
"""

from __future__ import annotations

import os
import select
import sys
import time

from corral._control.daemon_main import READY_FD_VARIABLE
from corral._errors import CorralError
from corral._process.spawn import launch
from corral._process.spec import File, ProcessSpec
from corral._supervisor.config.load import load_config

READY_TIMEOUT = 60.0


def detach(config_path: str) -> int:
    """Start the daemon in the background; 0 once its API answers, 1 if it failed."""
    try:
        config = load_config(config_path)
    except CorralError as exc:
        print(f"corral: {exc}", file=sys.stderr)
        return 2
    os.makedirs(config.daemon.log_dir, exist_ok=True)
    daemon_log = os.path.join(config.daemon.log_dir, "corral.daemon.log")
    read, write = os.pipe()
    spec = ProcessSpec(
        argv=(sys.executable, "-m", "corral", "daemon", "-c", os.path.abspath(config_path)),
        env_add=((READY_FD_VARIABLE, str(write)),),
        stdin="devnull",
        stdout=File(daemon_log, append=True),
        stderr="merge",
        pass_fds=(write,),
        new_session=True,
    )
    try:
        launched = launch(spec)
    finally:
        os.close(write)
    try:
        ready = wait_ready(read)
    finally:
        os.close(read)
    if ready:
        print(f"corral daemon running (pid {launched.pid}); socket {config.daemon.socket}")
        return 0
    print(f"corral: the daemon failed to start; see {daemon_log}:", file=sys.stderr)
    print(_tail(daemon_log), file=sys.stderr)
    return 1


def wait_ready(fd: int, timeout: float = READY_TIMEOUT) -> bool:
    """Read `fd` until a line arrives: True if it says "ready", False on EOF or timeout."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return False
        chunk = os.read(fd, 64)
        if not chunk:
            return False
        data += chunk
    return data.startswith(b"ready")


def _tail(path: str, lines: int = 10) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read()[-8192:].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join("  | " + line for line in text.splitlines()[-lines:])
