"""A valid config becomes exactly the Program and DaemonSettings values it describes."""

from __future__ import annotations

import os
import signal

import pytest

from corral._lifecycle.policy import RestartPolicy, StartLimit
from corral._process.retry import Backoff
from corral._process.spec import ProcessSpec
from corral._supervisor.config.load import DaemonSettings
from corral._supervisor.model.program import LogPolicy, Program
from tests.supervisor.config.parsing import FILE, parse


def test_a_full_program_table_round_trips_into_the_program_it_describes() -> None:
    config = parse(
        "[daemon]",
        'socket = "/tmp/demo/corral.sock"',
        'log_dir = "/tmp/demo/logs"',
        "[programs.web]",
        'command = ["python3", "-m", "http.server", "8000"]',
        "numprocs = 2",
        'directory = "/srv/app"',
        'environment = { MODE = "demo", PORT = 8000 }',
        "autostart = false",
        'restart = "always"',
        "exit_codes = [0, 2]",
        "start_seconds = 3",
        "backoff = { initial = 0.5, factor = 3.0, max = 20, jitter = 0.2 }",
        "start_limit = { burst = 7, interval = 30 }",
        'stop_signal = "INT"',
        "stop_timeout = 4.5",
        "priority = 100",
        'logs = { timestamps = false, max_bytes = "64K", backups = 2 }',
    )
    expected = Program(
        name="web",
        process=ProcessSpec(
            argv=("python3", "-m", "http.server", "8000"),
            cwd="/srv/app",
            env_add=(("MODE", "demo"), ("PORT", "8000")),
            stop_signal=signal.SIGINT,
            stdin="devnull",
            stdout="capture",
            stderr="capture",
        ),
        numprocs=2,
        autostart=False,
        priority=100,
        restart=RestartPolicy(
            mode="always",
            exit_codes=frozenset({0, 2}),
            start_seconds=3.0,
            backoff=Backoff(initial=0.5, factor=3.0, max=20.0, jitter=0.2),
            start_limit=StartLimit(burst=7, interval=30.0),
        ),
        stop_timeout=4.5,
        logs=LogPolicy(timestamps=False, max_bytes=64 * 1024, backups=2),
    )
    assert config.programs == (expected,)
    assert config.daemon == DaemonSettings(
        socket="/tmp/demo/corral.sock",
        log_dir="/tmp/demo/logs",
        state_file="/tmp/demo/corral.state",
        audit_log="/tmp/demo/corral.audit",
        log_timestamps=True,
    )
    assert config.path == FILE


def test_a_program_with_only_a_command_gets_the_spec_defaults() -> None:
    (program,) = parse("[programs.worker]", 'command = ["sleep", "60"]').programs
    assert program == Program(
        name="worker",
        process=ProcessSpec(argv=("sleep", "60"), stdin="devnull", stdout="capture"),
    )


def test_a_command_string_is_split_like_a_shell() -> None:
    (program,) = parse("[programs.w]", "command = \"sh -c 'echo hi; sleep 1'\"").programs
    assert program.process.argv == ("sh", "-c", "echo hi; sleep 1")


def test_programs_are_ordered_by_priority_then_name() -> None:
    config = parse(
        "[programs.zeta]",
        "command = 'true'",
        "priority = 1",
        "[programs.beta]",
        "command = 'true'",
        "[programs.alpha]",
        "command = 'true'",
    )
    assert [p.name for p in config.programs] == ["zeta", "alpha", "beta"]
    assert list(config.program_map()) == ["zeta", "alpha", "beta"]


def test_the_daemon_table_is_optional_and_its_paths_default_beside_the_config_file() -> None:
    config = parse("[programs.w]", "command = 'true'")
    assert config.daemon == DaemonSettings(
        socket="/etc/corral.sock",
        log_dir="/etc/logs",
        state_file="/etc/corral.state",
        audit_log="/etc/corral.audit",
        log_timestamps=True,
    )


def test_relative_paths_resolve_against_the_config_files_directory() -> None:
    config = parse(
        "[daemon]",
        'socket = "run/corral.sock"',
        'log_dir = "../var/logs"',
        'state_file = "state/corral.state"',
        "[programs.w]",
        "command = 'true'",
        'directory = "app"',
    )
    assert config.daemon.socket == "/etc/run/corral.sock"
    assert config.daemon.log_dir == "/var/logs"
    assert config.daemon.state_file == "/etc/state/corral.state"
    assert config.programs[0].process.cwd == "/etc/app"


def test_a_home_relative_path_expands() -> None:
    config = parse("[daemon]", 'log_dir = "~/logs"')
    assert config.daemon.log_dir == os.path.expanduser("~/logs")


def test_the_state_file_defaults_beside_the_socket() -> None:
    config = parse("[daemon]", 'socket = "/run/corral/api.sock"')
    assert config.daemon.state_file == "/run/corral/corral.state"


def test_daemon_log_timestamps_is_the_default_for_every_programs_logs() -> None:
    config = parse(
        "[daemon]",
        "log_timestamps = false",
        "[programs.plain]",
        "command = 'true'",
        "[programs.sized]",
        "command = 'true'",
        "logs = { backups = 1 }",
        "[programs.stamped]",
        "command = 'true'",
        "logs.timestamps = true",
    )
    stamps = {p.name: p.logs.timestamps for p in config.programs}
    assert stamps == {"plain": False, "sized": False, "stamped": True}


def test_environment_integers_become_their_digits_and_the_pairs_are_sorted() -> None:
    (program,) = parse(
        "[programs.w]", "command = 'true'", 'environment = { Z = "last", PORT = 8000 }'
    ).programs
    assert program.process.env_add == (("PORT", "8000"), ("Z", "last"))


def test_reordering_the_environment_does_not_change_the_program() -> None:
    one = parse("[programs.w]", "command = 'true'", "environment = { A = '1', B = '2' }")
    two = parse("[programs.w]", "command = 'true'", "environment = { B = '2', A = '1' }")
    assert one.programs == two.programs


@pytest.mark.parametrize(
    ("written", "size"),
    [
        ("0", 0),
        ("1234", 1234),
        ('"100B"', 100),
        ('"64K"', 64 * 1024),
        ('"64kb"', 64 * 1024),
        ('"10MB"', 10 * 1024**2),
        ('"10 MiB"', 10 * 1024**2),
        ('"1G"', 1024**3),
    ],
)
def test_log_sizes_are_bytes_or_strings_with_binary_units(written: str, size: int) -> None:
    (program,) = parse("[programs.w]", "command = 'true'", f"logs.max_bytes = {written}").programs
    assert program.logs.max_bytes == size


@pytest.mark.parametrize("written", ['"TERM"', '"SIGTERM"', '"term"', "15"])
def test_a_stop_signal_is_a_name_with_or_without_sig_or_a_number(written: str) -> None:
    (program,) = parse("[programs.w]", "command = 'true'", f"stop_signal = {written}").programs
    assert program.process.stop_signal is signal.SIGTERM


def test_nested_tables_may_be_written_as_their_own_sections() -> None:
    (program,) = parse(
        "[programs.w]",
        "command = 'true'",
        "[programs.w.backoff]",
        "initial = 2",
        "[programs.w.start_limit]",
        "burst = 1",
    ).programs
    assert program.restart.backoff == Backoff(initial=2.0)
    assert program.restart.start_limit == StartLimit(burst=1)


def test_an_empty_file_is_a_daemon_with_no_programs() -> None:
    config = parse("")
    assert config.programs == ()
    assert config.program_map() == {}
