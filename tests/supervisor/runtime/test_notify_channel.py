"""Readiness (runtime/notify.py) on a real loop and a real socket, without a daemon.

The tree is a stand-in whose root is this test process, so the datagrams the test
sends are its tree's; the kernel's credentials are real.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from corral._lifecycle.messages import Input, NotifiedReady, WatchdogPing
from corral._observe.events import Event, EventLog
from corral._platform import Datagram
from corral._supervisor.runtime.notify import Readiness
from tests.support.waiting import DEADLINE


@dataclass(frozen=True)
class OwnTree:
    """A tree whose root is this process (and nothing else)."""

    root: int = os.getpid()
    pgid: int = os.getpgid(0)
    marker: bytes = b"CORRAL_TREE=not-set-anywhere"
    cgroup: None = None


class Channel:
    """A Readiness for instance api:0 with what it fed and announced recorded."""

    def __init__(self, directory: Path) -> None:
        self.fed: list[Input] = []
        self.events: list[Event] = []
        log = EventLog(capacity=100)
        log.subscribe(self.events.append)
        self.readiness = Readiness(
            "api:0",
            "sd_notify",
            directory=str(directory),
            fd_number=3,
            events=log,
            feed=self.fed.append,
            tree=OwnTree,
            phase=lambda: None,
        )
        env, _ = self.readiness.prepare(watchdog=2.5)
        self.env = dict(env)

    def send(self, *messages: bytes) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            for message in messages:
                sock.sendto(message, self.env["NOTIFY_SOCKET"])


async def _until(condition: object, what: str) -> None:
    async with asyncio.timeout(DEADLINE):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0)


def test_the_environment_names_the_socket_and_the_watchdog_period(tmp_path: Path) -> None:
    async def main() -> None:
        channel = Channel(tmp_path)
        assert channel.env == {
            "NOTIFY_SOCKET": channel.readiness.path,
            "WATCHDOG_USEC": "2500000",
        }
        assert os.stat(str(channel.readiness.path)).st_mode & 0o777 == 0o600
        channel.readiness.close()
        assert not os.path.exists(str(channel.readiness.path))

    asyncio.run(main())


def test_a_member_s_datagram_is_fed_and_its_status_announced(tmp_path: Path) -> None:
    async def main() -> None:
        channel = Channel(tmp_path)
        channel.send(b"STATUS=up\nREADY=1\nWATCHDOG=1")
        await _until(lambda: len(channel.fed) == 2, "two inputs")
        assert channel.fed == [NotifiedReady(), WatchdogPing()]
        notify = [e for e in channel.events if e.kind == "notify"]
        assert [e.data for e in notify] == [{"status": "up", "main_pid": None, "phase": None}]
        channel.readiness.close()

    asyncio.run(main())


def test_a_sender_the_kernel_cannot_name_is_ignored_and_counted(tmp_path: Path) -> None:
    async def main() -> None:
        channel = Channel(tmp_path)
        # pid 0 comes from a sender in a pid namespace we cannot see; made here by hand
        channel.readiness._datagram(Datagram(b"READY=1", 0, 0, False, 0))
        assert (channel.fed, channel.readiness.ignored) == ([], 1)
        (event,) = channel.events
        assert event.kind == "notify.ignored"
        assert str(event.data["reason"]).startswith("its sender could not be identified")
        channel.readiness.close()

    asyncio.run(main())
