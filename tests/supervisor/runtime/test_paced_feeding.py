"""One request's instances are fed in slices: the loop gets a turn between slices."""

from __future__ import annotations

import asyncio

import pytest

from corral._supervisor.runtime import supervisor


def test_feeding_gives_the_loop_a_turn_once_a_slice_is_used_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervisor, "SLICE_SECONDS", 0.0)  # every item uses up its slice
    order: list[str] = []

    async def scenario() -> None:
        async def other() -> None:
            for _ in range(3):
                order.append("other")
                await asyncio.sleep(0)

        task = asyncio.create_task(other())
        async for item in supervisor._paced(["a", "b", "c"]):
            order.append(item)
        await task

    asyncio.run(scenario())
    assert order[:4] == ["a", "other", "b", "other"]


def test_a_short_feed_keeps_its_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "SLICE_SECONDS", 3600.0)
    order: list[str] = []

    async def scenario() -> None:
        async def other() -> None:
            order.append("other")

        task = asyncio.create_task(other())
        async for item in supervisor._paced(["a", "b", "c"]):
            order.append(item)
        await task

    asyncio.run(scenario())
    assert order == ["a", "b", "c", "other"]
