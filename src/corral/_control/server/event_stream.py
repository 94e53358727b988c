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

An idle stream carries a comment every `heartbeat` seconds, so a peer that vanished
without closing is noticed by the failed write. When the server closes (shutdown) it
calls `finish`: the stream sends what is queued, the daemon's last events, and ends.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from corral._control.server.http import MAX_DIGITS, HttpError, Request, StreamingResponse
from corral._control.sse import comment, message
from corral._control.wire import EventJSON
from corral._errors import InvalidSpec
from corral._observe.event_queue import EventQueue
from corral._observe.events import Event, EventLog

CONTENT_TYPE = "text/event-stream"


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


def open_stream(log: EventLog, request: Request, settings: StreamSettings) -> StreamingResponse:
    """The streaming reply; the reader is subscribed before this returns, so before it acts.

    A reply that is never sent (the client left first) is never closed either; its queue
    then frees itself at its bound, like any reader that stopped reading.
    """
    stream = _EventStream(log, resume_point(request, log.last_seq), settings)
    headers = (("cache-control", "no-store"),)
    return StreamingResponse(
        200, CONTENT_TYPE, stream.body(), headers, cutoff=stream.cutoff, finish=stream.finish
    )


def event_json(event: Event) -> EventJSON:
    """The wire shape of one event."""
    data = dict(event.data)
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


class _EventStream:
    """One reader: its queue of new events, where its replay starts, and its cut-off."""

    def __init__(self, log: EventLog, since: int, settings: StreamSettings) -> None:
        self._log = log
        self._settings = settings
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self.cutoff: asyncio.Future[None] = self._loop.create_future()
        self._queue = EventQueue(_encode, settings.queue_bytes, self._wake)
        self._upto = self._queue.subscribe(log)  # replay up to here; the queue has the rest
        self._since = since
        self._finishing = False

    def finish(self) -> None:
        """The daemon is shutting down: send what is queued, then end the stream."""
        self._finishing = True
        self._ready.set()

    async def body(self) -> AsyncIterator[bytes]:
        try:
            yield comment(f"corral events after #{self._since}; newest #{self._upto}")
            for chunk in self._replay():
                yield chunk
            while (cutoff := self._queue.cutoff) is None:
                if data := self._queue.take():
                    yield data
                    continue
                if self._finishing:
                    return  # the reply ends: the client's feed is over, not broken
                self._ready.clear()
                try:
                    async with asyncio.timeout(self._settings.heartbeat):
                        await self._ready.wait()
                except TimeoutError:
                    yield comment("heartbeat")
            reason = (
                f"this reader did not keep up: more than {cutoff.max_bytes} bytes of events"
                f" waited for it; reconnect with Last-Event-ID: {cutoff.first - 1}"
            )
            bound = cutoff.max_bytes
            yield _notice(
                "overflow", first=cutoff.first, last=cutoff.last, max_bytes=bound, reason=reason
            )
        finally:
            self._queue.close()

    def _replay(self) -> Iterator[bytes]:
        """What the ring holds after `since`, up to the subscription; a gap for what it lost."""
        seen = self._since
        if seen > self._upto:
            reason = f"Last-Event-ID {seen} is ahead of this daemon's newest event {self._upto}"
            yield _notice("reset", last_event_id=seen, last_seq=self._upto, reason=reason)
            seen = 0
        while seen < self._upto:
            first = self._log.first_seq
            if first > seen + 1:
                lost = min(first - 1, self._upto)
                capacity = self._log.capacity
                reason = f"the event ring (the last {capacity} events) no longer holds them"
                yield _notice("gap", id=lost, first=seen + 1, last=lost, reason=reason)
                seen = lost
                continue
            page = [e for e in self._log.since(seen, self._settings.page) if e.seq <= self._upto]
            yield b"".join(_encode(event) for event in page)
            seen = page[-1].seq

    def _wake(self) -> None:
        self._ready.set()
        if self._queue.cutoff is not None and self._timer is None:
            self._timer = self._loop.call_later(self._settings.grace, self._cut)

    def _cut(self) -> None:
        if not self.cutoff.done():
            self.cutoff.set_result(None)


def _encode(event: Event) -> bytes:
    data = json.dumps(event_json(event), ensure_ascii=False, default=str)
    return message(data, event=event.kind, id=event.seq)


def _notice(kind: str, *, id: int | None = None, **data: object) -> bytes:
    notice = EventJSON(seq=None, time=time.time(), kind=kind, subject="", data=dict(data))
    return message(json.dumps(notice, ensure_ascii=False), event=kind, id=id)
