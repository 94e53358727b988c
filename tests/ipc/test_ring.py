"""corral.ipc.ring: a memfd ring between two real processes, under concurrent use.

The sender and receiver run at once in different processes, with a ring much smaller
than what passes through it, so every record position, every wrap and every
full/empty wait is exercised; each message is checked byte for byte, in order. Both
memory-ordering modes run here (x86-64 takes the unfenced one by default).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral import Command, Process, ipc
from corral._ipc.ring import CONTROL
from tests.ipc.ring_peer import pattern

ROOT = Path(__file__).resolve().parents[2]
COUNT = 20_000
_STARTED: list[Process] = []


@pytest.fixture(autouse=True)
def _children_end() -> Iterator[None]:
    yield
    while _STARTED:
        with _STARTED.pop():
            pass


def ring_peer(role: str, end: ipc.RingEnd, fenced: bool) -> Process:
    env = {"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    mode = "fenced" if fenced else "unfenced"
    command = Command(sys.executable, "-m", "tests.ipc.ring_peer", role, str(COUNT), mode)
    process = command.env(**env).cwd(ROOT).map_fds(*end.child_fds()).stdout("capture").start()
    _STARTED.append(process)
    end.close_here()
    return process


@pytest.mark.parametrize("fenced", [False, True], ids=["unfenced", "fenced"])
def test_a_child_receives_every_message_whole_and_in_order(fenced: bool) -> None:
    sender, receiver = ipc.ring(4096, timeout=30, fenced=fenced)
    child = ring_peer("recv", receiver, fenced)
    with sender:
        for index in range(COUNT):
            sender.send_bytes(pattern(index))
    assert child.readline(timeout=30) == str(COUNT)
    assert child.wait(timeout=30).exit_code == 0


@pytest.mark.parametrize("fenced", [False, True], ids=["unfenced", "fenced"])
def test_a_child_sends_every_message_whole_and_in_order(fenced: bool) -> None:
    sender, receiver = ipc.ring(4096, timeout=30, fenced=fenced)
    child = ring_peer("send", sender, fenced)
    with receiver:
        for index in range(COUNT):
            assert receiver.recv_bytes() == pattern(index), f"message {index}"
        with pytest.raises(ipc.ChannelClosed, match="sender closed the ring"):
            receiver.recv_bytes()
    assert child.wait(timeout=30).exit_code == 0


def test_messages_are_encoded_by_the_default_codec() -> None:
    sender, receiver = ipc.ring(1024, timeout=5)
    with sender, receiver:
        sender.send({"job": 1, "args": ["a"]})
        assert receiver.recv() == {"job": 1, "args": ["a"]}


def test_the_ring_has_no_name_anywhere() -> None:
    before = set(Path("/dev/shm").iterdir())
    sender, receiver = ipc.ring(1024)
    with sender, receiver:
        memfd = sender.fds()[0]
        assert os.readlink(f"/proc/self/fd/{memfd}").startswith("/memfd:corral-ring")
        assert set(Path("/dev/shm").iterdir()) - before == set()  # no segment was named


def test_a_message_bigger_than_the_ring_is_refused() -> None:
    sender, receiver = ipc.ring(1024)
    with sender, receiver, pytest.raises(ipc.FrameTooLarge, match="over the limit of 1016"):
        sender.send_bytes(b"x" * 1017)


def test_a_full_ring_times_out_the_sender_and_an_empty_one_the_receiver() -> None:
    sender, receiver = ipc.ring(1024)
    with sender, receiver:
        started = time.monotonic()
        with pytest.raises(ipc.ChannelTimeout, match="recv"):
            receiver.recv_bytes(timeout=0.2)
        sender.send_bytes(b"x" * 1000)
        with pytest.raises(ipc.ChannelTimeout, match="send"):
            sender.send_bytes(b"y" * 100, timeout=0.2)
        assert time.monotonic() - started < 2
        assert receiver.recv_bytes() == b"x" * 1000


def test_a_closed_receiver_is_channel_closed_for_the_sender() -> None:
    sender, receiver = ipc.ring(1024)
    receiver.close()
    with sender, pytest.raises(ipc.ChannelClosed, match="receiver closed"):
        sender.send_bytes(b"x")


def test_garbage_in_the_ring_is_a_frame_error_not_an_allocation() -> None:
    sender, receiver = ipc.ring(1024)
    with sender, receiver:
        sender.send_bytes(b"12345678")
        with open(f"/proc/self/fd/{sender.fds()[0]}", "r+b") as memory:  # a corrupting peer
            memory.seek(CONTROL)
            memory.write((3 << 30).to_bytes(4, "little"))
        with pytest.raises(ipc.FrameError, match="a record of 3221225472 bytes"):
            receiver.recv_bytes()


def test_recv_into_copies_into_the_callers_buffer_and_refuses_a_small_one() -> None:
    sender, receiver = ipc.ring(1024)
    with sender, receiver:
        sender.send_bytes(b"abcdef")
        small, buffer = bytearray(3), bytearray(100)
        with pytest.raises(ipc.ChannelError, match="a 6-byte message for a 3-byte buffer"):
            receiver.recv_into(small)
        assert receiver.recv_into(buffer) == 6
        assert buffer[:6] == b"abcdef"


@pytest.mark.parametrize("fenced", [False, True], ids=["unfenced", "fenced"])
def test_an_async_end_receives_from_a_child_and_times_out(fenced: bool) -> None:
    import asyncio

    async def scenario() -> None:
        sender, receiver = ipc.ring(4096, timeout=30, fenced=fenced)
        child = ring_peer("send", sender, fenced)
        async with ipc.AsyncRingEnd(receiver) as ours:
            for index in range(COUNT):
                assert await ours.recv_bytes() == pattern(index), f"message {index}"
            with pytest.raises(ipc.ChannelClosed, match="sender closed the ring"):
                await ours.recv_bytes()
        assert (await asyncio.to_thread(child.wait, 30)).exit_code == 0
        quiet_sender, quiet = ipc.ring(1024)
        async with ipc.AsyncRingEnd(quiet) as idle:
            started = time.monotonic()
            with pytest.raises(ipc.ChannelTimeout, match="recv"):
                await idle.recv(timeout=0.2)
            assert time.monotonic() - started < 2
            await ipc.AsyncRingEnd(quiet_sender).send({"late": True})
            assert await idle.recv(timeout=5) == {"late": True}
        quiet_sender.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("fenced", [False, True], ids=["unfenced", "fenced"])
def test_batches_reach_a_child_whole_and_in_order(fenced: bool) -> None:
    sender, receiver = ipc.ring(4096, timeout=30, fenced=fenced)
    child = ring_peer("recv", receiver, fenced)
    with sender:
        for start in range(0, COUNT, 50):  # a batch may fill the ring: it publishes, waits
            sender.send_many_bytes([pattern(index) for index in range(start, start + 50)])
    assert child.readline(timeout=30) == str(COUNT)
    assert child.wait(timeout=30).exit_code == 0


@pytest.mark.parametrize("fenced", [False, True], ids=["unfenced", "fenced"])
def test_recv_many_takes_a_childs_messages_in_batches_whole_and_in_order(fenced: bool) -> None:
    sender, receiver = ipc.ring(4096, timeout=30, fenced=fenced)
    child = ring_peer("send", sender, fenced)
    with receiver:
        got: list[bytes] = []
        while len(got) < COUNT:
            batch = receiver.recv_many_bytes(limit=100)
            assert 1 <= len(batch) <= 100
            got.extend(batch)
        assert got == [pattern(index) for index in range(COUNT)]
        with pytest.raises(ipc.ChannelClosed, match="sender closed the ring"):
            receiver.recv_many_bytes()
    assert child.wait(timeout=30).exit_code == 0
