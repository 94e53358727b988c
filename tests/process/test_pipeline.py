"""Pipelines: `Command | Command`, data flow, per-stage results, pipefail, ending all stages."""

from __future__ import annotations

import asyncio
import os
import re

import pytest

import corral
from corral import Command, Pipeline
from corral._process.options import RunOptions
from tests.helpers import argv
from tests.support.pids import PidReports, children_of
from tests.support.twins import Twin

pytestmark = pytest.mark.usefixtures("exit_notifier")


def helper(name: str, *args: str) -> Command:
    return Command(*argv(name, *args))


def test_data_flows_through_every_stage_in_order(twin: Twin) -> None:
    pipeline = helper("echo_lines", "3") | helper("copy_stdin", "a:") | helper("copy_stdin", "b:")
    result = twin.run_pipeline(pipeline)
    assert result.stdout_text == "b:a:line 1\nb:a:line 2\nb:a:line 3\n"
    assert result.ok
    assert result.failed_stage is None
    assert result.exit_code == 0


def test_run_accepts_a_pipeline(twin: Twin) -> None:
    result = twin.run(helper("echo_lines", "1") | helper("copy_stdin", "x:"))
    assert result.stdout == b"x:line 1\n"


def test_each_stage_has_its_own_result(twin: Twin) -> None:
    first, second = helper("echo_lines", "2"), helper("copy_stdin", "> ")
    result = twin.run_pipeline(first | second)
    assert [stage.argv for stage in result.stages] == [first.spec.argv, second.spec.argv]
    assert [stage.exit_code for stage in result.stages] == [0, 0]
    assert len({stage.pid for stage in result.stages}) == 2
    assert result.stages[0].stdout == b""  # it went down the pipe, not to us
    assert all(stage.duration > 0 for stage in result.stages)
    assert result.duration == max(stage.duration for stage in result.stages)
    assert result.command == f"{first.spec.argv[0]} {first.spec.argv[1]} 2 | " + " ".join(
        [second.spec.argv[0], second.spec.argv[1], "'> '"]
    )


def test_pipefail_reports_the_rightmost_failed_stage(twin: Twin) -> None:
    pipeline = helper("exit_with", "3") | helper("exit_with", "4") | helper("exit_with", "0")
    result = twin.run_pipeline(pipeline.unchecked())
    assert [stage.exit_code for stage in result.stages] == [3, 4, 0]
    assert result.failed_stage == 1
    assert result.exit_code == 4
    assert result.argv == pipeline.commands[1].spec.argv
    assert not result.ok


def test_pipefail_raises_for_the_rightmost_failure(twin: Twin) -> None:
    pipeline = helper("exit_with", "3", "first broke") | helper("exit_with", "5", "second broke")
    with pytest.raises(corral.ExitedNonZero) as caught:
        twin.run_pipeline(pipeline)
    assert caught.value.exit_code == 5
    assert "exited with code 5" in str(caught.value)
    assert "second broke" in str(caught.value)
    assert "first broke" in str(caught.value)  # stderr of every stage, in order


def test_a_signalled_stage_decides_when_it_is_rightmost(twin: Twin) -> None:
    pipeline = helper("exit_with", "3") | helper("exit_with", "SIGABRT") | helper("exit_with", "0")
    with pytest.raises(corral.KilledBySignal) as caught:
        twin.run_pipeline(pipeline)
    assert caught.value.signal_name == "SIGABRT"


def test_ok_codes_apply_to_every_stage(twin: Twin) -> None:
    result = twin.run_pipeline((helper("exit_with", "2") | helper("exit_with", "2")).ok_codes(0, 2))
    assert result.ok
    assert result.exit_code == 2


def test_stderr_of_every_stage_is_joined_in_stage_order(twin: Twin) -> None:
    pipeline = helper("exit_with", "0", "one") | helper("exit_with", "0", "two")
    result = twin.run_pipeline(pipeline)
    assert result.stderr == b"one\ntwo\n"
    assert [stage.stderr for stage in result.stages] == [b"one\n", b"two\n"]


def test_input_goes_to_the_first_stage(twin: Twin) -> None:
    pipeline = (helper("copy_stdin", "1:") | helper("copy_stdin", "2:")).input("a\nb\n")
    assert twin.run_pipeline(pipeline).stdout_text == "2:1:a\n2:1:b\n"


def test_a_timeout_ends_every_stage_and_a_double_forked_grandchild(twin: Twin) -> None:
    with PidReports() as reports:
        fd = str(reports.write_fd)
        first = helper("double_fork", "--fd", fd).pass_fds(reports.write_fd)
        pipeline = (first | helper("copy_stdin")).timeout(1.0)
        with pytest.raises(corral.TimedOut) as caught:
            twin.run_pipeline(pipeline)
        reports.wait_for(2)
        reports.deaths.assert_dead()
    result = caught.value.result
    assert isinstance(result, corral.PipelineResult)
    assert result.timed_out
    assert all(stage.timed_out for stage in result.stages)


