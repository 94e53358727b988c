"""The event stream's "metrics" message (`GET /v1/events?follow=1&metrics=1`), from a daemon."""

from __future__ import annotations

from pathlib import Path

from corral._control.client import Client, EventFeed
from corral._control.wire import EventJSON
from tests.support.daemon import SLEEP_FOREVER, running_daemon
from tests.support.waiting import DEADLINE

PROGRAMS = f"""
[metrics]
interval = 0.2

[programs.web]
command = {SLEEP_FOREVER}
numprocs = 2
"""


def _next_metrics(feed: EventFeed) -> EventJSON:
    for _ in range(1000):
        event = feed.next(DEADLINE)
        if event["kind"] == "metrics":
            return event
    raise AssertionError("no metrics message among 1,000 messages")


def test_a_reader_that_asks_gets_each_ticks_samples_and_the_host_and_others_do_not(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        daemon.wait_state("web:0", "RUNNING")
        daemon.wait_state("web:1", "RUNNING")
        with Client(daemon.socket) as client, Client(daemon.socket) as plain_client:
            plain = plain_client.follow_events()
            with client.follow_events(metrics=True) as feed:
                first = _next_metrics(feed)
                second = _next_metrics(feed)
            assert first["seq"] is None
            assert second["time"] > first["time"]
            data = second["data"]
            assert data["columns"] == ["cpu_percent", "memory_rss", "processes", "fds"]
            instances = data["instances"]
            assert isinstance(instances, dict)
            assert sorted(instances) == ["web:0", "web:1"]
            _, rss, processes, fds = instances["web:0"]
            assert rss > 0
            assert processes == 1
            assert fds is None  # counted only while an alert rule watches fds
            host = data["host"]
            assert isinstance(host, dict)
            assert 0 < host["memory_used"] < host["memory_total"]
            assert host["cpu_percent"] is not None
            assert len(host["load"]) == 3
            assert data["interval"] == 0.2
            # The same two ticks passed for the reader that did not ask: it got no sample.
            daemon.call("POST", "/stop", {"targets": ["web:1"]})
            while (event := plain.next(DEADLINE))["kind"] != "state":
                assert event["kind"] != "metrics"
            plain.close()
        kinds = {event["kind"] for event in daemon.call("GET", "/events")["events"]}
        assert "metrics" not in kinds  # not an event of the log: the ring does not keep it
