"""`corral status` lists the daemon's sockets under the instances, as exact text."""

from __future__ import annotations

from corral._control.cli.render import sockets_table
from corral._supervisor.view import SocketView


def _socket(name: str, bound: str, *programs: str) -> SocketView:
    kind = "unix" if bound.startswith("/") else "tcp"
    return SocketView(
        name=name, listen=bound, bound=bound, kind=kind, backlog=128, mode=None, programs=programs
    )


def test_each_socket_is_a_row_with_its_address_and_programs() -> None:
    sockets = [_socket("admin", "/run/admin.sock", "web", "api"), _socket("web", "127.0.0.1:8080")]
    assert sockets_table(sockets) == (
        "\n"
        "SOCKET  BOUND            PROGRAMS\n"
        "admin   /run/admin.sock  web, api\n"
        "web     127.0.0.1:8080   -\n"
    )


def test_a_daemon_without_sockets_adds_nothing() -> None:
    assert sockets_table([]) == ""
