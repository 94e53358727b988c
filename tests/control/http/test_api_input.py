"""The API refuses bad input with a 400 and one clear line, never a 500 (found by fuzzing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral._errors import ApiError
from tests.support.daemon import SLEEP_FOREVER, running_daemon

PROGRAMS = f"""
[programs.web]
command = {SLEEP_FOREVER}
start_seconds = 0
"""


def test_query_numbers_are_plain_digits_and_any_size_of_since_is_answered(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path, PROGRAMS) as daemon:
        reply = daemon.call("GET", "/events", since=str(10**30))  # was a 500 (islice)
        assert reply["events"] == []
        assert reply["last_seq"] >= 1
        for raw in ("1_0", "٣", " 5", "+5", "0x10", "-", ""):  # int() took the first four
            with pytest.raises(ApiError) as caught:
                daemon.call("GET", "/logs/web:0", lines=raw)
            assert (caught.value.status, caught.value.message) == (
                400,
                f"query lines={raw!r} must be a whole number",
            )
        with pytest.raises(ApiError) as negative:
            daemon.call("GET", "/events", since="-3")
        assert (negative.value.status, negative.value.message) == (
            400,
            "since '-3' must be an event seq (a whole number >= 0)",
        )
