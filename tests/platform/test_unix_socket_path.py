"""The longest unix socket path is found by trying, and it is exactly what bind() takes."""

from __future__ import annotations

import os
import socket
import stat
import sys
from pathlib import Path

import pytest

from corral._platform import max_unix_socket_path


def padded(where: Path, length: int) -> str:
    head = f"{where}/"
    return head + "s" * (length - len(head))


def test_a_path_of_the_limit_binds_and_one_byte_more_does_not(tmp_path: Path) -> None:
    limit = max_unix_socket_path()
    longest = padded(tmp_path, limit)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(longest)
    assert stat.S_ISSOCK(os.stat(longest).st_mode)
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock,
        pytest.raises(OSError, match="too long"),
    ):
        sock.bind(padded(tmp_path, limit + 1))
    assert os.listdir(tmp_path) == [os.path.basename(longest)]


@pytest.mark.skipif(sys.platform != "linux", reason="the figure is Linux's")
def test_on_linux_it_is_sun_path_less_its_nul() -> None:
    assert max_unix_socket_path() == 107
