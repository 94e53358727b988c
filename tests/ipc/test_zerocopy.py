"""Zero-copy: a file moves into a channel by sendfile or splice, and a copy says why.

The receiving end is a real child (the echo peer), which sends the frame back, so
each test checks the bytes that crossed the process boundary, and `Transfer.how`
says which kernel path moved them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral import ipc
from tests.ipc.test_channels import peer

BODY = os.urandom(3 * 1024 * 1024 + 17)  # over one 1 MiB chunk, and not a multiple of it


@pytest.fixture
def data_file(tmp_path: Path) -> Iterator[int]:
    path = tmp_path / "data.bin"
    path.write_bytes(BODY)
    fd = os.open(path, os.O_RDONLY)
    yield fd
    os.close(fd)


@pytest.fixture(autouse=True)
def _children_end() -> Iterator[None]:
    from tests.ipc.test_channels import _STARTED

    yield
    while _STARTED:
        with _STARTED.pop():
            pass


def test_a_file_goes_to_a_child_over_a_unix_socket_by_sendfile(data_file: int) -> None:
    ours, theirs = ipc.socketpair(timeout=30)
    child = peer("echo", "socket", end=theirs)
    with ours:
        assert ours.send_file(data_file) == ipc.Transfer(len(BODY), "sendfile")
        assert ours.recv_bytes() == BODY
    assert child.wait(timeout=30).exit_code == 0


def test_a_file_goes_to_a_child_over_a_pipe_in_the_kernel(data_file: int) -> None:
    ours, theirs = ipc.pipe(timeout=30)
    child = peer("echo", "pipe", end=theirs)
    with ours:
        sent = ours.send_file(data_file, 1000, offset=17, timeout=30)
        assert sent.how in ("sendfile", "splice")
        assert ours.recv_bytes() == BODY[17:1017]
    assert child.wait(timeout=30).exit_code == 0


def test_a_seqpacket_channel_copies_and_says_why(data_file: int) -> None:
    ours, theirs = ipc.socketpair("seqpacket", timeout=30)
    with ours, theirs:
        sent = ours.send_file(data_file, 4096)
        assert (sent.how, sent.reason) == (
            "copy",
            "seqpacket: a frame is one record, sent by one write",
        )
        assert theirs.recv_bytes() == BODY[:4096]


def test_a_pipe_source_into_a_socket_is_spliced() -> None:
    read_end, write_end = os.pipe()
    left, right = socket.socketpair()
    with left, right:
        os.write(write_end, b"spliced bytes")
        assert ipc.transfer(read_end, left.fileno(), 13) == ipc.Transfer(13, "splice")
        assert right.recv(100) == b"spliced bytes"
    os.close(read_end)
    os.close(write_end)


def test_a_socket_into_a_socket_is_a_copy_that_names_the_refusal() -> None:
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    with a, b, c, d:
        a.sendall(b"hello")
        moved = ipc.transfer(b.fileno(), c.fileno(), 5)
        assert (moved.how, moved.reason) == (
            "copy",
            "sendfile: ESPIPE; splice: neither fd is a pipe",
        )
        assert d.recv(100) == b"hello"


def test_a_source_shorter_than_promised_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "short"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDONLY)
    a, b = socket.socketpair()
    with a, b, pytest.raises(ipc.ChannelError, match="the source ended after 3 of 10 bytes"):
        ipc.transfer(fd, a.fileno(), 10)
    os.close(fd)


def test_a_file_over_the_channel_limit_is_refused_before_a_byte_moves(data_file: int) -> None:
    ours, theirs = ipc.socketpair(max_frame=1024)
    with ours, theirs, pytest.raises(ipc.FrameTooLarge, match="over the limit of 1024"):
        ours.send_file(data_file)
