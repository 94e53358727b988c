"""Every error corral raises: its class, its fields and its message (command, cause, hint)."""

from __future__ import annotations

import errno
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

import corral
from corral.lowlevel import Feature, override_feature
from tests.helpers import argv
from tests.support.twins import Twin


def test_the_error_tree() -> None:
    assert issubclass(corral.InvalidSpec, corral.CorralError)
    assert issubclass(corral.InvalidSpec, ValueError)
    assert issubclass(corral.UnsupportedFeature, corral.CorralError)
    for spawn_error in (corral.ExecutableNotFound, corral.PermissionDenied):
        assert issubclass(spawn_error, corral.SpawnError)
    assert issubclass(corral.BadWorkingDirectory, corral.SpawnError)
    assert issubclass(corral.SpawnError, corral.CorralError)
    for failure in (corral.ExitedNonZero, corral.KilledBySignal, corral.TimedOut):
        assert issubclass(failure, corral.ProcessFailed)
    assert issubclass(corral.ProcessFailed, corral.CorralError)
    assert not issubclass(corral.ProcessFailed, corral.SpawnError)


# -- the process ran and failed ------------------------------------------------------


def test_exited_non_zero_names_command_code_pid_and_stderr_tail(twin: Twin) -> None:
    lines = [f"problem {n}" for n in range(1, 8)]
    command = argv("exit_with", "3", *lines)
    with pytest.raises(corral.ExitedNonZero) as caught:
        twin.run(command)
    error = caught.value
    pid = error.result.pid
    head, tail = str(error).split("; last lines of stderr:\n")
    assert head == f"`{shlex.join(command)}` exited with code 3 (pid {pid})"
    assert tail.splitlines() == [f"  | problem {n}" for n in range(3, 8)]  # the last five


def test_a_failure_without_stderr_has_no_stderr_section(twin: Twin) -> None:
    with pytest.raises(corral.ExitedNonZero) as caught:
        twin.run(argv("exit_with", "1"))
    assert str(caught.value).endswith(f"exited with code 1 (pid {caught.value.result.pid})")


def test_killed_by_signal_names_the_signal(twin: Twin) -> None:
    with pytest.raises(corral.KilledBySignal) as caught:
        twin.run(argv("exit_with", "SIGTERM", "going down"))
    message = str(caught.value)
    assert f"was killed by SIGTERM (pid {caught.value.result.pid})" in message
    assert message.endswith("  | going down")


def test_timed_out_names_the_timeout_and_what_to_do(twin: Twin) -> None:
    with twin.start(argv("trap_term", "exit")) as proc:
        assert proc.readline() == "ready"
        with pytest.raises(corral.TimedOut) as caught:
            proc.wait(timeout=0.05)
    error = caught.value
    assert error.timeout == 0.05
    assert isinstance(error.result, corral.Result)
    assert error.result.timed_out
    assert error.result.stdout == b"got SIGTERM\n"
    assert "timed out after 0.05 s and its process tree was ended" in str(error)
    assert f"(pid {proc.pid}); raise the timeout if the command needs longer" in str(error)


def test_a_timeout_raises_even_with_check_off(twin: Twin) -> None:
    with twin.start(argv("trap_term", "exit"), check=False) as proc:
        assert proc.readline() == "ready"
        with pytest.raises(corral.TimedOut):
            proc.wait(timeout=0.05)


# -- the process could not start -----------------------------------------------------


def test_a_program_not_on_path(twin: Twin, tmp_path: Path) -> None:
    with pytest.raises(corral.ExecutableNotFound) as caught:
        twin.run(["corral-no-such-program", "--flag"], env={"PATH": str(tmp_path)})
    error = caught.value
    assert error.argv == ("corral-no-such-program", "--flag")
    assert error.step == "exec"
    assert error.errno == errno.ENOENT
    assert str(error) == (
        "cannot start `corral-no-such-program --flag`: exec: 'corral-no-such-program' was not "
        f"found on PATH ({tmp_path}) [ENOENT]; check the spelling, install it, or give its full "
        "path"
    )


def test_a_missing_file_given_by_path(twin: Twin, tmp_path: Path) -> None:
    missing = str(tmp_path / "nothing-here")
    with pytest.raises(corral.ExecutableNotFound, match="no such file") as caught:
        twin.run([missing])
    assert missing in str(caught.value)


