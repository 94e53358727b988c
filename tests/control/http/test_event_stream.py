"""The event stream (`GET /v1/events?follow=1`) over a real server and socket, fed by a real log.

The server runs the stream route on the harness's loop; the log is emitted on that loop
(`harness.run`), as the daemon does. The daemon-level tests (tests/supervisor/runtime/
test_daemon_events.py) show the same stream carrying real state changes.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import pytest

from corral._control.client import Client, EventFeed
from corral._control.server.event_stream import StreamSettings, open_stream
from corral._control.server.http import HttpServer, Request, Router, StreamingResponse
from corral._control.sse import Message, MessageDecoder
from corral._control.wire import EventJSON
from corral._errors import ApiError
from corral._observe.events import EventLog
from tests.control.http.harness import ServerHarness, demo_router
from tests.support.events import EventWatch
from tests.support.waiting import DEADLINE, wait_until

FLOOD_LIMIT = 100_000
"""Events a flood emits at most while waiting for the cut-off (about 300 suffice here)."""


def _router(log: EventLog, settings: StreamSettings) -> Router:
    async def events(request: Request) -> StreamingResponse:
        return open_stream(log, request, settings)

    router = demo_router()
    router.add("GET", "/v1/events", events)
    return router


def _serve(
    harness: ServerHarness, sock_path: str, log: EventLog, settings: StreamSettings | None = None
) -> HttpServer:
    return harness.serve_unix(_router(log, settings or StreamSettings()), sock_path)


async def _emit(log: EventLog, count: int, **data: object) -> None:
    for n in range(count):
        log.emit("note", f"n{n}", n=n, **data)


async def _flood(log: EventLog) -> int:
    """Emit 1 KiB events, letting the loop turn between them, until no reader is subscribed."""
    for n in range(1, FLOOD_LIMIT + 1):
        log.emit("note", "", n=n, text="x" * 1000)
        for _ in range(3):
            await asyncio.sleep(0)  # loop turns, not a timed wait: the stream writes meanwhile
        if log.subscriber_count == 0:
            return n
    raise AssertionError(f"the reader was not cut off after {FLOOD_LIMIT} events")


def _messages(stream: Iterator[bytes], count: int) -> list[Message]:
    decoder = MessageDecoder()
    got: list[Message] = []
    while len(got) < count:
        got += decoder.feed(next(stream))
    return got


def _seqs(feed: EventFeed, count: int) -> list[int | None]:
    return [feed.next(DEADLINE)["seq"] for _ in range(count)]


def test_a_reader_without_a_resume_point_gets_only_new_events(
    harness: ServerHarness, sock_path: str
) -> None:
    log = EventLog()
    harness.run(_emit(log, 3))
    _serve(harness, sock_path, log)
    with Client(sock_path) as client, client.follow_events() as feed:
        harness.run(_emit(log, 1, extra="live"))
        event = feed.next(DEADLINE)
    assert event == EventJSON(
        seq=4, time=event["time"], kind="note", subject="n0", data={"n": 0, "extra": "live"}
    )


def test_each_message_has_the_seq_as_id_the_kind_as_event_and_the_event_as_json(
    harness: ServerHarness, sock_path: str
) -> None:
    log = EventLog()
    harness.run(_emit(log, 2))
    _serve(harness, sock_path, log)
    with Client(sock_path) as client:
        stream = client.stream("GET", "/v1/events", {"follow": "1", "since": "0"})
        with stream:
            first, second = _messages(stream, 2)
    assert (first.id, first.event, second.id) == ("1", "note", "2")
    kept = log.since(0)[0]
    expected = {"seq": 1, "time": kept.time, "kind": "note", "subject": "n0", "data": {"n": 0}}
    assert json.loads(first.data) == expected


def test_resuming_with_last_event_id_gets_exactly_the_missed_events(
    harness: ServerHarness, sock_path: str
) -> None:
    log = EventLog()
    _serve(harness, sock_path, log)
    with Client(sock_path) as client:
        with client.follow_events() as feed:
            harness.run(_emit(log, 2))
            assert _seqs(feed, 2) == [1, 2]
            resume_from = feed.last_seq
        harness.run(_emit(log, 3))  # missed while disconnected
        with client.follow_events(since=resume_from) as feed:
            assert _seqs(feed, 3) == [3, 4, 5]
            harness.run(_emit(log, 1, marker=True))
            event = feed.next(DEADLINE)  # the next one: nothing was sent twice or skipped
            assert (event["seq"], event["data"].get("marker")) == (6, True)


def test_since_in_the_query_is_the_same_as_last_event_id_and_the_header_wins(
    harness: ServerHarness, sock_path: str
) -> None:
    log = EventLog()
    harness.run(_emit(log, 5))
    _serve(harness, sock_path, log)
    with Client(sock_path) as client:
        with client.stream("GET", "/v1/events", {"follow": "1", "since": "3"}) as stream:
            assert [m.id for m in _messages(stream, 2)] == ["4", "5"]
        header = {"last-event-id": "4"}
        query = {"follow": "1", "since": "1"}
        with client.stream("GET", "/v1/events", query, header) as stream:
            assert [m.id for m in _messages(stream, 1)] == ["5"]


def test_a_reader_behind_the_ring_gets_a_gap_saying_which_events_are_lost(
    harness: ServerHarness, sock_path: str
) -> None:
    log = EventLog(capacity=4)
    harness.run(_emit(log, 10))  # the ring keeps 7..10
    _serve(harness, sock_path, log)
    with Client(sock_path) as client:
        with client.stream("GET", "/v1/events", {"follow": "1", "since": "2"}) as stream:
            gap, *rest = _messages(stream, 5)
        with client.follow_events(since=2) as feed:
            notice = feed.next(DEADLINE)
            assert feed.last_seq == 6  # the gap's id: a reconnect resumes after it
            assert _seqs(feed, 4) == [7, 8, 9, 10]
    assert (gap.event, gap.id) == ("gap", "6")
    assert [m.id for m in rest] == ["7", "8", "9", "10"]
    assert (notice["seq"], notice["kind"], notice["subject"]) == (None, "gap", "")
    assert notice["data"] == {
        "first": 3,
        "last": 6,
        "reason": "the event ring (the last 4 events) no longer holds them",
    }


def test_a_resume_point_ahead_of_the_log_is_a_reset_then_the_whole_ring(
    harness: ServerHarness, sock_path: str
) -> None:
    log = EventLog()
    harness.run(_emit(log, 2))
    _serve(harness, sock_path, log)
    with Client(sock_path) as client, client.follow_events(since=50) as feed:
        notice = feed.next(DEADLINE)
        assert _seqs(feed, 2) == [1, 2]
    assert notice["kind"] == "reset"
    assert notice["data"]["last_event_id"] == 50
    assert notice["data"]["last_seq"] == 2


def test_a_bad_resume_point_is_refused_with_400(harness: ServerHarness, sock_path: str) -> None:
    _serve(harness, sock_path, EventLog())
    with Client(sock_path) as client, pytest.raises(ApiError) as caught:
        client.stream("GET", "/v1/events", {"follow": "1"}, {"last-event-id": "-3"})
    assert caught.value.status == 400
    assert caught.value.message == "Last-Event-ID '-3' must be an event seq (a whole number >= 0)"


def test_a_bad_since_is_refused_even_beside_a_good_last_event_id(
    harness: ServerHarness, sock_path: str
) -> None:
    # found by the schemathesis fuzz: the header won, so since=-1 was never looked at
    _serve(harness, sock_path, EventLog())
    with Client(sock_path) as client, pytest.raises(ApiError) as caught:
        client.stream("GET", "/v1/events", {"since": "-1"}, {"last-event-id": "7"})
    assert caught.value.status == 400
    assert caught.value.message == "since '-1' must be an event seq (a whole number >= 0)"


def test_an_idle_stream_carries_heartbeat_comments(harness: ServerHarness, sock_path: str) -> None:
    _serve(harness, sock_path, EventLog(), StreamSettings(heartbeat=0.01))
    with Client(sock_path) as client, client.stream("GET", "/v1/events", {"follow": "1"}) as stream:
        chunks = [next(stream) for _ in range(3)]  # the opening comment, then heartbeats
    assert chunks[0] == b": corral events after #0; newest #0\n\n"
    assert chunks[1:] == [b": heartbeat\n\n"] * 2


def test_a_reader_that_does_not_read_is_cut_off_at_the_bound_and_the_server_goes_on(
    harness: ServerHarness, sock_path: str
) -> None:
    log = EventLog(capacity=FLOOD_LIMIT)
    server = _serve(harness, sock_path, log, StreamSettings(queue_bytes=16 * 1024, grace=0))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(sock_path)
        sock.sendall(b"GET /v1/events?follow=1 HTTP/1.1\r\nhost: localhost\r\n\r\n")
        wait_until(lambda: log.subscriber_count == 1, what="the reader subscribed")
        harness.run(_flood(log))
        assert log.subscriber_count == 0  # unsubscribed: its queue is gone
        # Dropped while still not reading: nothing waits for it to take what was buffered.
        wait_until(lambda: "connections=0" in repr(server), what="the connection dropped")
        sock.settimeout(DEADLINE)
        received = b""
        while data := sock.recv(1 << 16):  # ends: the server aborted the connection
            received += data
    assert received.startswith(b"HTTP/1.1 200 ")
    assert not received.endswith(b"0\r\n\r\n")  # cut off, not a finished body
    with Client(sock_path) as client:
        assert client.request("GET", "/v1/hello") == {"hello": "world"}
        with client.follow_events() as feed:
            harness.run(_emit(log, 1))
            assert feed.next(DEADLINE)["kind"] == "note"


def test_a_slow_reader_gets_an_overflow_notice_and_the_feed_resumes_without_loss(
    harness: ServerHarness, sock_path: str
) -> None:
    log = EventLog(capacity=FLOOD_LIMIT)
    _serve(harness, sock_path, log, StreamSettings(queue_bytes=16 * 1024, grace=DEADLINE))
    with Client(sock_path) as client, client.follow_events(since=0) as feed:
        assert log.subscriber_count == 1  # subscribed before follow_events returned
        emitted = harness.run(_flood(log))  # the feed reads nothing meanwhile
        harness.run(_emit(log, 1, after=True))  # emitted after the cut-off
        seen = [feed.next(DEADLINE)]
        while seen[-1]["data"].get("after") is not True:
            seen.append(feed.next(DEADLINE))
    notices = [e for e in seen if e["seq"] is None]
    assert [n["kind"] for n in notices] == ["overflow"]
    first = notices[0]["data"]["first"]
    assert isinstance(first, int)
    assert 1 < first <= emitted
    assert notices[0]["data"]["max_bytes"] == 16 * 1024
    assert seen.index(notices[0]) == first - 1  # after every event delivered before it
    assert [e["seq"] for e in seen if e["seq"] is not None] == list(range(1, emitted + 2))


def test_an_event_watch_finds_an_event_already_read_and_names_what_it_missed(
    harness: ServerHarness, sock_path: str
) -> None:
    log = EventLog()
    _serve(harness, sock_path, log)
    with EventWatch(sock_path) as watch:
        harness.run(_emit(log, 2))
        assert watch.wait_for(lambda e: e["seq"] == 2, what="the second event")["subject"] == "n1"
        assert watch.wait_for(lambda e: e["seq"] == 1, what="the first event")["subject"] == "n0"
        with pytest.raises(AssertionError) as caught:
            watch.wait_state("web:0", "RUNNING", timeout=0.01)
    assert str(caught.value) == (
        "waited 0.01 s for web:0 entering RUNNING; the events seen:\n"
        "  #1 note n0 n=0\n"
        "  #2 note n1 n=1"
    )


def test_a_reader_that_hangs_up_is_unsubscribed_at_once(
    harness: ServerHarness, sock_path: str
) -> None:
    # Noticed from the connection, not at the next event: a reader that left an idle
    # stream keeps no queue subscribed until some event reaches its bound.
    log = EventLog()
    _serve(harness, sock_path, log)
    with Client(sock_path) as client, client.follow_events():
        assert log.subscriber_count == 1
    wait_until(lambda: log.subscriber_count == 0, what="the hung-up reader unsubscribed")


def test_a_closing_server_finishes_the_stream_with_what_it_holds(
    harness: ServerHarness, sock_path: str
) -> None:
    # On shutdown the reader gets the last events and a complete reply: its feed ends,
    # it does not break (so `corral events -f` exits 0, not 3).
    log = EventLog()
    server = _serve(harness, sock_path, log)
    with Client(sock_path) as client, client.follow_events() as feed:
        harness.run(_emit(log, 1, last=True))
        harness.run(server.close(finish_within=DEADLINE))
        event = feed.next(DEADLINE)
        with pytest.raises(StopIteration):
            feed.next(DEADLINE)
    assert event["data"] == {"n": 0, "last": True}
    assert log.subscriber_count == 0
