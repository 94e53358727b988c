"""`GET /v1/events?follow=1`: the event log as Server-Sent Events, resumable and bounded.

Each event is one SSE message: `id:` its seq, `event:` its kind, `data:` its JSON
(`wire.EventJSON`). The reader says where it was with the `Last-Event-ID` header (what a
reconnecting EventSource sends) or `since=` (the same, for clients that cannot set
headers); without either it gets only events emitted after it connected. The stream
first replays what the ring still holds after that point, then pushes new events as they
are emitted. Three notices (messages whose JSON has `seq: null`) report missed events:

- `gap`: the ring no longer holds events the reader asked for (it fell too far behind);
  its `id:` is the last missed seq, so a reconnect resumes after the gap.
- `overflow`: the reader did not keep up and more than `queue_bytes` of events waited for
  it; they are dropped, the notice is the last message, and the connection ends (it is
  aborted if the reader takes nothing within `grace` seconds). It carries no `id:`: a
  reconnect with the last id seen gets the missed events from the ring, or a `gap`.
- `reset`: the reader's id is ahead of this daemon's newest event (the daemon restarted
  and numbers from 1 again); the stream starts from the oldest event it holds.

With `metrics=1` the stream also carries a `metrics` message after each sampler tick
(`wire.SampleEventJSON`): the live instances' samples and the host's figures. It is
not an event of the log (`seq: null`, no `id:`, not in the ring: a thousand instances
each tick would push every other event out), and a reader that is behind gets only
the newest one, so it never fills the reader's queue. The sampler reads the host only
while such a reader is connected.

An idle stream carries a comment every `heartbeat` seconds, so a peer that vanished
without closing is noticed by the failed write. When the server closes (shutdown) it
calls `finish`: the stream sends what is queued, the daemon's last events, and ends.

Each reader is a `Subscriber` (event_subscriber.py). That module, the SSE framing and
the byte-bounded queue are imported by the first stream opened: a daemon that nobody
follows does not hold them (tests/control/test_daemon_imports.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from corral._control.server.http import MAX_DIGITS, HttpError, Request, StreamingResponse
from corral._control.wire import EventJSON
from corral._errors import InvalidSpec
from corral._observe.events import Event, EventLog

if TYPE_CHECKING:
    from corral._supervisor.runtime.metrics import Watcher

CONTENT_TYPE = "text/event-stream"

WatchMetrics = Callable[["Watcher"], Callable[[], None]]
"""Subscribes a watcher to the sampler's ticks (`Operations.watch_metrics`)."""


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Bounds of every event stream; the daemon's defaults suit any client."""

    queue_bytes: int = 1 << 20
    """Encoded events that may wait for one reader before it is cut off (1 MiB)."""
    heartbeat: float = 15.0
    """Seconds of silence after which a comment is sent."""
    grace: float = 5.0
    """Seconds a cut-off reader has to take its `overflow` notice before the abort."""
    page: int = 256
    """Events of the ring replayed per chunk."""

    def __post_init__(self) -> None:
        if self.queue_bytes < 1 or self.page < 1:
            raise InvalidSpec("event stream queue_bytes and page must be >= 1")
        if self.heartbeat <= 0 or self.grace < 0:
            raise InvalidSpec("event stream heartbeat must be > 0 and grace >= 0")


STREAM_DEFAULTS = StreamSettings()


def open_stream(
    log: EventLog,
    request: Request,
    settings: StreamSettings,
    metrics: WatchMetrics | None = None,
) -> StreamingResponse:
    """The streaming reply; the reader is subscribed before this returns, so before it acts.

    With `metrics`, the reader also gets the sampler's ticks (the `metrics=1` query).

    A reply that is never sent (the client left first) is never closed either; its queue
    then frees itself at its bound, like any reader that stopped reading.
    """
    from corral._control.server.event_subscriber import Subscriber

    stream = Subscriber(log, resume_point(request, log.last_seq), settings, metrics)
    headers = (("cache-control", "no-store"),)
    return StreamingResponse(
        200, CONTENT_TYPE, stream.body(), headers, cutoff=stream.cutoff, finish=stream.finish
    )


def event_json(event: Event) -> EventJSON:
    """The wire shape of one event; its `data` is the event's own dict, not a copy.

    Only encoders read the shape, at once; a copy per event was a sixth of the peak
    memory of a reply of 450 events.
    """
    data = cast(dict[str, object], event.data)  # a plain dict underneath (Event.data)
    return EventJSON(
        seq=event.seq, time=event.time, kind=event.kind, subject=event.subject, data=data
    )


def resume_point(request: Request, default: int) -> int:
    """The last seq the reader has seen: Last-Event-ID, else since=, else `default`.

    For a poll and a stream alike, so a bad value gets the same 400 from both. A
    `since` beside the header (an EventSource reconnecting to its first URL) is still
    checked: a bad request is refused whichever value would have been used.
    """
    raw = request.query.get("since")
    since = default if raw is None else _seq("since", raw)
    header = request.headers.get("last-event-id")
    return since if header is None else _seq("Last-Event-ID", header.strip())


def _seq(name: str, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_DIGITS:
        raise HttpError(400, f"{name} {raw[:80]!r} must be an event seq (a whole number >= 0)")
    return int(raw)
