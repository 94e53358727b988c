"""Where a child's stdin, stdout and stderr go, on both twins and both exit notifiers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import corral
from tests.helpers import argv
from tests.support.twins import Twin

pytestmark = pytest.mark.usefixtures("exit_notifier")


def test_stdout_and_stderr_are_captured_separately_by_default(twin: Twin) -> None:
    result = twin.run(argv("flood", "640"))
    assert result.stdout == (b"o" * 63 + b"\n") * 10
    assert result.stderr == (b"e" * 63 + b"\n") * 10


def test_merge_sends_stderr_into_captured_stdout(twin: Twin) -> None:
    result = twin.run(argv("flood", "640"), stderr="merge")
    assert result.stderr == b""
    assert sorted(result.stdout.splitlines()) == [b"e" * 63] * 10 + [b"o" * 63] * 10


def test_merge_follows_stdout_into_a_file(twin: Twin, tmp_path: Path) -> None:
    out = tmp_path / "both.txt"
    result = twin.run(argv("flood", "640"), stdout=corral.File(str(out)), stderr="merge")
    assert result.stdout == result.stderr == b""
    assert sorted(out.read_bytes().splitlines()) == [b"e" * 63] * 10 + [b"o" * 63] * 10


def test_more_output_than_a_pipe_holds_on_both_streams_does_not_deadlock(twin: Twin) -> None:
    size = 1 << 20  # 16 times a default pipe buffer, on each stream
    result = twin.run(argv("flood", str(size)), timeout=60)
    assert len(result.stdout) == size
    assert len(result.stderr) == size
    assert set(result.stdout) == {ord("o"), ord("\n")}


def test_file_output_truncates_by_default(twin: Twin, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("old content that must disappear\n")
    result = twin.run(argv("echo_lines", "2"), stdout=corral.File(str(out)))
    assert out.read_text() == "line 1\nline 2\n"
    assert result.stdout == b""


def test_file_output_appends_when_asked(twin: Twin, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("kept\n")
    twin.run(argv("echo_lines", "1"), stdout=corral.File(str(out), append=True))
    twin.run(argv("echo_lines", "1"), stdout=corral.File(str(out), append=True))
    assert out.read_text() == "kept\nline 1\nline 1\n"


def test_a_path_is_a_file_to_write(twin: Twin, tmp_path: Path) -> None:
    err = tmp_path / "err.txt"
    twin.run(argv("exit_with", "0", "to the file"), stderr=err)
    assert err.read_text() == "to the file\n"


def test_a_file_can_be_stdin(twin: Twin, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"from a file\n")
    result = twin.run(argv("copy_stdin"), stdin=corral.File(str(source)))
    assert result.stdout == b"from a file\n"


def test_an_fd_of_ours_is_given_to_the_child(twin: Twin) -> None:
    read, write = os.pipe()
    try:
        result = twin.run(argv("echo_lines", "1"), stdout=write)
        os.close(write)
        write = -1
        assert os.read(read, 100) == b"line 1\n"
        assert result.stdout == b""
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)


def test_stdin_is_devnull_by_default(twin: Twin) -> None:
    result = twin.run(argv("copy_stdin"))
    assert result.stdout == b""


def test_devnull_discards_output(twin: Twin) -> None:
    result = twin.run(argv("flood", "640"), stdout="devnull", stderr="devnull")
    assert result.stdout == result.stderr == b""


def test_inherit_writes_to_our_own_stdout_and_stderr(
    twin: Twin, capfd: pytest.CaptureFixture[str]
) -> None:
    result = twin.run(argv("flood", "128"), stdout="inherit", stderr="inherit")
    out, err = capfd.readouterr()
    assert result.stdout == result.stderr == b""
    assert out == ("o" * 63 + "\n") * 2
    assert err == ("e" * 63 + "\n") * 2


def test_input_bytes_are_written_to_stdin_then_closed(twin: Twin) -> None:
    data = bytes(range(256)) * 1024  # binary, and more than a pipe holds
    result = twin.run(argv("copy_stdin"), input=data)
    assert result.stdout == data


def test_input_text_is_encoded_as_utf8(twin: Twin) -> None:
    result = twin.run(argv("copy_stdin"), input="grüße\n")
    assert result.stdout == "grüße\n".encode()
    assert result.stdout_text == "grüße\n"


def test_text_views_replace_undecodable_bytes(twin: Twin) -> None:
    result = twin.run(argv("copy_stdin"), input=b"ok \xff\n")
    assert result.stdout == b"ok \xff\n"
    assert result.stdout_text == "ok \ufffd\n"


def test_input_reaches_a_child_that_reads_lines(twin: Twin) -> None:
    result = twin.run(argv("interactive"), input="1 2\n40 2\n")
    assert result.stdout_text.splitlines() == ["ready", "3", "42", "bye"]


def test_output_of_a_process_that_exits_before_reading_its_input(twin: Twin) -> None:
    # exit_with never reads stdin; writing to it hits EPIPE, which must not fail the run.
    result = twin.run(argv("exit_with", "0"), input=b"x" * (1 << 20))
    assert result.exit_code == 0


def test_stdin_pipe_without_input_is_closed_at_wait(twin: Twin) -> None:
    with twin.start(argv("copy_stdin"), stdin="pipe") as proc:
        result = proc.wait()
    assert result.exit_code == 0
    assert result.stdout == b""
