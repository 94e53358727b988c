"""LogFollower: a slow `logs -f` reader costs at most its bound, and is cut off past it."""

from __future__ import annotations

import asyncio

import pytest

from corral._errors import InvalidSpec
from corral._observe.logs.follower import FOLLOWER_BYTES, LogFollower


def test_the_default_bound_is_one_mebibyte() -> None:
    assert LogFollower().max_bytes == FOLLOWER_BYTES == 1024 * 1024


def test_chunks_within_the_bound_are_taken_whole_in_order() -> None:
    follower = LogFollower(max_bytes=10)
    assert follower.offer(b"abc")
    assert follower.offer(b"defg")
    assert follower.queued_bytes == 7
    assert asyncio.run(follower.take()) == b"abcdefg"
    assert follower.queued_bytes == 0
    assert not follower.cut_off


def test_a_chunk_past_the_bound_cuts_the_reader_off_and_frees_what_it_held() -> None:
    follower = LogFollower(max_bytes=10)
    follower.offer(b"123456")
    assert not follower.offer(b"78901")
    assert follower.cut_off
    assert follower.queued_bytes == 0
    assert not follower.offer(b"x")  # nothing more is queued once cut off
    assert asyncio.run(follower.take()) == b""


def test_take_waits_for_a_chunk_and_ends_with_the_stream() -> None:
    async def scenario() -> list[bytes]:
        follower = LogFollower()
        loop = asyncio.get_running_loop()
        loop.call_soon(follower.offer, b"late")
        first = await follower.take()
        loop.call_soon(follower.end)
        return [first, await follower.take()]

    assert asyncio.run(scenario()) == [b"late", b""]


def test_a_follower_needs_a_positive_bound() -> None:
    with pytest.raises(InvalidSpec, match="max_bytes >= 1"):
        LogFollower(max_bytes=0)
