"""Command: an immutable builder; every method returns a new Command and runs as built."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

import corral
from corral import Command, RetryPolicy
from tests.helpers import argv
from tests.support.twins import Twin


def helper(name: str, *args: str) -> Command:
    return Command(*argv(name, *args))


def test_builders_return_new_commands_and_leave_the_original_alone() -> None:
    base = Command("prog", "a")
    built = (
        base.args("b", Path("c"))
        .cwd(Path("/tmp"))
        .env(X="1")
        .stdin("pipe")
        .stdout("devnull")
        .stderr("merge")
        .pass_fds(5)
        .new_session()
        .stop_signal("INT")
        .timeout(3)
        .grace(0.5)
        .unchecked()
        .ok_codes(0, 1)
        .retry(attempts=2)
    )
    assert base == Command("prog", "a")
    assert base.spec == corral.ProcessSpec(argv=("prog", "a"))
    assert built.spec.argv == ("prog", "a", "b", "c")
    assert built.spec.cwd == "/tmp"
    assert built.spec.env_add == (("X", "1"),)
    assert built.spec.stdin == "capture"
    assert built.spec.stdout == "devnull"
    assert built.spec.stderr == "merge"
    assert built.spec.pass_fds == (5,)
    assert built.spec.new_session
    assert built.spec.stop_signal is signal.SIGINT
    assert built.options.timeout == 3
    assert built.options.grace == 0.5
    assert not built.options.check
    assert built.options.ok_codes == frozenset({0, 1})
    assert built.options.retry == RetryPolicy(attempts=2)


def test_commands_compare_and_hash_by_value() -> None:
    assert Command("a", "b").timeout(1) == Command("a").args("b").timeout(1)
    assert hash(Command("a", "b").timeout(1)) == hash(Command("a").args("b").timeout(1))
    assert Command("a") != Command("a").timeout(1)
    assert Command("a") != "a"
    assert len({Command("a"), Command("a"), Command("b")}) == 2


def test_a_command_cannot_be_changed_in_place() -> None:
    command = Command("a")
    with pytest.raises(AttributeError, match="immutable"):
        command.spec = Command("b").spec


def test_repr_shows_the_command_line() -> None:
    assert repr(Command("echo", "hello world")) == "<Command \"echo 'hello world'\">"


def test_invalid_values_fail_when_the_command_is_built() -> None:
    with pytest.raises(corral.InvalidSpec, match="did you mean"):
        Command("a").stop_signal("TERN")
    with pytest.raises(corral.InvalidSpec, match="timeout"):
        Command("a").timeout(0)
    with pytest.raises(corral.InvalidSpec, match="not a stdio"):
        Command("a").stdout("nowhere")  # type: ignore[arg-type]


def test_input_switches_stdin_to_a_pipe(twin: Twin) -> None:
    command = helper("copy_stdin").input("to stdin\n")
    assert command.spec.stdin == "capture"
    assert twin.run_command(command).stdout == b"to stdin\n"


def test_env_adds_and_full_env_replaces(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_TEST_INHERITED", "yes")
    names = ("CORRAL_TEST_INHERITED", "ADDED")
    added = twin.run_command(helper("report_self", *names).env(ADDED="1"))
    replaced = twin.run_command(helper("report_self", *names).full_env({"ADDED": "2"}))
    assert json.loads(added.stdout)["env"] == {"CORRAL_TEST_INHERITED": "yes", "ADDED": "1"}
    assert json.loads(replaced.stdout)["env"] == {"CORRAL_TEST_INHERITED": None, "ADDED": "2"}


def test_cwd_and_new_session_take_effect(twin: Twin, tmp_path: Path) -> None:
    seen = json.loads(twin.run_command(helper("report_self").cwd(tmp_path).new_session()).stdout)
    assert seen["cwd"] == str(tmp_path)
    assert seen["sid"] == seen["pid"] != os.getsid(0)


def test_grace_and_stop_signal_take_effect_on_start(twin: Twin) -> None:
    command = helper("trap_term", "ignore", "SIGUSR2").stop_signal("USR2").grace(0.1)
    with twin.start_command(command) as proc:
        assert proc.readline() == "ready"
        assert proc.stop().signal_name == "SIGKILL"  # USR2 was ignored, so the grace ran out


def test_timeout_on_the_command_applies_to_run(twin: Twin) -> None:
    with pytest.raises(corral.TimedOut) as caught:
        twin.run_command(helper("trap_term", "exit").timeout(0.5))
    assert caught.value.timeout == 0.5


def test_run_and_start_accept_a_command(twin: Twin) -> None:
    assert twin.run(helper("exit_with", "3").unchecked()).exit_code == 3
    with twin.start(helper("echo_lines", "1")) as proc:
        assert proc.wait().stdout == b"line 1\n"
