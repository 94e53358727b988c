"""A stand-in daemon under a keeper: the test of the keeper alone runs it.

`keeper_daemon.py DIR MODE`. MODE `early` exits 2 before greeting the keeper (a config
error). Otherwise it greets the keeper and, with MODE `adopt`, spawns three programs
(their stdout a pipe whose read end it hands over, with a pidfd):
"writer" writes b"after\\n" once DIR/go exists, then sleeps; "quitter" exits 7 once
DIR/go exists; "stray" is spawned and never handed over (a crash right after a spawn).
It writes their pids to DIR/ready.json and waits for signals: SIGTERM says bye to the
keeper and exits 0 (a clean shutdown).
"""

import json
import os
import signal
import sys

from corral._keeper.link import KeeperLink

WAIT_GO = "import os,time\nwhile not os.path.exists({go!r}): time.sleep(0.01)\n"


def spawn(code: str) -> tuple[int, int]:
    """A Python child running `code`, its stdout a pipe: (pid, read end)."""
    read, write = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, write, 1), (os.POSIX_SPAWN_CLOSE, read)]
    pid = os.posix_spawn(
        sys.executable, [sys.executable, "-c", code], os.environ, file_actions=actions
    )
    os.close(write)
    return pid, read


def main() -> None:
    directory, mode = sys.argv[1], sys.argv[2]
    if mode == "early":
        sys.exit(2)
    link = KeeperLink.from_environment()
    assert link is not None
    link.hello()
    pids = {}
    if mode == "adopt":
        go = os.path.join(directory, "go")
        wait = WAIT_GO.format(go=go)
        programs = {
            "writer": wait + "os.write(1, b'after\\n'); time.sleep(300)",
            "quitter": wait + "os._exit(7)",
        }
        for name, code in programs.items():
            pid, read = spawn(code)
            pidfd = os.pidfd_open(pid)
            link.put(name, pid, {"pidfd": pidfd, "stdout": read}, {"name": name})
            os.close(pidfd)
            pids[name] = pid
        pids["stray"], _unsent_read_end = spawn("import time; time.sleep(300)")

    def shutdown(*_: object) -> None:
        link.bye()
        sys.exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    with open(os.path.join(directory, "ready.json.tmp"), "w") as f:
        json.dump({"daemon": os.getpid(), **pids}, f)
    os.rename(os.path.join(directory, "ready.json.tmp"), os.path.join(directory, "ready.json"))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
