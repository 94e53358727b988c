"""EventQueue: one slow reader's events, encoded and bounded in bytes, cut off at the bound."""

from __future__ import annotations

import pytest

from corral._errors import InvalidSpec
from corral._observe.event_queue import Cutoff, EventQueue
from corral._observe.events import Event, EventLog


def _encode(event: Event) -> bytes:
    return f"{event.seq}:{event.data['text']};".encode()


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def test_events_after_the_subscription_are_queued_encoded_in_order_and_taken_whole() -> None:
    log = EventLog()
    log.emit("note", "", text="before")
    wakes = Wakes()
    queue = EventQueue(_encode, 100, wakes)
    assert queue.subscribe(log) == 1
    log.emit("note", "", text="a")
    log.emit("note", "", text="bb")
    assert wakes.count == 2
    assert queue.queued_bytes == len(b"2:a;3:bb;")
    assert queue.take() == b"2:a;3:bb;"
    assert queue.take() == b""
    assert queue.queued_bytes == 0
    assert repr(queue) == "<EventQueue 0 events 0/100 B subscribed>"


def test_the_queue_may_fill_to_its_bound_exactly() -> None:
    log = EventLog()
    queue = EventQueue(_encode, len(b"1:aaaa;2:bbbb;"), Wakes())
    queue.subscribe(log)
    log.emit("note", "", text="aaaa")
    log.emit("note", "", text="bbbb")
    assert queue.cutoff is None
    assert queue.take() == b"1:aaaa;2:bbbb;"


def test_an_event_past_the_bound_cuts_the_reader_off_and_frees_what_it_held() -> None:
    log = EventLog()
    wakes = Wakes()
    queue = EventQueue(_encode, 10, wakes)
    queue.subscribe(log)
    log.emit("note", "", text="aaa")  # 6 bytes
    log.emit("note", "", text="b")  # 4 more: 10, at the bound
    assert log.subscriber_count == 1
    log.emit("note", "", text="c")  # would be 14
    assert queue.cutoff == Cutoff(first=1, last=3, max_bytes=10)
    assert queue.queued_bytes == 0
    assert queue.take() == b""
    assert log.subscriber_count == 0  # unsubscribed: nothing more is queued
    assert wakes.count == 3
    log.emit("note", "", text="d")
    assert wakes.count == 3
    assert repr(queue) == "<EventQueue 0 events 0/10 B cut off>"


def test_a_single_event_larger_than_the_bound_cuts_off_an_empty_queue_at_that_event() -> None:
    log = EventLog()
    queue = EventQueue(_encode, 4, Wakes())
    queue.subscribe(log)
    log.emit("note", "", text="too long")
    assert queue.cutoff == Cutoff(first=1, last=1, max_bytes=4)


def test_close_unsubscribes_and_is_harmless_twice() -> None:
    log = EventLog()
    queue = EventQueue(_encode, 100, Wakes())
    queue.subscribe(log)
    log.emit("note", "", text="a")
    queue.close()
    queue.close()
    assert log.subscriber_count == 0
    assert queue.take() == b""
    assert repr(queue) == "<EventQueue 0 events 0/100 B closed>"


def test_a_queue_subscribes_once_and_needs_a_positive_bound() -> None:
    log = EventLog()
    queue = EventQueue(_encode, 100, Wakes())
    queue.subscribe(log)
    with pytest.raises(InvalidSpec, match="subscribes once"):
        queue.subscribe(log)
    with pytest.raises(InvalidSpec, match="max_bytes >= 1"):
        EventQueue(_encode, 0, Wakes())


def test_first_seq_and_a_limited_since_page_through_the_ring() -> None:
    log = EventLog(capacity=3)
    assert log.first_seq == 1  # empty: the next event's seq
    for text in "abcde":
        log.emit("note", "", text=text)
    assert log.first_seq == 3
    assert [e.seq for e in log.since(0, limit=2)] == [3, 4]
    assert [e.seq for e in log.since(3, limit=5)] == [4, 5]
