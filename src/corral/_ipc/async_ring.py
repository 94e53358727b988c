"""`AsyncRingEnd`: a shared-memory ring end awaited on the running loop.

The same records and protocol as `_ipc/ring.py`; where a sync end would sleep in
poll on its eventfd, this one awaits the eventfd through the loop (`add_reader`),
re-looking every RECHECK seconds like the sync end. Copying in and out is the sync
end's, so the loop is never blocked for longer than a copy.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from corral._errors import ChannelClosed, ChannelTimeout, FrameTooLarge
from corral._ipc.channel import DEFAULT, _Default
from corral._ipc.ring import _GONE, _LEN, RECHECK, RingEnd, Role, _drain, _pad


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class AsyncRingEnd:
    """A `RingEnd` whose waits are awaited: `send`, `recv`, `send_bytes`, `recv_bytes`."""

    def __init__(self, end: RingEnd) -> None:
        self.end = end
        """The sync end underneath (its fds, codec and timeout)."""

    async def send(self, message: Any, timeout: float | _Default | None = DEFAULT) -> None:
        """Encode `message` and copy it in, awaiting space."""
        await self.send_bytes(self.end.codec.encode(message), timeout)

    async def send_bytes(self, payload: bytes, timeout: float | _Default | None = DEFAULT) -> None:
        """Copy `payload` in as one message, awaiting space up to `timeout`."""
        end = self.end
        end._check("send")
        if len(payload) > end.max_frame:
            raise FrameTooLarge(len(payload), end.max_frame)
        need, tail = _pad(_LEN + len(payload)), end._mine
        if end.capacity - (tail - end._seen) < need:
            await self._wait(lambda head: end.capacity - (tail - head) >= need, timeout, "send")
        end.send_bytes(payload, 0)  # there is room now: this does not wait

    async def recv(self, timeout: float | _Default | None = DEFAULT) -> Any:
        """The next message, decoded."""
        return self.end.codec.decode(await self.recv_bytes(timeout))

    async def recv_bytes(self, timeout: float | _Default | None = DEFAULT) -> bytes:
        """The next message's bytes, awaiting one up to `timeout`."""
        end = self.end
        end._check("recv")
        head = end._mine
        if end._seen == head:
            await self._wait(lambda tail: tail != head, timeout, "recv")
        return end.recv_bytes(0)  # a record is there: this does not wait

    async def _wait(
        self, ok: Callable[[int], bool], given: float | _Default | None, call: Role
    ) -> None:
        end = self.end
        timeout = end.timeout if isinstance(given, _Default) else given
        deadline = None if timeout is None else time.monotonic() + timeout
        _word, _waiting, gone, fd = end._words(call)
        loop = asyncio.get_running_loop()
        try:
            while not end._look(ok, call):
                if end._ctl[gone]:
                    raise ChannelClosed(end.what, _GONE[call])
                left = RECHECK if deadline is None else min(RECHECK, deadline - time.monotonic())
                if left <= 0:
                    raise ChannelTimeout(end.what, call, timeout or 0.0)
                readable: asyncio.Future[None] = loop.create_future()
                loop.add_reader(fd, _resolve, readable)
                try:
                    await asyncio.wait_for(readable, left)
                except TimeoutError:
                    pass
                finally:
                    loop.remove_reader(fd)
                if not end.fenced:
                    _drain(fd)
        finally:
            end._done_waiting(call)

    def close(self) -> None:
        """Close the end (the other end is told)."""
        self.end.close()

    async def __aenter__(self) -> AsyncRingEnd:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
