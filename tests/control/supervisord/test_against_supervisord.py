"""supervisorctl says the same, and exits the same, to corral as to a real supervisord
running the same programs: each command runs against both, pids and times masked."""

from __future__ import annotations

import re

import corral
from tests.control.supervisord.conftest import SUPERVISORCTL, Twins

_MASKS = [
    (re.compile(r"pid \d+, uptime \d+:\d\d:\d\d"), "pid N, uptime H:MM:SS"),
    (re.compile(r"[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M"), "DATE"),
    (re.compile(r"^\d+$", re.MULTILINE), "N"),
]


def masked(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def both(corral_url: str, supervisord_url: str, *args: str) -> tuple[str, int | None]:
    """Run `supervisorctl ARGS` against both at once; assert they agree; the answer.

    On a group (`web:*`) the lines are compared in any order: supervisord lists each
    process as its stop or start completes, which is a race between them.
    """
    argv = [SUPERVISORCTL, "-s", corral_url, *args]
    with corral.start(argv, stdout="capture", stderr="merge", check=False) as first:
        argv[2] = supervisord_url
        with corral.start(argv, stdout="capture", stderr="merge", check=False) as second:
            results = [first.wait(60), second.wait(60)]
    ours, theirs = [(masked(r.stdout_text), r.exit_code) for r in results]
    if any(arg.endswith(":*") for arg in args):
        ours, theirs = [
            ("".join(sorted(text.splitlines(True))), code) for text, code in (ours, theirs)
        ]
    assert ours == theirs, f"supervisorctl {' '.join(args)}: corral {ours} != supervisord {theirs}"
    return ours


def test_status_matches(twins: Twins) -> None:
    ours, real_supervisord = twins.corral_url, twins.supervisord
    text, code = both(ours, real_supervisord, "status")
    assert "manual:0                         STOPPED   Not started\n" in text
    assert code == 3
    assert both(ours, real_supervisord, "status", "web:*", "one:0")[1] == 0
    assert both(ours, real_supervisord, "status", "nosuch:0", "web:0")[1] == 4
    assert both(ours, real_supervisord, "status", "nosuch:*")[1] == 4


def test_stop_and_start_match(twins: Twins) -> None:
    ours, real_supervisord = twins.corral_url, twins.supervisord
    for args in (
        ("stop", "web:1"),
        ("status", "web:1"),
        ("stop", "web:1"),
        ("start", "web:1"),
        ("start", "web:1"),
        ("start", "nosuch:0", "web"),
        ("stop", "manual:0"),
    ):
        both(ours, real_supervisord, *args)


def test_restart_and_signal_match(twins: Twins) -> None:
    ours, real_supervisord = twins.corral_url, twins.supervisord
    for args in (
        ("restart", "one:0"),
        ("restart", "web:*"),
        ("signal", "USR1", "web:0"),
        ("signal", "NOSUCH", "web:0"),
        ("signal", "HUP", "manual:0"),
    ):
        both(ours, real_supervisord, *args)


def test_pid_tail_and_clear_match(twins: Twins) -> None:
    ours, real_supervisord = twins.corral_url, twins.supervisord
    for args in (
        ("pid", "manual:0"),
        ("pid", "nosuch:0"),
        ("tail", "-12", "one:0", "stderr"),  # its last line: restarts elsewhere add lines
        ("tail", "-6", "one:0", "stderr"),
        ("tail", "nosuch:0"),
        ("clear", "web:1"),
        ("tail", "web:1"),
        ("restart", "web:1"),  # it says hello again: the log is as it was
    ):
        both(ours, real_supervisord, *args)


def test_config_commands_match(twins: Twins) -> None:
    ours, real_supervisord = twins.corral_url, twins.supervisord
    for args in (
        ("avail",),
        ("reread",),
        ("update",),
        ("add", "web"),
        ("add", "nosuch"),
        ("remove", "one"),
        ("remove", "nosuch"),
    ):
        both(ours, real_supervisord, *args)


def test_reread_and_update_of_a_changed_file_match(twins: Twins) -> None:
    ours, theirs = twins.corral_url, twins.supervisord
    corral_before = twins.corral.config.read_text()
    supervisord_before = twins.supervisord_conf.read_text()
    twins.corral.config.write_text(corral_before + LATE_CORRAL)
    twins.supervisord_conf.write_text(supervisord_before + LATE_SUPERVISORD)
    try:
        assert both(ours, theirs, "reread") == ("late: available\n", 0)
        both(ours, theirs, "avail")
        assert both(ours, theirs, "update") == ("late: added process group\n", 0)
        both(ours, theirs, "status", "late:*")
    finally:
        twins.corral.config.write_text(corral_before)
        twins.supervisord_conf.write_text(supervisord_before)
    assert both(ours, theirs, "reread") == ("late: disappeared\n", 0)
    assert both(ours, theirs, "update") == (
        "late: stopped\nlate: removed process group\n",
        0,
    )


LATE_CORRAL = """
[programs.late]
command = ["sleep", "300"]
start_seconds = 0.2
"""

LATE_SUPERVISORD = """
[program:late]
command = sleep 300
process_name = %(process_num)d
startsecs = 0
"""
