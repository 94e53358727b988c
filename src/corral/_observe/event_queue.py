"""A subscriber of an `EventLog` for one slow reader: its events held encoded, bounded in bytes.

A stream client (`GET /v1/events?follow=1`) reads at its own pace while the log emits at
the daemon's. `EventQueue` keeps what the client has not taken yet, already encoded, and
counts the bytes. An event that would take the queue past `max_bytes` cuts the reader
off: the queue unsubscribes, drops what it held (the memory is given back at once) and
remembers which events the reader lost (`Cutoff`), so the stream can say so and end.
The reader resumes from the ring with the last sequence number it saw.

Not thread-safe, like the log: subscribed, fed and drained on the daemon's event loop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from corral._errors import InvalidSpec
from corral._observe.events import Event, EventLog

__all__ = ["Cutoff", "EventQueue"]


@dataclass(frozen=True, slots=True)
class Cutoff:
    """Why and where a reader was cut off: the events from `first` on were not delivered."""

    first: int
    """The oldest event the reader did not get; it resumes after `first - 1`."""
    last: int
    """The newest event at the cut-off (later events were not queued either)."""
    max_bytes: int
    """The bound that was reached."""


class EventQueue:
    """Events emitted since `subscribe`, encoded by `encode`, at most `max_bytes` of them.

    `wake` is called (synchronously, from `emit`) after each event is queued and once at
    the cut-off, so the reader's task can be woken without polling.
    """

    def __init__(
        self, encode: Callable[[Event], bytes], max_bytes: int, wake: Callable[[], None]
    ) -> None:
        if max_bytes < 1:
            raise InvalidSpec(f"an event queue needs max_bytes >= 1, got {max_bytes}")
        self.max_bytes = max_bytes
        self._encode = encode
        self._wake = wake
        self._items: deque[tuple[int, bytes]] = deque()
        self._bytes = 0
        self._unsubscribe: Callable[[], None] | None = None
        self.cutoff: Cutoff | None = None
        """Set once the bound was reached; the queue is then empty and unsubscribed."""

    def __repr__(self) -> str:
        state = "cut off" if self.cutoff else "subscribed" if self._unsubscribe else "closed"
        return f"<EventQueue {len(self._items)} events {self._bytes}/{self.max_bytes} B {state}>"

    @property
    def queued_bytes(self) -> int:
        """The encoded bytes held now."""
        return self._bytes

    def subscribe(self, log: EventLog) -> int:
        """Start queueing `log`'s events; returns its `last_seq`, the newest one not queued."""
        if self._unsubscribe is not None or self.cutoff is not None:
            raise InvalidSpec("an event queue subscribes once")
        self._unsubscribe = log.subscribe(self._push)
        return log.last_seq

    def take(self) -> bytes:
        """Everything queued, oldest first, joined; the queue is empty afterwards."""
        data = b"".join(encoded for _, encoded in self._items)
        self._items.clear()
        self._bytes = 0
        return data

    def close(self) -> None:
        """Unsubscribe and drop what is held; harmless twice."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._items.clear()
        self._bytes = 0

    def _push(self, event: Event) -> None:
        encoded = self._encode(event)
        if self._bytes + len(encoded) > self.max_bytes:
            first = self._items[0][0] if self._items else event.seq
            self.close()
            self.cutoff = Cutoff(first=first, last=event.seq, max_bytes=self.max_bytes)
        else:
            self._items.append((event.seq, encoded))
            self._bytes += len(encoded)
        self._wake()