def test_a_file_that_is_not_executable(twin: Twin, tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(corral.PermissionDenied) as caught:
        twin.run([str(script)])
    assert caught.value.errno == errno.EACCES
    assert f"'{script}' is not an executable file [EACCES]; check its mode (chmod +x)" in str(
        caught.value
    )


def test_a_non_executable_file_on_path_is_named(twin: Twin, tmp_path: Path) -> None:
    (tmp_path / "corral-tool").write_text("#!/bin/sh\n")
    with pytest.raises(corral.PermissionDenied, match="corral-tool' is not an executable file"):
        twin.run(["corral-tool"], env={"PATH": str(tmp_path)})


def test_a_directory_as_the_program(twin: Twin, tmp_path: Path) -> None:
    with pytest.raises(corral.PermissionDenied, match="not a directory"):
        twin.run([str(tmp_path)])


@pytest.mark.parametrize(
    "cwd", [None, pytest.param("tmp", marks=pytest.mark.requires(Feature.SPAWN_CHDIR))]
)
def test_a_script_without_a_shebang_line(twin: Twin, tmp_path: Path, cwd: str | None) -> None:
    script = tmp_path / "no-shebang"
    script.write_text("echo this is no binary\n")
    script.chmod(0o755)
    with pytest.raises(corral.SpawnError) as caught:
        twin.run([str(script)], cwd=None if cwd is None else tmp_path)
    error = caught.value
    assert type(error) is corral.SpawnError
    assert error.errno == errno.ENOEXEC
    assert "is not in an executable format [ENOEXEC]; a script needs a #! line" in str(error)


def test_a_script_whose_interpreter_is_missing(twin: Twin, tmp_path: Path) -> None:
    script = tmp_path / "bad-interpreter"
    script.write_text("#!/corral/no/such/interpreter\n")
    script.chmod(0o755)
    with pytest.raises(corral.ExecutableNotFound, match="check the #! line"):
        twin.run([str(script)])


def test_an_output_file_that_cannot_be_opened(twin: Twin, tmp_path: Path) -> None:
    target = tmp_path / "no-dir" / "out.txt"
    with pytest.raises(corral.SpawnError) as caught:
        twin.run(argv("echo_lines", "1"), stdout=corral.File(str(target)))
    assert caught.value.step == "open stdout"
    assert caught.value.errno == errno.ENOENT
    assert f"open stdout: cannot open '{target}'" in str(caught.value)


def test_an_input_file_that_does_not_exist(twin: Twin, tmp_path: Path) -> None:
    with pytest.raises(corral.SpawnError, match="open stdin: cannot open"):
        twin.run(argv("copy_stdin"), stdin=corral.File(str(tmp_path / "absent")))


def test_a_bad_cwd_through_the_shell_fallback(twin: Twin, tmp_path: Path) -> None:
    with (
        override_feature(Feature.SPAWN_CHDIR, False),
        pytest.raises(corral.BadWorkingDirectory) as caught,
    ):
        twin.run(argv("report_self"), cwd=tmp_path / "gone")
    assert caught.value.errno == errno.ENOENT
    assert str(caught.value).startswith(f"cannot start `{sys.executable} ")
    assert f"chdir: working directory '{tmp_path / 'gone'}' does not exist [ENOENT]" in str(
        caught.value
    )


# -- invalid specs, rejected before anything runs ------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stop_signal": "TREM"}, "unknown signal name 'TREM'; did you mean TERM?"),
        ({"stop_signal": 12345}, "unknown signal number 12345"),
        ({"stdout": "merge"}, "stdout='merge' is only meaningful for stderr"),
        ({"stdin": "merge"}, "stdin='merge' is only meaningful for stderr"),
        ({"stdout": "bogus"}, "stdout='bogus' is not a stdio mode; use one of inherit, capture"),
        ({"stderr": 2.5}, "stderr=2.5 is not a stdio choice"),
        ({"stdout": -1}, "stdout=-1 is not a stdio choice"),
        ({"stdout": True}, "stdout=True is not a stdio choice"),
        ({"stdin": corral.File("x", append=True)}, "stdin cannot be opened for append"),
        ({"timeout": 0}, "timeout must be > 0 seconds, got 0"),
        ({"timeout": -1}, "timeout must be > 0 seconds"),
        ({"grace": -1}, "grace must be >= 0 seconds, got -1"),
        ({"env": {"A=B": "x"}}, "invalid environment variable name 'A=B'"),
        ({"extra_env": {"": "x"}}, "invalid environment variable name ''"),
        ({"input": b"x", "stdin": "devnull"}, "input= needs stdin to be a pipe"),
        ({"pass_fds": [1]}, "pass fds 3 and above"),
    ],
)
def test_invalid_options_are_rejected_before_starting(
    twin: Twin, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(corral.InvalidSpec) as caught:
        twin.run(argv("exit_with", "0"), **options)
    assert message in str(caught.value)


@pytest.mark.parametrize("command", [[], [""], ["ok", 3]])
def test_an_invalid_argv_is_rejected(command: list[Any]) -> None:
    with pytest.raises(corral.InvalidSpec, match="argv must be a non-empty sequence of strings"):
        corral.ProcessSpec(argv=tuple(command))


def test_a_path_like_argv_and_stdio_are_accepted(twin: Twin, tmp_path: Path) -> None:
    out = tmp_path / "out"
    twin.run([Path(sys.executable), Path(argv("echo_lines")[1]), "1"], stdout=out)
    assert out.read_text() == "line 1\n"
