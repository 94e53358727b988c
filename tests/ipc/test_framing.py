"""Length-prefixed frames: any split of the bytes gives the same frames; bad streams are named."""

from __future__ import annotations

import asyncio
import os
import tracemalloc

import pytest

from corral._errors import CorralError, FrameError, FrameTooLarge, TruncatedFrame
from corral._ipc.framing import HEADER, FrameDecoder, encode
from corral._ipc.loop_reader import AsyncFrameReader
from corral._ipc.loop_writer import LoopFrameWriter
from corral._ipc.pipe import FrameReader, send_frame


def test_a_frame_round_trips() -> None:
    assert FrameDecoder().feed(encode(b"hello")) == [b"hello"]


def test_the_header_is_four_bytes_big_endian() -> None:
    assert encode(b"abc") == b"\x00\x00\x00\x03abc"


def test_an_empty_payload_is_a_frame() -> None:
    assert FrameDecoder().feed(encode(b"")) == [b""]


def test_frames_split_at_every_byte_come_out_whole_and_in_order() -> None:
    stream = encode(b"first") + encode(b"") + encode(b"third" * 50)
    decoder = FrameDecoder()
    frames = [f for i in range(len(stream)) for f in decoder.feed(stream[i : i + 1])]
    assert frames == [b"first", b"", b"third" * 50]
    decoder.end()  # at a boundary: no error


def test_frames_split_anywhere_in_two_reads_come_out_whole_and_in_order() -> None:
    # the second read may start right after a header (a payload of >= 4 bytes then)
    stream = encode(b"first") + encode(b"") + encode(b"third" * 50) + encode(b"fourth")
    for cut in range(len(stream) + 1):
        decoder = FrameDecoder()
        frames = decoder.feed(stream[:cut]) + decoder.feed(memoryview(stream)[cut:])
        assert frames == [b"first", b"", b"third" * 50, b"fourth"], f"cut at {cut}"
        decoder.end()


def test_eof_inside_a_frame_is_truncated_frame() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode(b"0123456789")[:7]) == []
    with pytest.raises(TruncatedFrame, match=r"7 of 14 bytes") as caught:
        decoder.end()
    assert isinstance(caught.value, FrameError | CorralError)


def test_eof_inside_a_header_is_truncated_frame() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x00")
    with pytest.raises(TruncatedFrame, match=r"2 of 4 bytes"):
        decoder.end()


def test_an_oversized_length_is_refused_on_the_header_before_allocating() -> None:
    decoder = FrameDecoder(max_frame=1024)
    tracemalloc.start()
    try:
        with pytest.raises(FrameTooLarge, match="4294967295 bytes is over the limit of 1024"):
            decoder.feed(HEADER.pack(0xFFFFFFFF))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def test_sending_over_the_limit_is_refused() -> None:
    with pytest.raises(FrameTooLarge):
        encode(b"x" * 11, max_frame=10)


def pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    return r, w


def test_blocking_send_and_recv_over_a_pipe() -> None:
    r, w = pipe()
    try:
        send_frame(w, b"one")
        send_frame(w, b"two")
        os.close(w)
        reader = FrameReader(r)
        assert [reader.recv(), reader.recv(), reader.recv()] == [b"one", b"two", None]
    finally:
        os.close(r)


def test_blocking_recv_of_a_truncated_stream_is_truncated_frame() -> None:
    r, w = pipe()
    try:
        os.write(w, encode(b"abcdef")[:5])
        os.close(w)
        with pytest.raises(TruncatedFrame):
            FrameReader(r).recv()
    finally:
        os.close(r)


def test_blocking_recv_of_an_oversized_header_is_frame_too_large() -> None:
    r, w = pipe()
    try:
        os.write(w, HEADER.pack(2**31))
        with pytest.raises(FrameTooLarge):
            FrameReader(r, max_frame=1 << 20).recv()
    finally:
        os.close(r)
        os.close(w)


async def read_all(r: int, max_frame: int = 1 << 20) -> tuple[list[bytes], BaseException | None]:
    frames: list[bytes] = []
    ended: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
    AsyncFrameReader(r, frames.append, ended.set_result, max_frame)
    return frames, await asyncio.wait_for(ended, 30)


def test_the_loop_reader_gets_frames_written_in_pieces_and_the_clean_end() -> None:
    r, w = pipe()

    async def main() -> tuple[list[bytes], BaseException | None]:
        loop = asyncio.get_running_loop()
        stream = encode(b"a" * 100_000) + encode(b"b")
        pieces = [stream[i : i + 4093] for i in range(0, len(stream), 4093)]

        def write_next() -> None:
            if pieces:
                os.write(w, pieces.pop(0))
                loop.call_soon(write_next)
            else:
                os.close(w)

        loop.call_soon(write_next)
        return await read_all(r)

    try:
        frames, error = asyncio.run(main())
    finally:
        os.close(r)
    assert frames == [b"a" * 100_000, b"b"]
    assert error is None


def test_the_loop_reader_reports_a_truncated_stream() -> None:
    r, w = pipe()
    os.write(w, encode(b"complete") + encode(b"cut short")[:6])
    os.close(w)
    try:
        frames, error = asyncio.run(read_all(r))
    finally:
        os.close(r)
    assert frames == [b"complete"]
    assert isinstance(error, TruncatedFrame)


def test_the_loop_reader_reports_an_oversized_frame() -> None:
    r, w = pipe()
    os.write(w, HEADER.pack(10_000))
    try:
        frames, error = asyncio.run(read_all(r, max_frame=100))
    finally:
        os.close(r)
        os.close(w)
    assert frames == []
    assert isinstance(error, FrameTooLarge)


def test_the_loop_writer_never_blocks_on_a_full_pipe_and_finishes_when_read() -> None:
    r, w = pipe()

    async def main() -> tuple[int, list[bytes], BaseException | None]:
        writer = LoopFrameWriter(w)
        writer.send(b"z" * (1 << 20))  # far more than a pipe holds: returns at once
        held = writer.pending
        frames: list[bytes] = []
        got: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def arrived(frame: bytes) -> None:
            frames.append(frame)
            got.set_result(None)

        reader = AsyncFrameReader(r, arrived, lambda _error: None)
        await asyncio.wait_for(got, 30)
        reader.close()
        writer.close()
        return held, frames, None

    try:
        held, frames, _ = asyncio.run(main())
    finally:
        os.close(r)
        os.close(w)
    assert held > 0
    assert frames == [b"z" * (1 << 20)]


def test_the_loop_writer_is_broken_once_the_reader_is_gone() -> None:
    r, w = pipe()
    os.close(r)

    async def main() -> bool:
        writer = LoopFrameWriter(w)
        writer.send(b"lost")
        return writer.broken and writer.pending == 0

    try:
        assert asyncio.run(main())
    finally:
        os.close(w)


def test_drain_delivers_what_the_pipe_holds_now_without_waiting_for_the_loop() -> None:
    r, w = pipe()
    os.write(w, encode(b"one") + encode(b"two"))

    async def main() -> list[bytes]:
        frames: list[bytes] = []
        reader = AsyncFrameReader(r, frames.append, lambda _error: None)
        reader.drain()  # before the loop ever ran the reader callback
        delivered = list(frames)
        reader.close()
        return delivered

    try:
        assert asyncio.run(main()) == [b"one", b"two"]
    finally:
        os.close(r)
        os.close(w)
