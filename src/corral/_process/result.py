"""What a finished process did: Result for one process, PipelineResult for a pipeline."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from corral._errors import format_command, shorten


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    """The outcome of one process: how it ended, how long it ran, what it printed."""

    argv: tuple[str, ...]
    """The command as it was given."""
    pid: int
    """The process id it ran as."""
    exit_code: int | None
    """Its exit code, or None when a signal ended it."""
    signal_name: str | None
    """The name of the signal that ended it ("SIGKILL"), or None when it exited."""
    duration: float
    """Seconds from spawn to exit, measured on the monotonic clock."""
    stdout: bytes = b""
    """Captured stdout (empty unless stdout was captured); lines already read are not repeated."""
    stderr: bytes = b""
    """Captured stderr (empty unless stderr was captured)."""
    timed_out: bool = False
    """Whether corral ended it because its timeout passed."""
    oom_killed: bool = False
    """Whether the kernel's OOM killer ended it (the sandbox's cgroup counted an OOM kill)."""
    status_unknown: bool = False
    """It exited, but how is lost: something else collected its status (a stray
    `os.waitpid`, a host application's SIGCHLD handler) and the kernel kept no copy
    (it does from Linux 6.15, and corral reads it there). Never `ok`."""

    @property
    def command(self) -> str:
        """The command as a shell user would type it."""
        return shlex.join(self.argv)

    @property
    def ok(self) -> bool:
        """Exit code 0, no signal, no timeout."""
        return self.exit_code == 0 and not self.timed_out

    @property
    def stdout_text(self) -> str:
        """stdout decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        """stderr decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stderr.decode("utf-8", "replace")

    @property
    def how(self) -> str:
        """ "exit 3", "SIGKILL", "OOM-killed (SIGKILL)" or "exit status unknown"."""
        if self.status_unknown:
            return "exit status unknown"
        if self.signal_name:
            return f"OOM-killed ({self.signal_name})" if self.oom_killed else self.signal_name
        return f"exit {self.exit_code}"

    def __repr__(self) -> str:
        extra = " timed-out" if self.timed_out else ""
        return (
            f"<Result {format_command(self.argv)!r} pid={self.pid} {self.how}{extra} "
            f"duration={self.duration:.3f}s stdout={len(self.stdout)}B stderr={len(self.stderr)}B>"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineResult:
    """The outcome of a pipeline: every stage's Result, and the pipefail verdict.

    Like bash's `set -o pipefail`, the pipeline's status is that of the rightmost
    stage that failed, or success when every stage succeeded. `stdout` is the last
    stage's; `stderr` joins every stage's in stage order.
    """

    stages: tuple[Result, ...]
    """One Result per stage, left to right."""
    failed_stage: int | None
    """Index of the stage whose status the pipeline takes (pipefail), or None."""

    @property
    def _deciding(self) -> Result:
        return self.stages[-1 if self.failed_stage is None else self.failed_stage]

    @property
    def argv(self) -> tuple[str, ...]:
        """The deciding stage's argv."""
        return self._deciding.argv

    @property
    def command(self) -> str:
        """The pipeline as a shell user would type it."""
        return " | ".join(stage.command for stage in self.stages)

    @property
    def pid(self) -> int:
        """The deciding stage's pid."""
        return self._deciding.pid

    @property
    def exit_code(self) -> int | None:
        """The pipefail exit code (None when the deciding stage was signalled)."""
        return self._deciding.exit_code

    @property
    def signal_name(self) -> str | None:
        """The signal that ended the deciding stage, if any."""
        return self._deciding.signal_name

    @property
    def oom_killed(self) -> bool:
        """Whether the OOM killer ended the deciding stage."""
        return self._deciding.oom_killed

    @property
    def status_unknown(self) -> bool:
        """Whether the deciding stage's exit status is lost (see `Result.status_unknown`)."""
        return self._deciding.status_unknown

    @property
    def duration(self) -> float:
        """The longest stage's duration."""
        return max(stage.duration for stage in self.stages)

    @property
    def timed_out(self) -> bool:
        """Whether the pipeline's timeout passed."""
        return any(stage.timed_out for stage in self.stages)

    @property
    def stdout(self) -> bytes:
        """The last stage's captured stdout."""
        return self.stages[-1].stdout

    @property
    def stderr(self) -> bytes:
        """Every stage's captured stderr, in stage order."""
        return b"".join(stage.stderr for stage in self.stages)

    @property
    def ok(self) -> bool:
        """Every stage succeeded and nothing timed out."""
        return self.failed_stage is None and not self.timed_out

    @property
    def stdout_text(self) -> str:
        """The last stage's stdout, decoded as UTF-8."""
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        """All stages' stderr, decoded as UTF-8."""
        return self.stderr.decode("utf-8", "replace")

    def __repr__(self) -> str:
        hows = ", ".join(stage.how for stage in self.stages)
        command = shorten(" | ".join(format_command(stage.argv) for stage in self.stages))
        return f"<PipelineResult {command!r} [{shorten(hows)}] failed_stage={self.failed_stage}>"
