"""corral.ipc channels with a real child process at the other end of each transport.

Each transport carries messages both ways through the same API; each bad input (a
closed or half-open peer, a frame over the limit, garbage, a refused uid, a
timeout) is a precise CorralError, and nothing waits past its timeout.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from corral import Command, CorralError, Process, ipc
from tests.ipc.peer import NOBODY

ROOT = Path(__file__).resolve().parents[2]
SHORT = 0.2
"""A timeout a test expects to pass: the call must end within it (plus scheduling)."""


_STARTED: list[Process] = []


@pytest.fixture(autouse=True)
def _children_end() -> Iterator[None]:
    """Each child a test started is ended (if it still runs) and its handle closed."""
    yield
    while _STARTED:
        with _STARTED.pop():
            pass


def peer(mode: str, *args: str, end: ipc.Channel | None = None) -> Process:
    """`tests.ipc.peer MODE ARGS` started by corral, given `end` at fd 3 (and 4)."""
    env = {"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    command = Command(sys.executable, "-m", "tests.ipc.peer", mode, *args).env(**env).cwd(ROOT)
    if end is not None:
        command = command.map_fds(*end.child_fds())
    process = command.stdout("capture").start()
    _STARTED.append(process)
    if end is not None:
        end.close()  # the child holds its copy; ours would keep the channel half-open
    return process


@pytest.fixture
def pipe_to_child() -> Iterator[ipc.Channel]:
    ours, theirs = ipc.pipe(timeout=10)
    child = peer("echo", "pipe", end=theirs)
    with ours:
        yield ours
    assert child.wait(timeout=10).exit_code == 0


@pytest.fixture(params=["stream", "seqpacket"])
def socket_to_child(request: pytest.FixtureRequest) -> Iterator[ipc.Channel]:
    ours, theirs = ipc.socketpair(request.param, timeout=10)
    child = peer("echo", "socket", end=theirs)
    with ours:
        yield ours
    assert child.wait(timeout=10).exit_code == 0


def test_a_pipe_pair_carries_messages_to_a_child_and_back(pipe_to_child: ipc.Channel) -> None:
    message = {"task": "resize", "sizes": [1, 2, 3], "data": b"\x00\xff"}
    pipe_to_child.send(message)
    assert pipe_to_child.recv() == message


def test_a_socketpair_carries_large_and_empty_frames(socket_to_child: ipc.Channel) -> None:
    big = os.urandom(150_000)  # a seqpacket record this size fits the default buffers
    for payload in (b"", b"x", big):
        socket_to_child.send_bytes(payload)
        assert socket_to_child.recv_bytes() == payload


def test_the_peer_of_a_socketpair_is_the_child(socket_to_child: ipc.Channel) -> None:
    socket_to_child.send(1)
    socket_to_child.recv()
    peer_ = socket_to_child.peer
    assert (peer_.uid, peer_.gid) == (os.getuid(), os.getgid())


def test_a_typed_codec_refuses_a_message_of_the_wrong_shape() -> None:
    class Job(msgspec.Struct):
        name: str
        tries: int

    sender, receiver = ipc.socketpair(codec=ipc.Msgpack(Job), timeout=5)
    with sender, receiver:
        sender.send(Job("a", 2))
        assert receiver.recv() == Job("a", 2)
        sender.send_bytes(msgspec.msgpack.encode({"name": "a", "tries": "two"}))
        with pytest.raises(ipc.CodecError, match="Expected `int`, got `str`"):
            receiver.recv()


@pytest.mark.parametrize(
    "codec", [ipc.Raw(), ipc.Msgpack(), ipc.Json(), ipc.Pickle()], ids=lambda c: c.name
)
def test_every_codec_round_trips_and_names_itself_on_garbage(codec: ipc.Codec) -> None:
    message = b"payload" if isinstance(codec, ipc.Raw) else {"k": [1, "two"]}
    sender, receiver = ipc.socketpair(codec=codec, timeout=5)
    with sender, receiver:
        sender.send(message)
        assert receiver.recv() == message
        if not isinstance(codec, ipc.Raw):
            sender.send_bytes(b"\xc1\xff garbage")
            with pytest.raises(ipc.CodecError, match=codec.name):
                receiver.recv()


def test_a_fifo_carries_messages_one_way_between_processes(tmp_path: Path) -> None:
    path = ipc.make_fifo(tmp_path / "jobs")
    with ipc.open_fifo(path, "recv", timeout=10) as receiver:
        script = (
            "from corral import ipc\n"
            f"with ipc.open_fifo({str(path)!r}, 'send', timeout=10) as s:\n"
            "    [s.send({'n': n}) for n in range(3)]\n"
        )
        env = {"PYTHONPATH": str(ROOT / "src")}
        child = Command(sys.executable, "-c", script).env(**env).start()
        _STARTED.append(child)
        assert [receiver.recv() for _ in range(3)] == [{"n": 0}, {"n": 1}, {"n": 2}]
        with pytest.raises(ipc.ChannelClosed, match="closed its end"):
            receiver.recv()
        assert child.wait(timeout=10).exit_code == 0
        with pytest.raises(ipc.ChannelError, match="only receives"):
            receiver.send("x")


def test_opening_a_fifo_to_send_with_no_reader_times_out(tmp_path: Path) -> None:
    path = ipc.make_fifo(tmp_path / "nobody-reads")
    started = time.monotonic()
    with pytest.raises(ipc.ChannelTimeout, match="open \\(no reader\\)"):
        ipc.open_fifo(path, "send", timeout=SHORT)
    assert time.monotonic() - started < SHORT + 1


@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_a_unix_listener_reports_each_peers_credentials(tmp_path: Path, kind: str) -> None:
    with ipc.listen_unix(tmp_path / "s.sock", kind, timeout=10) as listener:  # type: ignore[arg-type]
        client = ipc.connect_unix(tmp_path / "s.sock", kind, timeout=10)  # type: ignore[arg-type]
        with client, listener.accept() as server:
            assert server.peer == ipc.Peer(os.getpid(), os.getuid(), os.getgid())
            client.send("ping")
            assert server.recv() == "ping"


def test_a_listener_refuses_a_peer_with_the_wrong_uid() -> None:
    # the socket lives where uid 65534 may reach it; the child drops to it and connects
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o755)
        path = Path(directory) / "root-only.sock"
        allow_root = ipc.listen_unix(path, mode=0o666, allow=lambda p: p.uid == 0, timeout=10)
        with allow_root:
            child = peer("connect", str(path), "stream")
            with pytest.raises(ipc.PeerRefused, match=f"uid {NOBODY}, gid {NOBODY}") as refused:
                allow_root.accept()
            assert refused.value.pid == child.pid
            assert child.readline(timeout=10) == "closed"
            assert child.wait(timeout=10).exit_code == 0


def test_fds_pass_to_a_child_and_it_writes_through_them(tmp_path: Path) -> None:
    ours, theirs = ipc.socketpair(timeout=10)
    child = peer("fds", "socket", end=theirs)
    files = [tmp_path / f"{n}.txt" for n in range(3)]
    fds = [os.open(f, os.O_WRONLY | os.O_CREAT, 0o600) for f in files]
    with ours:
        ours.send_fds(fds, "write to these")
        for fd in fds:
            os.close(fd)
        assert ours.recv() == 3
    assert child.wait(timeout=10).exit_code == 0
    assert [f.read_bytes() for f in files] == [b"peer-was-here"] * 3


def test_tcp_carries_messages_and_reports_its_address() -> None:
    with ipc.listen_tcp(timeout=10) as listener:
        client = ipc.connect_tcp("127.0.0.1", listener.port, timeout=10)
        with client, listener.accept() as server:
            client.send([1, 2, 3])
            assert server.recv() == [1, 2, 3]
            server.send("back")
            assert client.recv() == "back"


# -- bad input ------------------------------------------------------------------------


def test_a_recv_with_nothing_coming_times_out_on_time() -> None:
    ours, theirs = ipc.socketpair()
    with ours, theirs:
        started = time.monotonic()
        with pytest.raises(ipc.ChannelTimeout, match=r"recv did not complete within 0\.2 s"):
            ours.recv(timeout=SHORT)
        assert SHORT <= time.monotonic() - started < SHORT + 1
        assert isinstance(ipc.ChannelTimeout("x", "y", 1), CorralError | TimeoutError)


def test_a_send_to_a_peer_that_never_reads_times_out_on_time() -> None:
    ours, theirs = ipc.pipe()
    with ours, theirs:
        started = time.monotonic()
        with pytest.raises(ipc.ChannelTimeout, match="send did not complete"):  # noqa: PT012
            for _ in range(10_000):  # the pipe's 64 KiB fill long before this ends
                ours.send_bytes(b"x" * 65536, timeout=SHORT)
        assert time.monotonic() - started < SHORT + 1


def test_connecting_to_nothing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ipc.ChannelClosed, match="cannot connect: No such file"):
        ipc.connect_unix(tmp_path / "absent.sock", timeout=SHORT)
    with ipc.listen_tcp() as listener:
        port = listener.port
    with pytest.raises(ipc.ChannelClosed, match="cannot connect: Connection refused"):
        ipc.connect_tcp("127.0.0.1", port, timeout=SHORT)


def test_a_peer_that_died_is_channel_closed_both_ways() -> None:
    ours, theirs = ipc.pipe(timeout=10)
    child = peer("echo", "pipe", end=theirs)
    child.kill()
    with ours:
        with pytest.raises(ipc.ChannelClosed, match="closed its end"):
            ours.recv()
        with pytest.raises(ipc.ChannelClosed, match="the peer is gone"):
            ours.send("anyone?")


def test_a_peer_that_stops_mid_frame_is_a_truncated_frame() -> None:
    ours, theirs = ipc.socketpair(timeout=10)
    child = peer("half", "socket", end=theirs)
    with ours, pytest.raises(ipc.TruncatedFrame, match="11 of 20 bytes"):
        ours.recv()
    assert child.wait(timeout=10).exit_code == 0


@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_garbage_announcing_gigabytes_is_refused_unread(kind: str) -> None:
    ours, theirs = ipc.socketpair(kind, max_frame=1024, timeout=10)  # type: ignore[arg-type]
    child = peer("garbage", "socket", end=theirs)
    tracemalloc.start()
    try:
        with ours, pytest.raises(ipc.FrameTooLarge, match="over the limit of 1024 bytes"):
            ours.recv()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # the 3 GiB announced were never allocated
    assert child.wait(timeout=10).exit_code == 0


def test_a_message_over_the_limit_is_refused_before_it_is_sent() -> None:
    ours, theirs = ipc.socketpair(max_frame=16)
    with ours, theirs:
        with pytest.raises(ipc.FrameTooLarge, match="17 bytes"):
            ours.send_bytes(b"x" * 17)
        ours.send_bytes(b"fits")
        assert theirs.recv_bytes(timeout=5) == b"fits"


def test_a_closed_channel_says_so() -> None:
    ours, theirs = ipc.socketpair()
    theirs.close()
    ours.close()
    ours.close()
    with pytest.raises(ipc.ChannelClosed, match="we closed"):
        ours.recv()


# -- async ----------------------------------------------------------------------------


def test_the_async_api_carries_messages_to_a_child_and_times_out() -> None:
    async def scenario() -> None:
        ours, theirs = ipc.socketpair("seqpacket", timeout=10)
        child = peer("echo", "socket", end=theirs)
        async with ipc.AsyncChannel(ours) as channel:
            await channel.send({"n": 1})
            assert await channel.recv() == {"n": 1}
            started = time.monotonic()
            with pytest.raises(ipc.ChannelTimeout, match="recv"):
                await channel.recv(timeout=SHORT)
            assert time.monotonic() - started < SHORT + 1
        assert (await asyncio.to_thread(child.wait, 10)).exit_code == 0

    asyncio.run(scenario())


def test_async_unix_and_tcp_listeners_accept_and_check_peers(tmp_path: Path) -> None:
    async def scenario() -> None:
        with ipc.listen_unix(tmp_path / "a.sock", allow=lambda p: p.uid == os.getuid()) as unix:
            client = await ipc.connect_unix_async(tmp_path / "a.sock", timeout=5)
            server = await unix.accept_async(timeout=5)
            assert server.peer.pid == os.getpid()
            await client.send_bytes(b"x" * 300_000)  # more than one read, more than a buffer
            assert await server.recv_bytes(timeout=5) == b"x" * 300_000
            client.close()
            with pytest.raises(ipc.ChannelClosed, match="closed its end"):
                await server.recv(timeout=5)
            server.close()
        with ipc.listen_tcp() as tcp:
            with pytest.raises(ipc.ChannelTimeout, match="accept"):
                await tcp.accept_async(timeout=SHORT)
            client_tcp = await ipc.connect_tcp_async("127.0.0.1", tcp.port, timeout=5)
            async with client_tcp, await tcp.accept_async(timeout=5) as server_tcp:
                await server_tcp.send("hi")
                assert await client_tcp.recv(timeout=5) == "hi"

    asyncio.run(scenario())


def test_a_batch_goes_out_in_one_call_and_comes_back_message_by_message(
    socket_to_child: ipc.Channel,
) -> None:
    # small enough that the echoes fit the way back while we are still sending (a
    # seqpacket socketpair queues few records: net.unix.max_dgram_qlen)
    batch = [{"n": n} for n in range(8)]
    socket_to_child.send_many(batch)
    assert [socket_to_child.recv() for _ in batch] == batch


def test_a_batch_over_a_pipe_comes_back_whole(pipe_to_child: ipc.Channel) -> None:
    batch = [bytes([n % 256]) * n for n in range(300)]
    pipe_to_child.send_many_bytes(batch)
    assert [pipe_to_child.recv_bytes() for _ in batch] == batch


def test_a_half_open_peer_is_closed_for_reading_and_still_reads() -> None:
    ours, theirs = ipc.socketpair(timeout=10)
    child = peer("halfclose", "socket", end=theirs)
    with ours:
        with pytest.raises(ipc.ChannelClosed, match="closed its end"):
            ours.recv()  # the peer shut down its sending side: EOF, within the timeout
        ours.send("still heard")  # while its receiving side is open
        assert child.readline(timeout=10) == "still heard"
    assert child.wait(timeout=10).exit_code == 0