def test_a_spawn_error_in_a_later_stage_leaves_no_earlier_stage_behind(twin: Twin) -> None:
    before = {stat.pid for stat in children_of(os.getpid())}  # the session's own (etcd, ...)
    pipeline = helper("trap_term", "ignore") | Command("corral-no-such-program")
    with pytest.raises(corral.ExecutableNotFound, match="corral-no-such-program"):
        twin.run_pipeline(pipeline)
    assert [s for s in children_of(os.getpid()) if s.pid not in before] == []


def test_cancelling_a_pipeline_ends_every_stage() -> None:
    async def main(reports: PidReports) -> None:
        fd = reports.write_fd
        first = helper("double_fork", "--fd", str(fd)).pass_fds(fd)
        task = asyncio.create_task((first | helper("copy_stdin")).run_async())
        await asyncio.to_thread(reports.wait_for, 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with PidReports() as reports:
        asyncio.run(main(reports), debug=True)
        assert reports.deaths.gone_at_open == []
        reports.deaths.assert_dead()


def test_pipes_compose_from_commands_and_pipelines() -> None:
    a, b, c = Command("a"), Command("b"), Command("c")
    assert (a | b | c).commands == (a, b, c)
    assert (a | (b | c)).commands == (a, b, c)
    assert ((a | b) | (c | a)).commands == (a, b, c, a)
    assert repr(a | b) == "<Pipeline 'a | b'>"


def test_a_pipeline_is_immutable_and_needs_a_command() -> None:
    pipeline = Command("a") | Command("b")
    with pytest.raises(AttributeError, match="immutable"):
        pipeline.options = pipeline.options
    with pytest.raises(corral.InvalidSpec, match="at least one command"):
        Pipeline(())


def test_pipeline_result_repr_lists_each_stage(twin: Twin) -> None:
    result = twin.run_pipeline((helper("exit_with", "0") | helper("exit_with", "1")).unchecked())
    assert repr(result).endswith("[exit 0, exit 1] failed_stage=1>")


def test_a_stage_starts_in_a_group_of_its_own_once_the_pipelines_group_is_gone() -> None:
    # setpgid() to a group with no process left fails (EPERM); a pipeline whose first
    # stages already exited and were reaped must still start its later stages.
    from corral._process.pipeline import _launch_stage

    gone = corral.run(argv("exit_with", "0")).pid  # exited and reaped: its group is empty
    spec = corral.ProcessSpec(argv=tuple(argv("echo_lines", "1")))
    with corral.Process(_launch_stage(spec, gone, None), spec, RunOptions()) as proc:
        assert proc.wait().stdout == b"line 1\n"
    assert proc.pid != gone


# -- a stage's own options (issue #11): honoured, or refused, never ignored ----------


def test_an_unchecked_stage_does_not_fail_the_pipeline(twin: Twin) -> None:
    # duct: `cmd!("false").unchecked().pipe(cmd!("true"))` succeeds.
    pipeline = helper("exit_with", "3").unchecked() | helper("exit_with", "0")
    result = twin.run_pipeline(pipeline)
    assert result.ok
    assert result.failed_stage is None
    assert result.stages[0].exit_code == 3


def test_an_unchecked_stage_leaves_the_other_stages_checked(twin: Twin) -> None:
    pipeline = helper("exit_with", "4") | helper("exit_with", "3").unchecked()
    with pytest.raises(corral.ExitedNonZero) as caught:
        twin.run_pipeline(pipeline)
    assert caught.value.exit_code == 4


def test_a_stages_own_ok_codes_count_for_that_stage(twin: Twin) -> None:
    pipeline = helper("exit_with", "2").ok_codes(0, 2) | helper("exit_with", "0")
    assert twin.run_pipeline(pipeline).ok
    with pytest.raises(corral.ExitedNonZero):
        twin.run_pipeline(helper("exit_with", "0") | helper("exit_with", "2").ok_codes(0, 3))


def test_input_on_the_first_stage_is_written(twin: Twin) -> None:
    pipeline = helper("copy_stdin", "1:").input("a\n") | helper("copy_stdin", "2:")
    assert twin.run_pipeline(pipeline).stdout_text == "2:1:a\n"


@pytest.mark.parametrize(
    ("stage", "option", "instead"),
    [
        (helper("copy_stdin").timeout(5), ".timeout()", r"\(a \| b\)\.timeout\(5\)"),
        (helper("copy_stdin").grace(1), ".grace()", r"\(a \| b\)\.grace\(1\)"),
        (helper("copy_stdin").retry(attempts=2), ".retry()", "retry the whole pipeline"),
        (helper("copy_stdin").kill_on_drop(), ".kill_on_drop()", "no handle to drop"),
        (helper("copy_stdin").input("x"), ".input()", "the previous stage's stdout"),
    ],
    ids=["timeout", "grace", "retry", "kill_on_drop", "input"],
)
def test_a_stage_option_a_pipeline_cannot_apply_is_refused(
    stage: Command, option: str, instead: str
) -> None:
    refusal = rf"^{re.escape(option)} on stage 1 \(`.*copy_stdin.py`\) of a pipeline is not applied"
    with pytest.raises(corral.InvalidSpec, match=refusal):
        helper("echo_lines", "1") | stage
    with pytest.raises(corral.InvalidSpec, match=instead):
        Pipeline([helper("echo_lines", "1"), stage])
