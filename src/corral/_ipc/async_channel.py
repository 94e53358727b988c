"""`AsyncChannel`: the same message API as `Channel`, awaited on the running loop.

It takes over a `Channel`'s fds (`AsyncChannel(channel)`, or the `*_async`
constructors of `corral.ipc`): frames are read by the loop's reader callback
(`_ipc.loop_reader`) into a queue and written by `_ipc.loop_writer`, so no
thread waits on the fd. `send` returns when its frame is written (backpressure
from a slow reader), `recv` when a frame is whole; both take `timeout`.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from corral._errors import ChannelClosed, ChannelError, ChannelTimeout
from corral._ipc.channel import DEFAULT, Channel, Peer, _Default, peer_of
from corral._ipc.codecs import Codec
from corral._ipc.loop_reader import AsyncFrameReader
from corral._ipc.loop_writer import LoopFrameWriter


class AsyncChannel:
    """Framed, encoded messages on the running loop; an async context manager."""

    def __init__(self, channel: Channel) -> None:
        self.codec: Codec = channel.codec
        """How `send`/`recv` turn messages into frames."""
        self.what = channel.what
        """The transport and address, for messages."""
        self.timeout = channel.timeout
        """Seconds a call waits when given no timeout (None: no limit)."""
        transport = channel.detach()
        self._transport = transport
        self._frames: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._end: BaseException | None = None
        self._ended = False
        self._closed = False
        self._reader = (
            None
            if transport.read_fd is None
            else AsyncFrameReader(
                transport.read_fd,
                self._on_frame,
                self._on_end,
                channel.max_frame,
                sock=transport.sock,
                record=transport.record,
                fds=transport.fds,
            )
        )
        self._writer = (
            None
            if transport.write_fd is None
            else LoopFrameWriter(
                transport.write_fd, channel.max_frame, sock=transport.sock, record=transport.record
            )
        )

    def _on_frame(self, frame: bytes) -> None:
        self._frames.append(frame)
        self._wake()

    def _on_end(self, error: BaseException | None) -> None:
        self._ended = True
        self._end = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _seconds(self, timeout: float | _Default | None) -> float | None:
        return self.timeout if isinstance(timeout, _Default) else timeout

    async def send(self, message: Any, timeout: float | _Default | None = DEFAULT) -> None:
        """Encode `message` and send it; returns when it is written."""
        await self.send_bytes(self.codec.encode(message), timeout)

    async def recv(self, timeout: float | _Default | None = DEFAULT) -> Any:
        """The next message, decoded; ChannelClosed when the peer has closed."""
        return self.codec.decode(await self.recv_bytes(timeout))

    async def send_bytes(
        self, payload: bytes, timeout: float | _Default | None = DEFAULT, fds: Sequence[int] = ()
    ) -> None:
        """Send `payload` as one frame (no codec); returns when it is written."""
        if self._closed:
            raise ChannelClosed(self.what, "send on a channel we closed")
        if self._writer is None:
            raise ChannelError(f"{self.what}: this end only receives")
        self._writer.send(payload, fds)
        if self._writer.pending:
            seconds = self._seconds(timeout)
            try:
                async with asyncio.timeout(seconds):
                    await self._writer.drained()
            except TimeoutError:
                raise ChannelTimeout(self.what, "send", seconds or 0.0) from None
        if self._writer.broken:
            raise ChannelClosed(self.what, "the peer is gone (broken pipe)")

    async def recv_bytes(self, timeout: float | _Default | None = DEFAULT) -> bytes:
        """The next frame's bytes (no codec)."""
        if self._closed:
            raise ChannelClosed(self.what, "recv on a channel we closed")
        if self._reader is None:
            raise ChannelError(f"{self.what}: this end only sends")
        if not self._frames and not self._ended:
            seconds = self._seconds(timeout)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(seconds):
                    await self._waiter
            except TimeoutError:
                raise ChannelTimeout(self.what, "recv", seconds or 0.0) from None
            finally:
                self._waiter = None
        if self._frames:
            return self._frames.popleft()
        if self._end is not None:
            raise (
                self._end
                if not isinstance(self._end, ConnectionResetError)
                else ChannelClosed(self.what, "the peer reset the connection")
            )
        raise ChannelClosed(self.what, "the peer closed its end (EOF between frames)")

    @property
    def peer(self) -> Peer:
        """The peer's pid/uid/gid (unix sockets only)."""
        sock = self._transport.sock
        if sock is None or self._transport.fds is None:
            raise ChannelError(f"{self.what}: only a unix socket knows its peer")
        return peer_of(sock)

    async def send_fds(
        self, fds: Sequence[int], message: Any = None, timeout: float | _Default | None = DEFAULT
    ) -> None:
        """Send `fds` with `message` (unix sockets only)."""
        if self._transport.fds is None:
            raise ChannelError(f"{self.what}: fds pass only over a unix socket")
        await self.send_bytes(self.codec.encode(message), timeout, fds)

    async def recv_fds(self, timeout: float | _Default | None = DEFAULT) -> tuple[Any, list[int]]:
        """The next message and the fds that came with it (ours to close)."""
        received = self._transport.fds
        if received is None:
            raise ChannelError(f"{self.what}: fds pass only over a unix socket")
        message = await self.recv(timeout)
        fds, received[:] = list(received), []
        return message, fds

    @property
    def closed(self) -> bool:
        """`close` was called."""
        return self._closed

    def close(self) -> None:
        """Stop reading and writing and close the fds (unwritten frames are dropped)."""
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.close()
        if self._writer is not None:
            self._writer.close()
        self._wake()
        transport = self._transport
        for fd in transport.fds or ():
            os.close(fd)
        if transport.sock is not None:
            transport.sock.close()
            return
        for end in {transport.read_fd, transport.write_fd}:
            if end is not None:
                os.close(end)

    async def __aenter__(self) -> AsyncChannel:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AsyncChannel {self.what} {'closed' if self._closed else self.codec.name}>"
