"""A real etcd for the tests, one per session, on its own loopback ports and tmpfs data dir.

It is never the system's etcd on 2379: the ports are picked free, and the data dir
is a fresh directory in /dev/shm (tmpfs, so fsyncs are cheap), removed at the end.
etcd runs under a keeper process (tests/helpers/etcd_keeper.py) that kills and
restarts it when a test asks.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

KEEPER = Path(__file__).resolve().parent.parent / "helpers" / "etcd_keeper.py"
TMPFS = "/dev/shm"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Etcd:
    """An etcd: `url`, `kill()` (SIGKILL) and `start()` (same data); https with `flags`
    naming its --cert-file and --key-file."""

    def __init__(self, scheme: str = "http", flags: tuple[str, ...] = ()) -> None:
        self.data = tempfile.mkdtemp(
            prefix="corral-etcd-", dir=TMPFS if Path(TMPFS).is_dir() else None
        )
        self.port = free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._keeper = subprocess.Popen(
            [
                sys.executable,
                str(KEEPER),
                self.data,
                str(self.port),
                str(free_port()),
                scheme,
                *flags,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.running = False
        self.pid = 0

    def _ask(self, command: str) -> str:
        assert self._keeper.stdin is not None
        assert self._keeper.stdout is not None
        self._keeper.stdin.write(command + "\n")
        self._keeper.stdin.flush()
        answer = self._keeper.stdout.readline().strip()
        if not answer:
            raise RuntimeError(f"the etcd keeper ended; see {self.data}/etcd.log")
        return answer

    def start(self) -> None:
        answer = self._ask("start")
        assert answer.startswith("ready "), answer
        self.pid = int(answer.split()[1])
        self.running = True

    def kill(self) -> None:
        assert self._ask("kill") == "killed"
        self.running = False

    def close(self) -> None:
        assert self._keeper.stdin is not None
        assert self._keeper.stdout is not None
        self._keeper.stdin.close()
        self._keeper.wait(30)
        self._keeper.stdout.close()
        shutil.rmtree(self.data, ignore_errors=True)
