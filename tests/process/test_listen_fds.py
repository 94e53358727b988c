"""Sockets handed over as systemd does: fds from 3 in order, LISTEN_PID the child's own."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from corral._process.spawn import ListenFds, launch
from corral._process.spec import ProcessSpec
from corral._sandbox.spec import Sandbox

REPORT = """
import json, os, socket
count = int(os.environ["LISTEN_FDS"])
ports = [socket.socket(fileno=fd).getsockname()[1] for fd in range(3, 3 + count)]
print(json.dumps({
    "pid": os.getpid(), "listen_pid": os.environ["LISTEN_PID"], "ports": ports,
    "names": os.environ["LISTEN_FDNAMES"],
}))
"""


@pytest.fixture
def listeners() -> Iterator[list[socket.socket]]:
    """Thirty listening sockets: some of their fds are numbered where others are to go."""
    with ExitStack() as stack:
        yield [stack.enter_context(socket.create_server(("127.0.0.1", 0))) for _ in range(30)]


def _run(spec: ProcessSpec, listen: ListenFds) -> dict[str, object]:
    read, write = os.pipe()
    try:
        launched = launch(
            ProcessSpec(
                argv=spec.argv,
                env_add=spec.env_add,
                stdout=write,
                stderr="inherit",
                sandbox=spec.sandbox,
            ),
            listen=listen,
        )
    finally:
        os.close(write)
    with os.fdopen(read, "rb") as out:
        data = out.read()
    os.waitpid(launched.pid, 0)
    launched.notifier.close()
    return dict(json.loads(data))


def test_sockets_arrive_in_order_from_fd_3_whatever_their_numbers_here(
    listeners: list[socket.socket],
) -> None:
    order = list(reversed(listeners))  # the highest fds first, to fds 3, 4, ...
    assert any(sock.fileno() < 3 + len(order) for sock in order)  # the case under test
    names = tuple(f"s{index}" for index in range(len(order)))
    listen = ListenFds(tuple(sock.fileno() for sock in order), names)
    seen = _run(ProcessSpec(argv=(sys.executable, "-c", REPORT)), listen)
    assert seen["ports"] == [sock.getsockname()[1] for sock in order]
    assert seen["names"] == ":".join(names)
    assert seen["listen_pid"] == str(seen["pid"])


def test_an_inherited_listen_pid_is_replaced_by_the_childs_own(
    listeners: list[socket.socket],
) -> None:
    spec = ProcessSpec(argv=(sys.executable, "-c", REPORT), env_add=(("LISTEN_PID", "1"),))
    seen = _run(spec, ListenFds((listeners[0].fileno(),), ("web",)))
    assert seen["listen_pid"] == str(seen["pid"])
    assert seen["ports"] == [listeners[0].getsockname()[1]]


def test_a_sandboxed_child_gets_its_sockets_and_its_own_listen_pid_too(
    listeners: list[socket.socket],
) -> None:
    spec = ProcessSpec(
        argv=(sys.executable, "-c", REPORT), sandbox=Sandbox(rlimits={"nofile": (512, 512)})
    )
    seen = _run(spec, ListenFds((listeners[1].fileno(), listeners[0].fileno()), ("a", "b")))
    assert seen["listen_pid"] == str(seen["pid"])
    assert seen["ports"] == [listeners[1].getsockname()[1], listeners[0].getsockname()[1]]
