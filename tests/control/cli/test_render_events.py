"""`corral events` lines, as exact text: events and stream notices."""

from __future__ import annotations

from corral._control.cli.render import event_line
from corral._control.wire import EventJSON

T = 1764662400.25  # 2025-12-02T08:00:00.250Z


def test_a_state_change_reads_old_to_new_with_pid_and_reason() -> None:
    data: dict[str, object] = {"old": "STARTING", "new": "RUNNING", "pid": 4121, "reason": "up"}
    event = EventJSON(seq=12, time=T, kind="state", subject="web:0", data=data)
    assert (
        event_line(event)
        == "#12 2025-12-02T08:00:00.250Z state web:0 STARTING -> RUNNING pid=4121  up"
    )


def test_a_state_change_without_pid_or_reason_has_neither() -> None:
    data: dict[str, object] = {"old": "STOPPED", "new": "STARTING", "pid": None, "reason": ""}
    event = EventJSON(seq=3, time=T, kind="state", subject="web:0", data=data)
    assert event_line(event) == "#3 2025-12-02T08:00:00.250Z state web:0 STOPPED -> STARTING"


def test_other_events_list_their_details_and_a_daemon_event_has_no_subject() -> None:
    dropped = EventJSON(
        seq=7, time=T, kind="log.dropped", subject="web:0",
        data={"stream": "stdout", "bytes": 512, "reason": "disk full"},
    )  # fmt: skip
    assert event_line(dropped) == (
        "#7 2025-12-02T08:00:00.250Z log.dropped web:0 stream=stdout bytes=512 reason=disk full"
    )
    daemon = EventJSON(seq=1, time=T, kind="daemon", subject="", data={"message": "stopped"})
    assert event_line(daemon) == "#1 2025-12-02T08:00:00.250Z daemon message=stopped"


def test_a_notice_says_which_events_it_is_about() -> None:
    gap = EventJSON(
        seq=None, time=T, kind="gap", subject="",
        data={"first": 3, "last": 6, "reason": "the event ring no longer holds them"},
    )  # fmt: skip
    assert event_line(gap) == (
        "-- 2025-12-02T08:00:00.250Z gap #3..#6: the event ring no longer holds them"
    )
    reset = EventJSON(seq=None, time=T, kind="reset", subject="", data={"reason": "restarted"})
    assert event_line(reset) == "-- 2025-12-02T08:00:00.250Z reset: restarted"
