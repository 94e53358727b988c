"""A client connection pool for TCP channels: health-checked reuse, reconnect with backoff.

`ConnectionPool.connection()` lends a `Channel` to one server: an idle one if it
passes its health check (the kernel says the peer has not hung up; `health`, when
given, is asked too for a connection idle longer than `check_after`), else a new
one, connected with retries spaced by corral's `Backoff`. A connection whose block
raised a channel or frame error is closed, never lent again. At most `size` are
open; a borrower waits for one (up to its timeout: ChannelTimeout).
"""

from __future__ import annotations

import random
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from corral._errors import ChannelClosed, ChannelTimeout, FrameError, InvalidSpec
from corral._ipc.channel import Channel
from corral._ipc.codecs import Codec
from corral._ipc.framing import MAX_FRAME
from corral._ipc.transports import connect_tcp
from corral._process.retry import Backoff


def peer_hung_up(channel: Channel) -> bool:
    """The idle `channel`'s peer closed or reset it, or sent bytes nobody asked for."""
    poller = select.poll()
    poller.register(channel.fileno(), select.POLLIN)
    # readable while idle: EOF, a reset, or bytes nobody asked for; none leaves it usable
    return bool(poller.poll(0))


class ConnectionPool:
    """Up to `size` TCP channels to `host:port`, lent one borrower at a time."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        size: int = 4,
        codec: Codec | None = None,
        max_frame: int = MAX_FRAME,
        timeout: float | None = 10.0,
        attempts: int = 5,
        backoff: Backoff | None = None,
        health: Callable[[Channel], bool] | None = None,
        check_after: float = 30.0,
    ) -> None:
        if size < 1 or attempts < 1:
            raise InvalidSpec(f"size and attempts must be 1 or more, got {size} and {attempts}")
        self.host = host
        self.port = port
        self.size = size
        self.codec = codec
        self.max_frame = max_frame
        self.timeout = timeout
        """Seconds a borrow, a connect (with its retries) or a call waits (None: no limit)."""
        self.attempts = attempts
        self.backoff = backoff if backoff is not None else Backoff(initial=0.05, max=2.0)
        self.health = health
        """Asked of a connection idle over `check_after` s; False (or an error) drops it."""
        self.check_after = check_after
        self.connects = 0
        """Connections made so far (a reconnect counts)."""
        self.failed_connects = 0
        """Tries to connect that failed so far."""
        self._idle: list[tuple[Channel, float]] = []
        self._open = 0
        self._closed = False
        self._lock = threading.Condition()

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[Channel]:
        """Borrow a healthy channel for the block; it goes back unless the block broke it."""
        channel = self._borrow(self.timeout if timeout is None else timeout)
        try:
            yield channel
        except (ChannelClosed, FrameError, ChannelTimeout, OSError):
            self._discard(channel)
            raise
        except BaseException:
            self._give_back(channel)
            raise
        self._give_back(channel)

    def request(self, message: Any, timeout: float | None = None) -> Any:
        """Send `message` on a borrowed channel and return the reply."""
        with self.connection(timeout) as channel:
            channel.send(message, timeout)
            return channel.recv(timeout)

    def _borrow(self, timeout: float | None) -> Channel:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                if self._closed:
                    raise ChannelClosed(self._what, "the pool is closed")
                while self._idle:
                    channel, since = self._idle.pop()
                    if self._healthy(channel, since):
                        return channel
                    channel.close()
                    self._open -= 1
                if self._open < self.size:
                    self._open += 1
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise ChannelTimeout(self._what, "borrow (all connections lent)", timeout or 0)
                self._lock.wait(left)
        try:
            return self._connect(deadline, timeout)
        except BaseException:
            with self._lock:
                self._open -= 1
                self._lock.notify()
            raise

    def _healthy(self, channel: Channel, since: float) -> bool:
        if peer_hung_up(channel):
            return False
        if self.health is None or time.monotonic() - since < self.check_after:
            return True
        try:
            return bool(self.health(channel))
        except (ChannelClosed, FrameError, ChannelTimeout, OSError):
            return False

    def _connect(self, deadline: float | None, timeout: float | None) -> Channel:
        """A new channel, retried with backoff; the last failure when every try failed."""
        failures = 0
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                channel = connect_tcp(
                    self.host, self.port, self.codec, self.max_frame, timeout=left
                )
            except (ChannelClosed, ChannelTimeout) as exc:
                failures += 1
                self.failed_connects += 1
                delay = self.backoff.delay(failures, random.random())
                late = deadline is not None and time.monotonic() + delay >= deadline
                if failures >= self.attempts or late:
                    raise ChannelClosed(
                        self._what, f"no connection after {failures} tries: {exc}"
                    ) from None
                time.sleep(delay)  # the backoff itself: spacing out tries at a server
                continue
            channel.timeout = self.timeout
            self.connects += 1
            return channel

    def _give_back(self, channel: Channel) -> None:
        with self._lock:
            if self._closed or channel.closed:
                channel.close()
                self._open -= 1
            else:
                self._idle.append((channel, time.monotonic()))
            self._lock.notify()

    def _discard(self, channel: Channel) -> None:
        channel.close()
        with self._lock:
            self._open -= 1
            self._lock.notify()

    @property
    def _what(self) -> str:
        return f"tcp pool {self.host}:{self.port}"

    @property
    def idle(self) -> int:
        """Connections open and not lent."""
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """Close the idle connections; lent ones close when they come back. Idempotent."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._lock.notify_all()
        for channel, _since in idle:
            channel.close()

    def __enter__(self) -> ConnectionPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
