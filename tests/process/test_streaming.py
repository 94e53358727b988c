"""Reading output while the process runs, and talking to it over stdin."""

from __future__ import annotations

import pytest

import corral
from tests.helpers import argv
from tests.support.twins import Twin
from tests.support.waiting import wait_until

pytestmark = pytest.mark.usefixtures("exit_notifier")


def test_the_first_line_arrives_while_the_process_still_runs(twin: Twin) -> None:
    # echo_lines --gate prints `line 1`, then blocks until we send a line: reading
    # `line 1` before sending proves the output was streamed, not collected at exit.
    with twin.start(argv("echo_lines", "3", "--gate"), stdin="pipe") as proc:
        assert proc.readline() == "line 1"
        assert proc.running
        proc.write("go\n")
        assert list(proc.lines()) == ["line 2", "line 3"]
        result = proc.wait()
    assert result.exit_code == 0
    assert result.stdout == b""  # lines already read are not repeated


def test_lines_yields_every_line_then_stops(twin: Twin) -> None:
    with twin.start(argv("echo_lines", "5")) as proc:
        assert list(proc.lines()) == [f"line {n}" for n in range(1, 6)]
        assert proc.readline() is None
        assert proc.wait().exit_code == 0


def test_unread_output_stays_in_the_result(twin: Twin) -> None:
    with twin.start(argv("echo_lines", "3")) as proc:
        assert proc.readline() == "line 1"
        result = proc.wait()
    assert result.stdout == b"line 2\nline 3\n"


def test_a_last_line_without_newline_is_still_a_line(twin: Twin) -> None:
    with twin.start(argv("copy_stdin"), input=b"first\nlast") as proc:
        assert list(proc.lines()) == ["first", "last"]
        proc.wait()


def test_stderr_lines_can_be_read_on_their_own(twin: Twin) -> None:
    with twin.start(argv("exit_with", "0", "one", "two")) as proc:
        assert list(proc.lines("stderr")) == ["one", "two"]
        assert proc.wait().stderr == b""


def test_interactive_rounds_then_close_stdin(twin: Twin) -> None:
    with twin.start(argv("interactive"), stdin="pipe") as proc:
        assert proc.readline() == "ready"
        for a, b in [(1, 2), (20, 22), (-5, 5)]:
            proc.write(f"{a} {b}\n")
            assert proc.readline() == str(a + b)
        proc.write(b"100 1\n")  # bytes work as well as text
        assert proc.readline() == "101"
        proc.close_stdin()
        assert proc.readline() == "bye"
        assert proc.readline() is None
        result = proc.wait()
    assert result.exit_code == 0


def test_readline_with_a_timeout_gives_up_but_leaves_the_process_running(twin: Twin) -> None:
    with twin.start(argv("interactive"), stdin="pipe") as proc:
        assert proc.readline() == "ready"
        with pytest.raises(TimeoutError, match=f"no line on stdout of pid {proc.pid}"):
            proc.readline(timeout=0.05)  # the adder waits for input; no line can come
        assert proc.running
        proc.write("2 2\n")
        assert proc.readline() == "4"
        proc.close_stdin()
        assert proc.wait().exit_code == 0


def test_readline_honours_the_commands_timeout_and_ends_the_tree(twin: Twin) -> None:
    with twin.start(argv("interactive"), stdin="pipe", timeout=0.3) as proc:
        with pytest.raises(corral.TimedOut):
            proc.readline("stderr")  # nothing is ever written to stderr
        assert not proc.running
        assert proc.result().timed_out


def test_writing_without_a_stdin_pipe_is_an_error(twin: Twin) -> None:
    with twin.start(argv("echo_lines", "1")) as proc:
        with pytest.raises(ValueError, match="stdin='pipe'"):
            proc.write("x\n")
        proc.wait()


def test_send_signal_reaches_the_process(twin: Twin) -> None:
    with twin.start(argv("trap_term", "exit", "SIGUSR1")) as proc:
        assert proc.readline() == "ready"
        proc.send_signal("USR1")
        assert proc.readline() == "got SIGUSR1"
        assert proc.wait().exit_code == 0


def test_send_signal_rejects_an_unknown_name(twin: Twin) -> None:
    with twin.start(argv("echo_lines", "1")) as proc:
        with pytest.raises(corral.InvalidSpec, match="did you mean USR1"):
            proc.send_signal("USR11")
        proc.wait()


def test_poll_reports_exit_without_blocking() -> None:
    with corral.start(argv("interactive"), stdin="pipe") as proc:
        assert proc.readline() == "ready"
        assert proc.poll() is False
        proc.close_stdin()
        wait_until(proc.poll, what=f"pid {proc.pid} to exit after EOF on stdin")
        assert proc.exit_code == 0
        assert proc.readline() == "bye"
        assert proc.wait().exit_code == 0
