"""Turns: lifecycle operations share the instances; a reload has them to itself.

A start, stop or restart holds a shared turn from resolving its targets to its
answer, so it acts only on instances that stay configured while it runs; a reload
holds the exclusive turn while it swaps instances, so nothing spawns into an
instance it is about to drop. A waiting reload goes before operations that arrive
after it (they then act on the new config), so a stream of starts cannot starve it.
No locks or tasks per instance: one counter, one flag and the futures of whoever
waits, on the one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

__all__ = ["Turns"]


class Turns:
    """A shared/exclusive turn on the instances, for coroutines of one event loop."""

    __slots__ = ("_exclusive", "_queued", "_sharing", "_waiters")

    def __init__(self) -> None:
        self._sharing = 0
        self._exclusive = False
        self._queued = 0
        """Exclusive turns waiting: shared turns asked for now wait behind them."""
        self._waiters: list[asyncio.Future[None]] = []

    def __repr__(self) -> str:
        return f"<Turns sharing={self._sharing} exclusive={self._exclusive} queued={self._queued}>"

    @property
    def exclusive_held(self) -> bool:
        """Whether a reload has the instances now."""
        return self._exclusive

    @asynccontextmanager
    async def shared(self, on_wait: Callable[[], None]) -> AsyncIterator[None]:
        """Hold a shared turn; `on_wait()` is called first if it has to wait."""
        if self._exclusive or self._queued:
            on_wait()
            await self._until(lambda: not (self._exclusive or self._queued))
        self._sharing += 1
        try:
            yield
        finally:
            self._sharing -= 1
            self._wake()

    @asynccontextmanager
    async def exclusive(self, on_wait: Callable[[], None]) -> AsyncIterator[None]:
        """Hold the exclusive turn; `on_wait()` is called first if it has to wait."""
        self._queued += 1
        try:
            if self._exclusive or self._sharing:
                on_wait()
                await self._until(lambda: not (self._exclusive or self._sharing))
        finally:
            self._queued -= 1
            self._wake()  # if it was cancelled, shared turns behind it may go
        self._exclusive = True
        try:
            yield
        finally:
            self._exclusive = False
            self._wake()

    async def until_no_exclusive(self) -> None:
        """Wait until no exclusive turn is held (queued ones do not count)."""
        await self._until(lambda: not self._exclusive)

    async def _until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def _wake(self) -> None:
        """Let every waiter check again whether its turn has come."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
