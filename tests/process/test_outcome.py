"""How a finished process is reported and judged: Result fields, check, ok_codes."""

from __future__ import annotations

import pytest

import corral
from tests.helpers import argv
from tests.support.twins import Twin

pytestmark = pytest.mark.usefixtures("exit_notifier")


def test_a_successful_run_reports_exit_zero(twin: Twin) -> None:
    result = twin.run(argv("echo_lines", "1"))
    assert result.exit_code == 0
    assert result.signal_name is None
    assert result.ok
    assert result.how == "exit 0"
    assert not result.timed_out
    assert result.duration > 0
    assert result.pid > 0
    assert result.argv == tuple(argv("echo_lines", "1"))


def test_a_non_zero_exit_raises_exited_non_zero_with_the_result(twin: Twin) -> None:
    with pytest.raises(corral.ExitedNonZero) as caught:
        twin.run(argv("exit_with", "3", "it broke"))
    error = caught.value
    assert error.exit_code == 3
    assert error.result.exit_code == 3
    assert error.result.stderr == b"it broke\n"
    assert isinstance(error, corral.ProcessFailed)
    assert isinstance(error, corral.CorralError)


def test_check_false_returns_the_failed_result(twin: Twin) -> None:
    result = twin.run(argv("exit_with", "3", "it broke"), check=False)
    assert result.exit_code == 3
    assert not result.ok
    assert result.how == "exit 3"
    assert result.stderr_text == "it broke\n"


def test_death_by_signal_reports_the_signal_name(twin: Twin) -> None:
    result = twin.run(argv("exit_with", "SIGABRT"), check=False)
    assert result.exit_code is None
    assert result.signal_name == "SIGABRT"
    assert result.how == "SIGABRT"
    assert not result.ok


def test_death_by_signal_raises_killed_by_signal(twin: Twin) -> None:
    with pytest.raises(corral.KilledBySignal) as caught:
        twin.run(argv("exit_with", "SIGUSR1", "about to die"))
    assert caught.value.signal_name == "SIGUSR1"
    assert caught.value.result.signal_name == "SIGUSR1"


def test_ok_codes_accept_listed_codes_only(twin: Twin) -> None:
    assert twin.run(argv("exit_with", "2"), ok_codes=[0, 2]).exit_code == 2
    assert twin.run(argv("exit_with", "0"), ok_codes=[0, 2]).exit_code == 0
    with pytest.raises(corral.ExitedNonZero):
        twin.run(argv("exit_with", "1"), ok_codes=[0, 2])


def test_ok_codes_can_reject_zero(twin: Twin) -> None:
    with pytest.raises(corral.ExitedNonZero) as caught:
        twin.run(argv("exit_with", "0"), ok_codes=[1])
    assert caught.value.exit_code == 0


def test_ok_codes_do_not_excuse_a_signal(twin: Twin) -> None:
    with pytest.raises(corral.KilledBySignal):
        twin.run(argv("exit_with", "SIGABRT"), ok_codes=[0, -6, 134])


def test_the_command_builder_runs_the_same_way(twin: Twin) -> None:
    command = corral.Command(*argv("exit_with", "4")).ok_codes(4)
    assert twin.run_command(command).exit_code == 4
    assert twin.run_command(corral.Command(*argv("exit_with", "5")).unchecked()).exit_code == 5


def test_a_string_argv_is_split_like_a_shell_would(twin: Twin) -> None:
    result = twin.run(f"'{argv('echo_lines')[0]}' '{argv('echo_lines')[1]}' 2")
    assert result.stdout_text == "line 1\nline 2\n"


def test_result_repr_shows_command_pid_and_outcome(twin: Twin) -> None:
    result = twin.run(argv("exit_with", "3"), check=False)
    text = repr(result)
    assert text.startswith(f"<Result {result.command!r} pid={result.pid} exit 3 duration=")
    assert text.endswith("stdout=0B stderr=0B>")


def test_process_repr_shows_running_then_outcome(twin: Twin) -> None:
    with twin.start(argv("interactive"), stdin="pipe") as proc:
        assert proc.readline() == "ready"
        assert repr(proc).endswith(f"pid={proc.pid} running>")
        proc.close_stdin()
        proc.wait()
        assert repr(proc).endswith(f"pid={proc.pid} exit 0>")
