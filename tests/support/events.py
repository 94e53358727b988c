"""Waiting on the daemon's event stream: subscribe, act, then wait for the specific event.

`EventWatch` wraps the client's `EventFeed` (`GET /v1/events?follow=1`). Open it before
the action, so the event the action causes cannot be missed; `wait_for` then reads the
stream until an event matches, with a generous deadline. On failure it says what it
waited for and lists the events it saw, which is usually the whole diagnosis.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

from corral._control.client import Client, EventFeed
from tests.support.waiting import DEADLINE

Event = dict[str, Any]


class EventWatch:
    """The events a daemon emitted since the subscription; use as a context manager."""

    def __init__(self, socket_path: str, since: int | None = None) -> None:
        self._client = Client(socket_path, timeout=DEADLINE)
        try:
            self._feed: EventFeed = self._client.follow_events(since)
        except BaseException:
            self._client.close()
            raise
        self.seen: list[Event] = []
        """Every event and notice read so far, oldest first."""

    def __repr__(self) -> str:
        return f"<EventWatch seen={len(self.seen)} {self._feed!r}>"

    def __enter__(self) -> EventWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Hang up the stream."""
        self._feed.close()
        self._client.close()

    def wait_for(
        self,
        match: Callable[[Event], bool],
        *,
        what: str,
        timeout: float = DEADLINE,
        start: int = 0,
    ) -> Event:
        """The first event seen since the subscription for which `match` holds.

        Events already read count (several waits may follow one action, in any order),
        from index `start` of `seen` on. AssertionError after `timeout` seconds, naming
        `what` and the events seen.
        """
        for event in self.seen[start:]:
            if match(event):
                return event
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = cast(Event, self._feed.next(max(deadline - time.monotonic(), 0.0)))
            except (TimeoutError, StopIteration):
                raise AssertionError(self._failure(what, timeout)) from None
            self.seen.append(event)
            if match(event):
                return event

    def wait_state(
        self, name: str, *states: str, timeout: float = DEADLINE, start: int = 0
    ) -> Event:
        """The first state event of `name` entering one of `states` (from `seen[start]` on)."""

        def entered(event: Event) -> bool:
            return (
                event["kind"] == "state"
                and event["subject"] == name
                and event["data"]["new"] in states
            )

        what = f"{name} entering {' or '.join(states)}"
        return self.wait_for(entered, what=what, timeout=timeout, start=start)

    def states(self, name: str) -> list[str]:
        """The states `name` entered, in order, among the events seen."""
        return [
            e["data"]["new"] for e in self.seen if e["kind"] == "state" and e["subject"] == name
        ]

    def _failure(self, what: str, timeout: float) -> str:
        shown = "\n  ".join(_describe(e) for e in self.seen[-40:]) or "(none)"
        more = f" (the last 40 of {len(self.seen)})" if len(self.seen) > 40 else ""
        return f"waited {timeout:g} s for {what}; the events seen{more}:\n  {shown}"


def _describe(event: Event) -> str:
    data = " ".join(f"{key}={value!r}" for key, value in event["data"].items())
    seq = "--" if event["seq"] is None else f"#{event['seq']}"
    return f"{seq} {event['kind']} {event['subject']} {data}".replace("  ", " ")
