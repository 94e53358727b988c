"""The pure parts of the supervisord interface: names, the info struct's description,
log byte ranges and the XML-RPC codec (no daemon)."""

from __future__ import annotations

import time
import xmlrpc.client
from pathlib import Path

import pytest

from corral._control.server.supervisord.codec import decode_call, encode_fault, encode_result
from corral._control.server.supervisord.faults import Fault, Faults
from corral._control.server.supervisord.names import describe, split_namespec
from corral._control.server.supervisord.ranges import read_bytes, read_range, tail_range


def test_namespecs_split_as_supervisord_splits_them() -> None:
    assert split_namespec("web:0") == ("web", "0")
    assert split_namespec("web:*") == ("web", None)
    assert split_namespec("web:") == ("web", None)
    assert split_namespec("web") == ("web", "web")  # a bare name: its own group's process


def info(state: str, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {"statename": state, "start": 0, "stop": 0, "now": 0}
    return base | {"pid": 0, "spawnerr": "", "name": "0"} | fields


def test_a_running_process_says_pid_and_uptime_as_a_timedelta() -> None:
    assert describe(info("RUNNING", pid=42, start=100, now=3825)) == "pid 42, uptime 1:02:05"
    long = info("RUNNING", pid=7, start=0, now=90061)
    assert describe(long) == "pid 7, uptime 1 day, 1:01:01"


def test_a_stopped_process_says_when_it_stopped_or_that_it_never_started() -> None:
    stop = 1_700_000_000
    expected = time.strftime("%b %d %I:%M %p", time.localtime(stop))
    assert describe(info("EXITED", start=stop - 5, stop=stop)) == expected
    assert describe(info("STOPPED")) == "Not started"


def test_a_failed_process_says_why_or_where_to_look() -> None:
    assert describe(info("FATAL", spawnerr="exited too quickly")) == "exited too quickly"
    assert describe(info("BACKOFF")) == 'unknown error (try "tail 0")'
    assert describe(info("STARTING")) == ""


def test_read_ranges_follow_supervisords_offsets(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b"0123456789")
    assert read_range(str(log), 0, 0) == b"0123456789"
    assert read_range(str(log), 2, 3) == b"234"
    assert read_range(str(log), -4, 0) == b"6789"
    assert read_range(str(log), -40, 0) == b"0123456789"
    with pytest.raises(Fault) as bad:
        read_range(str(log), -4, 2)
    assert bad.value.code is Faults.BAD_ARGUMENTS
    with pytest.raises(Fault) as missing:
        read_range(str(tmp_path / "none.log"), 0, 0)
    assert missing.value.code is Faults.NO_FILE
    assert read_bytes(b"0123456789", -3, 0) == b"789"


def test_tail_ranges_report_the_next_offset_and_overflow(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b"0123456789")
    assert tail_range(str(log), 0, 4) == (b"6789", 10, True)  # grew past offset + length
    assert tail_range(str(log), 8, 4) == (b"6789", 10, False)
    assert tail_range(str(log), 10, 4) == (b"", 10, False)  # nothing new
    assert tail_range(str(tmp_path / "none.log"), 3, 4) == (b"", 3, False)


def test_the_codec_reads_a_call_and_writes_results_and_faults() -> None:
    call = decode_call(xmlrpc.client.dumps(("web:0", True), "supervisor.startProcess").encode())
    assert (call.method, call.params) == ("supervisor.startProcess", ("web:0", True))
    assert xmlrpc.client.loads(encode_result({"a": [1, "b"]}))[0] == ({"a": [1, "b"]},)
    with pytest.raises(xmlrpc.client.Fault) as raised:
        xmlrpc.client.loads(encode_fault(Fault(Faults.BAD_NAME, "web:9")))
    assert (raised.value.faultCode, raised.value.faultString) == (10, "BAD_NAME: web:9")


def test_the_codec_refuses_declarations_and_what_is_not_a_call() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><methodCall/>'
    for body in (bomb, b"<methodCall>", b"<methodResponse><params/></methodResponse>"):
        with pytest.raises(Fault) as refused:
            decode_call(body)
        assert refused.value.code is Faults.PARSE_ERROR
