"""sd_notify datagrams read as lifecycle inputs and shown values; malformed ones refused whole."""

from __future__ import annotations

import pytest

from corral._lifecycle.messages import (
    NotifiedReady,
    NotifiedReloading,
    NotifiedStopping,
    TimeoutExtended,
    WatchdogPing,
)
from corral._lifecycle.notify import MAX_DATAGRAM, Notification, parse_notification


def test_assignments_become_inputs_in_their_order_and_values_to_show() -> None:
    note = parse_notification(b"STATUS=warming up\nMAINPID=4242\nREADY=1\nWATCHDOG=1\n")
    assert note == Notification(
        inputs=(NotifiedReady(), WatchdogPing()), status="warming up", main_pid=4242
    )


def test_every_flag_and_the_timeout_extension() -> None:
    note = parse_notification(b"RELOADING=1\nSTOPPING=1\nEXTEND_TIMEOUT_USEC=2500000")
    assert isinstance(note, Notification)
    assert note.inputs == (NotifiedReloading(), NotifiedStopping(), TimeoutExtended(2.5))


def test_unknown_keys_and_unreadable_values_are_skipped_not_fatal() -> None:
    note = parse_notification(b"READY=1\nERRNO=2\nMAINPID=zero\nBARRIER=1\nREADY=0")
    assert isinstance(note, Notification)
    assert note.inputs == (NotifiedReady(),)
    assert note.skipped == ("ERRNO", "MAINPID", "BARRIER", "READY")


def test_status_may_hold_any_text_but_a_newline() -> None:
    note = parse_notification("STATUS=½ done = fine".encode())
    assert isinstance(note, Notification)
    assert note.status == "½ done = fine"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xff\xfeREADY=1", "not UTF-8"),
        (b"READY", "a line without '=': 'READY'"),
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"STATUS=" + b"x" * MAX_DATAGRAM, "larger than 4096 bytes"),
    ],
)
def test_a_malformed_datagram_is_refused_whole(data: bytes, why: str) -> None:
    assert parse_notification(data) == why
