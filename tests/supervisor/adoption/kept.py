"""A daemon under test run by a real keeper (`python -m corral._keeper`).

`start_kept` runs the guarded daemon as the keeper's child; after a crash,
`restart_kept` runs the same command again, which finds the live keeper and has it
spawn the new daemon (the command then waits for it: it is `process`). `held` asks
the keeper what it holds, as a new daemon would.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import corral
from corral._keeper.link import Held, KeeperLink, Snapshot
from tests.support.daemon import Daemon, daemon_argv


class KeptDaemon(Daemon):
    """A daemon under a keeper: `process` is the keeper (or, after a restart, the launcher)."""

    def __init__(self, workdir: Path, programs: str, daemon_keys: str = "") -> None:
        super().__init__(workdir, programs, daemon_keys)
        self.keeper_dir = tempfile.mkdtemp(prefix="kpr", dir="/tmp")
        self.keeper_socket = os.path.join(self.keeper_dir, "keeper.sock")
        self.keeper: corral.Process | None = None
        """The keeper's process once a restart made `process` the launcher."""

    def _argv(self) -> list[str]:
        argv = [sys.executable, "-m", "corral._keeper", "--socket", self.keeper_socket, "--"]
        return [*argv, *daemon_argv(self.config)]

    def start_kept(self) -> None:
        self.start(argv=self._argv())

    def restart_kept(self) -> None:
        """After the daemon died: the same command again, through the live keeper."""
        self.keeper, self.process = self.process, None
        self.start(argv=self._argv())

    def snapshot(self) -> Snapshot:
        """What the keeper holds (our copies of the fds closed at once)."""
        link = KeeperLink.connect(self.keeper_socket)
        try:
            snapshot = link.hello()
        finally:
            link.close()
        for entry in snapshot.entries:
            entry.close()
        return snapshot

    def held(self) -> dict[str, Held]:
        """What the keeper holds, by instance name."""
        return {entry.id: entry for entry in self.snapshot().entries}

    def daemon_pid(self) -> int:
        return int(self.call("GET", "/status")["daemon"]["pid"])

    def stop(self) -> corral.Result | None:
        try:
            return super().stop()
        finally:
            if self.keeper is not None:
                with self.keeper:
                    self.keeper.wait(timeout=60)
                self.keeper = None
            shutil.rmtree(self.keeper_dir, ignore_errors=True)
