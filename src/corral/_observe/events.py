"""Events: what happened, in order, kept in a bounded ring and pushed to subscribers.

Every observable change in the daemon (a state transition, dropped log bytes, a
reload) is one `Event`. `EventLog` numbers them with a gap-free sequence, keeps the
most recent `capacity` of them, and calls subscribers synchronously, so a client
that subscribes before it acts cannot miss the event its action causes. A client
that fell behind resumes with `since(last_seen_seq)`.

Not thread-safe: the daemon emits and subscribes from its one event loop.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from corral._errors import InvalidSpec

__all__ = ["Event", "EventLog"]


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, numbered in emission order."""

    seq: int
    """Position in the log: 1 for the first event, then +1 for each; never reused."""
    time: float
    """Wall-clock time of emission (seconds since the epoch), for display only."""
    kind: str
    """What happened, dotted lower case: "state", "log.dropped", "daemon", ..."""
    subject: str
    """What it happened to, such as "web:0"; "" for the daemon as a whole."""
    data: Mapping[str, object]
    """Details, JSON-able (str, int, float, bool, None, lists and dicts of them).

    Typed read-only; a plain dict owned by the event underneath, so that
    `dataclasses.asdict(event)` and `json.dumps` work on it as is.
    """

    def __repr__(self) -> str:
        details = " ".join(f"{key}={value!r}" for key, value in self.data.items())
        subject = f" {self.subject}" if self.subject else ""
        return f"<Event #{self.seq} {self.kind}{subject}{' ' if details else ''}{details}>"


Subscriber = Callable[[Event], None]

_Record = tuple[object, ...]
"""An event as the ring keeps it: (time, kind, subject, keys, *values).

The ring holds thousands of events, so it keeps them flat: one tuple each instead
of an `Event` and its dict (about 0.2 KiB less per event), keys shared among the
events of one shape, text values shared among events that repeat them ("stop
requested; ..." once per stop of every instance), and the sequence number implied
by the position (the ring is gap-free). `since` builds the `Event`s again.
"""

_SHAPES_KEPT = 64
"""Distinct key tuples shared among records; events have a handful of shapes."""

_TEXTS_KEPT = 256
"""Recent distinct text values remembered for sharing; forgotten all at once when full."""


class EventLog:
    """A numbered ring of the last `capacity` events, with synchronous subscribers.

    A subscriber that raises is isolated: the error is counted in `subscriber_errors`
    (and the last one kept in `last_subscriber_error`), the other subscribers still
    run, and `emit` returns normally.
    """

    def __init__(self, capacity: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        if capacity < 1:
            raise InvalidSpec(f"event log capacity must be >= 1, got {capacity}")
        self._ring: deque[_Record] = deque(maxlen=capacity)
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._texts: dict[str, str] = {}
        self._clock = clock
        self._last_seq = 0
        self._subscribers: dict[int, Subscriber] = {}
        self._tokens = itertools.count()
        self.subscriber_errors = 0
        """How many times a subscriber raised since the log was made."""
        self.last_subscriber_error: BaseException | None = None
        """The most recent exception a subscriber raised, for diagnostics."""

    @property
    def capacity(self) -> int:
        """How many events the ring keeps."""
        return self._ring.maxlen or 0

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest event; 0 before the first."""
        return self._last_seq

    def emit(self, kind: str, subject: str, **data: object) -> Event:
        """Record an event, hand it to every subscriber, and return it."""
        self._last_seq += 1
        event = Event(self._last_seq, self._clock(), kind, subject, data)
        values = [self._text(v) if type(v) is str else v for v in data.values()]
        self._ring.append((event.time, kind, subject, self._shape(data), *values))
        for token, callback in list(self._subscribers.items()):
            if token in self._subscribers:
                self._deliver(callback, event)
        return event

    @property
    def first_seq(self) -> int:
        """The sequence number of the oldest event the ring still holds; last_seq + 1 if none."""
        return self._last_seq - len(self._ring) + 1

    def since(self, seq: int, limit: int | None = None) -> list[Event]:
        """Events newer than `seq`, oldest first (at most `limit`); those pushed out are gone."""
        first = self.first_seq
        start = min(max(seq - first + 1, 0), len(self._ring))  # islice refuses > maxsize
        stop = None if limit is None else start + limit
        records = itertools.islice(self._ring, start, stop)
        return [_event(number, record) for number, record in enumerate(records, first + start)]

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` for every later event; returns a function that unsubscribes.

        Unsubscribing twice is harmless. A callback may unsubscribe itself (or
        another) while it runs; a removed callback receives no further events.
        """
        token = next(self._tokens)
        self._subscribers[token] = callback

        def unsubscribe() -> None:
            self._subscribers.pop(token, None)

        return unsubscribe

    @property
    def subscriber_count(self) -> int:
        """How many callbacks are subscribed."""
        return len(self._subscribers)

    def _shape(self, data: Mapping[str, object]) -> tuple[str, ...]:
        """The keys of `data`, as a tuple shared with earlier events of the same keys."""
        keys = tuple(data)
        shared = self._shapes.get(keys)
        if shared is not None:
            return shared
        if len(self._shapes) < _SHAPES_KEPT:
            self._shapes[keys] = keys
        return keys

    def _text(self, value: str) -> str:
        """`value`, or an equal string an earlier event kept (so the ring holds it once)."""
        kept = self._texts.get(value)
        if kept is not None:
            return kept
        if len(self._texts) >= _TEXTS_KEPT:
            self._texts.clear()
        self._texts[value] = value
        return value

    def _deliver(self, callback: Subscriber, event: Event) -> None:
        try:
            callback(event)
        except Exception as exc:  # a broken subscriber must not break the daemon
            self.subscriber_errors += 1
            self.last_subscriber_error = exc

    def __repr__(self) -> str:
        return (
            f"<EventLog last_seq={self._last_seq} kept={len(self._ring)}/{self.capacity}"
            f" subscribers={len(self._subscribers)}>"
        )


def _event(seq: int, record: _Record) -> Event:
    """The `Event` numbered `seq` from its record in the ring."""
    keys = cast("tuple[str, ...]", record[3])
    data = dict(zip(keys, record[4:], strict=True))
    return Event(seq, cast(float, record[0]), cast(str, record[1]), cast(str, record[2]), data)
