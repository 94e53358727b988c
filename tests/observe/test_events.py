"""EventLog: numbering, the bounded ring, since(), and subscribers that cannot break emit."""

from __future__ import annotations

import dataclasses
import json

import pytest

from corral._errors import InvalidSpec
from corral._observe.events import Event, EventLog

from .support import FakeClock


def test_events_are_numbered_from_one_in_order_and_stamped_by_the_clock() -> None:
    clock = FakeClock(1000.0)
    log = EventLog(clock=clock)
    assert log.last_seq == 0
    first = log.emit("state", "web:0", old="STARTING", new="RUNNING")
    clock.advance(2.5)
    second = log.emit("daemon", "", what="reload")
    assert (first.seq, first.time, first.kind, first.subject) == (1, 1000.0, "state", "web:0")
    assert dict(first.data) == {"old": "STARTING", "new": "RUNNING"}
    assert (second.seq, second.time, second.subject) == (2, 1002.5, "")
    assert log.last_seq == 2


def test_an_event_cannot_be_changed() -> None:
    event = EventLog().emit("state", "web:0", new="RUNNING")
    with pytest.raises(AttributeError):
        event.kind = "other"  # type: ignore[misc]


def test_an_event_turns_into_json_through_asdict() -> None:
    event = EventLog(clock=FakeClock(5.0)).emit("log.dropped", "web:0", nbytes=12, why=["full"])
    assert json.loads(json.dumps(dataclasses.asdict(event))) == {
        "seq": 1,
        "time": 5.0,
        "kind": "log.dropped",
        "subject": "web:0",
        "data": {"nbytes": 12, "why": ["full"]},
    }


def test_since_returns_later_events_oldest_first() -> None:
    log = EventLog()
    for index in range(5):
        log.emit("tick", "", index=index)
    assert [event.seq for event in log.since(0)] == [1, 2, 3, 4, 5]
    assert [event.seq for event in log.since(3)] == [4, 5]
    assert log.since(5) == []
    assert log.since(99) == []
    assert [event.seq for event in log.since(-7)] == [1, 2, 3, 4, 5]


def test_since_a_number_past_any_index_is_empty_not_an_error() -> None:
    log = EventLog()
    log.emit("tick", "")
    assert log.since(10**21) == []  # found by the API fuzzer: was a ValueError from islice
    assert log.since(-(10**21)) == [log.since(0)[0]]


def test_the_ring_keeps_only_the_newest_capacity_events_and_numbering_goes_on() -> None:
    log = EventLog(capacity=3)
    for _ in range(5):
        log.emit("tick", "")
    assert [event.seq for event in log.since(0)] == [3, 4, 5]
    assert [event.seq for event in log.since(1)] == [3, 4, 5]
    assert [event.seq for event in log.since(4)] == [5]
    assert log.last_seq == 5
    assert log.capacity == 3


def test_since_gives_back_each_event_as_emitted_after_the_ring_wrapped() -> None:
    clock = FakeClock(10.0)
    log = EventLog(capacity=3, clock=clock)
    emitted = []
    for index in range(5):
        clock.advance(1.0)
        reason = f"stop requested; SIGKILL in {index % 2} s"  # equal texts, distinct objects
        emitted.append(log.emit("state", f"web:{index}", new="STOPPING", pid=None, reason=reason))
    emitted.append(log.emit("daemon", "", message="listening", pid=7, tags=["a"]))
    assert log.since(0) == emitted[3:]
    assert log.since(0)[-1].data == {"message": "listening", "pid": 7, "tags": ["a"]}


def test_since_on_an_empty_log_is_empty() -> None:
    assert EventLog().since(0) == []


def test_capacity_below_one_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="capacity"):
        EventLog(capacity=0)


def test_subscribers_get_each_event_synchronously_in_subscription_order() -> None:
    log = EventLog()
    seen: list[tuple[str, int]] = []
    log.subscribe(lambda event: seen.append(("a", event.seq)))
    log.subscribe(lambda event: seen.append(("b", event.seq)))
    log.emit("tick", "")
    assert seen == [("a", 1), ("b", 1)]  # before emit returned


def test_unsubscribe_stops_delivery_and_is_harmless_twice() -> None:
    log = EventLog()
    seen: list[int] = []
    unsubscribe = log.subscribe(lambda event: seen.append(event.seq))
    log.emit("tick", "")
    unsubscribe()
    unsubscribe()
    log.emit("tick", "")
    assert seen == [1]
    assert log.subscriber_count == 0


def test_a_subscriber_removed_during_emit_gets_nothing_more() -> None:
    log = EventLog()
    seen: list[str] = []
    unsubscribe_b: list[object] = []

    def a(event: Event) -> None:
        seen.append("a")
        remove = unsubscribe_b[0]
        assert callable(remove)
        remove()

    log.subscribe(a)
    unsubscribe_b.append(log.subscribe(lambda event: seen.append("b")))
    log.emit("tick", "")
    assert seen == ["a"]


def test_a_raising_subscriber_is_isolated_and_counted() -> None:
    log = EventLog()
    seen: list[int] = []
    failure = RuntimeError("subscriber bug")

    def broken(event: Event) -> None:
        raise failure

    log.subscribe(broken)
    log.subscribe(lambda event: seen.append(event.seq))
    event = log.emit("tick", "")
    log.emit("tick", "")
    assert event.seq == 1
    assert seen == [1, 2]
    assert log.subscriber_errors == 2
    assert log.last_subscriber_error is failure


def test_reprs_show_state() -> None:
    log = EventLog(capacity=4)
    event = log.emit("state", "web:0", new="RUNNING")
    log.subscribe(lambda event: None)
    assert repr(event) == "<Event #1 state web:0 new='RUNNING'>"
    assert repr(log.emit("daemon", "")) == "<Event #2 daemon>"
    assert repr(log) == "<EventLog last_seq=2 kept=2/4 subscribers=1>"
