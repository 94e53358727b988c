"""One reader of the event stream: its queue bounded in bytes, its replay, notices, cut-off.

The protocol (ids, replay, the `gap`, `overflow` and `reset` notices, heartbeats) is
described in event_stream.py, which opens a `Subscriber` for each `follow=1` request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING

from corral._control.server.event_stream import StreamSettings, WatchMetrics, event_json
from corral._control.sse import comment, message
from corral._control.wire import SAMPLE_COLUMNS, EventJSON, HostJSON, SampleEventJSON
from corral._observe.event_queue import EventQueue
from corral._observe.events import Event, EventLog

if TYPE_CHECKING:
    from corral._supervisor.runtime.metrics import Tick

__all__ = ["Subscriber"]


class Subscriber:
    """One reader: its queue of new events, where its replay starts, and its cut-off."""

    def __init__(
        self,
        log: EventLog,
        since: int,
        settings: StreamSettings,
        metrics: WatchMetrics | None = None,
    ) -> None:
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
        self._sample: bytes | None = None
        """The newest tick's message not yet sent; a newer one replaces it."""
        self._metrics = metrics
        self._unwatch: Callable[[], None] | None = None

    def finish(self) -> None:
        """The daemon is shutting down: send what is queued, then end the stream."""
        self._finishing = True
        self._ready.set()

    async def body(self) -> AsyncIterator[bytes]:
        # Samples are watched from the first byte sent, not from the subscription: a
        # reply that is never sent then holds no watcher (its events queue is bounded).
        if self._metrics is not None:
            self._unwatch = self._metrics(self._sampled)
        try:
            yield comment(f"corral events after #{self._since}; newest #{self._upto}")
            for chunk in self._replay():
                yield chunk
            while (cutoff := self._queue.cutoff) is None:
                if data := self._queue.take():
                    yield data
                    continue
                if self._sample is not None:
                    data, self._sample = self._sample, None
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
            if self._unwatch is not None:
                self._unwatch()

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

    def _sampled(self, tick: Tick) -> None:
        self._sample = _sample_message(tick)
        self._ready.set()

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


_last_sample: list[tuple[float, bytes]] = []
"""The newest tick's message, by the tick's time: encoded once for every reader."""


def _sample_message(tick: Tick) -> bytes:
    if _last_sample and _last_sample[0][0] == tick.time:
        return _last_sample[0][1]
    host = tick.host
    daemon = tick.daemon
    data = SampleEventJSON(
        interval=tick.interval,
        host=None
        if host is None
        else HostJSON(
            cpu_percent=host.cpu_percent,
            memory_used=host.memory_used,
            memory_total=host.memory_total,
            load=list(host.load),
        ),
        daemon_cpu_percent=None if daemon is None else daemon.cpu_percent,
        daemon_memory_rss=None if daemon is None else daemon.rss_bytes,
        columns=SAMPLE_COLUMNS,
        instances={
            name: [s.cpu_percent, s.rss_bytes, s.processes, s.fds]
            for name, s in tick.samples.items()
        },
    )
    notice = EventJSON(seq=None, time=tick.time, kind="metrics", subject="", data=dict(data))
    encoded = message(json.dumps(notice, separators=(",", ":")), event="metrics")
    _last_sample[:] = [(tick.time, encoded)]
    return encoded
