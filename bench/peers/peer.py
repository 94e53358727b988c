"""The seam between workloads and supervisors: `Program`, the `Adapter` protocol, `Session`.

A workload describes its programs once, as `Program` values; each adapter turns them
into its supervisor's own configuration, with the fastest restart that supervisor
allows and log rotation off. A `Session` is one daemon's life: write the config,
launch the daemon, wait until its CLI answers, let the workload act, then shut the
daemon down through its own CLI and prove by pid (and start time) that the daemon and
everything under it are gone. Anything still alive after that is SIGKILLed by pid and
reported as a leak; the harness never kills by name.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench.peers import procfs
from bench.peers.report import Results

READY_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 300.0
GONE_TIMEOUT = 60.0
_DROPPED_ENV = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "CORRAL_SOCKET", "PM2_HOME")
"""Removed from every measured command's environment: users get byte-compiled start-up."""
MARKER = "CORRAL_BENCH_PEERS_RUN"
"""Put in every session's environment; after shutdown, any process holding it is a leak."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Program:
    """One supervised program, as every adapter must configure it."""

    name: str
    argv: tuple[str, ...]
    """The command line; argv[0] is an absolute path, so no peer searches PATH."""
    numprocs: int = 1
    restart: bool = False
    """True: restart after every exit, as fast as the peer allows. False: never restart."""


class Adapter(Protocol):
    """How to configure and drive one supervisor; every method is cheap and pure-ish."""

    name: str
    """Variant key in results: corral, corral-ts, supervisord, circus, pm2."""
    label: str
    """Human name in tables."""

    def config_files(self, run: Path, programs: Sequence[Program]) -> dict[Path, str]:
        """The configuration files (path -> text) for these programs in run dir `run`."""
        ...

    def launch_argv(self, run: Path) -> list[str] | None:
        """The daemon in the foreground, or None when `ready_argv` starts it (PM2)."""
        ...

    def ready_argv(self, run: Path) -> list[str]:
        """A CLI command that exits 0 once the daemon answers."""
        ...

    def daemon_pids(self, run: Path, launched: int | None) -> list[int]:
        """The supervisor's own processes (not its children)."""
        ...

    def stdout_log(self, run: Path, program: Program) -> Path:
        """Where the first instance's stdout is written."""
        ...

    def start_argv(self, run: Path, program: Program) -> list[str]: ...

    def stop_all_argv(self, run: Path) -> list[str]: ...

    def status_argv(self, run: Path) -> list[str]: ...

    def shutdown_argv(self, run: Path) -> list[str]: ...

    def env(self, run: Path) -> dict[str, str]:
        """Variables added to every command's environment (PM2_HOME)."""
        ...

    def api_status(self, run: Path, calls: int) -> list[float]:
        """Seconds per status call through the peer's API, on one kept connection."""
        ...


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ without the variables in _DROPPED_ENV, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update(extra or {})
    return env


@dataclass(frozen=True, slots=True)
class Timed:
    """One CLI command: wall seconds, exit status, output."""

    seconds: float
    returncode: int
    output: bytes


class SessionError(RuntimeError):
    """The daemon did not come up, or a command it needed failed."""


@dataclass
class Cleanup:
    """What shutting a session down found."""

    shutdown: Timed | None = None
    leaked: list[str] = field(default_factory=list)


class Session:
    """One daemon of one adapter, from config to verified shutdown; a context manager."""

    def __init__(self, adapter: Adapter, programs: Sequence[Program], run: Path) -> None:
        self.adapter = adapter
        self.programs = tuple(programs)
        self.run = run
        self.marker = f"{MARKER}={run}"
        self.env = clean_env({**adapter.env(run), MARKER: str(run)})
        self.daemons: list[procfs.Proc] = []
        self.cleanup = Cleanup()
        self._popen: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        pids = ",".join(str(p.pid) for p in self.daemons)
        return f"<Session {self.adapter.name} daemons={pids or '-'} run={self.run}>"

    def __enter__(self) -> Session:
        try:
            self._launch()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.daemons]

    def _launch(self) -> None:
        if self.run.exists():
            shutil.rmtree(self.run)
        (self.run / "logs").mkdir(parents=True)
        for path, text in self.adapter.config_files(self.run, self.programs).items():
            path.write_text(text)
        argv = self.adapter.launch_argv(self.run)
        if argv is not None:
            with (self.run / "daemon.out").open("wb") as out:
                self._popen = subprocess.Popen(
                    argv,
                    cwd=self.run,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        self._wait_ready()
        launched = None if self._popen is None else self._popen.pid
        found = (procfs.Proc.of(pid) for pid in self.adapter.daemon_pids(self.run, launched))
        self.daemons = [p for p in found if p is not None]
        if not self.daemons:
            raise SessionError(f"{self.adapter.name}: no daemon process found")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last = b""
        while time.monotonic() < deadline:
            if self._popen is not None and self._popen.poll() is not None:
                log = (self.run / "daemon.out").read_bytes()[-2000:].decode(errors="replace")
                raise SessionError(f"{self.adapter.name} daemon exited at start:\n{log}")
            done = self.cli(self.adapter.ready_argv(self.run), timeout=30)
            if done.returncode == 0:
                return
            last = done.output
            time.sleep(0.1)
        raise SessionError(f"{self.adapter.name} did not answer: {last[-500:]!r}")

    def cli(self, argv: list[str], timeout: float = 600) -> Timed:
        """Run one CLI command to completion, timed, output captured."""
        start = time.perf_counter()
        try:
            done = subprocess.run(
                argv,
                cwd=self.run,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SessionError(f"`{' '.join(argv)}` did not finish in {timeout:.0f} s") from None
        return Timed(time.perf_counter() - start, done.returncode, done.stdout)

    def start(self, program: Program) -> Timed:
        done = self.cli(self.adapter.start_argv(self.run, program))
        if done.returncode != 0:
            raise SessionError(f"{self.adapter.name} start {program.name}: {done.output[-500:]!r}")
        return done

    def start_async(self, program: Program) -> subprocess.Popen[bytes]:
        """Start the CLI's start command without waiting for it."""
        return subprocess.Popen(
            self.adapter.start_argv(self.run, program),
            cwd=self.run,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def check_alive(self) -> None:
        """Raise SessionError if a daemon process has died since the session began."""
        dead = [p for p in self.daemons if not p.alive()]
        if dead:
            pids = ", ".join(str(p.pid) for p in dead)
            raise SessionError(f"{self.adapter.name} daemon died during the session (pid {pids})")

    def cpu_seconds(self) -> float:
        return procfs.cpu_seconds(self.pids)

    def rss_bytes(self) -> int:
        return procfs.rss_bytes(self.pids)

    def close(self) -> None:
        """Shut the daemon down through its CLI; verify by pid; SIGKILL and report leftovers."""
        launched = [] if self._popen is None else [self._popen.pid]
        tracked = procfs.descendants(self.pids or launched)
        if tracked or self._popen is None:
            try:
                self.cleanup.shutdown = self.cli(
                    self.adapter.shutdown_argv(self.run), timeout=SHUTDOWN_TIMEOUT
                )
            except SessionError:
                self.cleanup.leaked.append("shutdown command timed out")
        left = procfs.wait_gone(tracked, GONE_TIMEOUT)
        left += [p for p in procfs.marked(self.marker.encode()) if p not in left]
        for proc in left:
            self.cleanup.leaked.append(f"{proc.name} pid {proc.pid}")
            proc.kill()
        for proc in procfs.wait_gone(left, GONE_TIMEOUT):
            self.cleanup.leaked.append(f"{proc.name} pid {proc.pid} survived SIGKILL")
        if self._popen is not None:
            try:
                self._popen.wait(timeout=GONE_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.cleanup.leaked.append(f"daemon pid {self._popen.pid} (killed)")
                self._popen.kill()
                self._popen.wait()
        if self.cleanup.leaked:
            LEAKS.append(f"{self.adapter.name}: {', '.join(self.cleanup.leaked)}")


LEAKS: list[str] = []
"""Every session's leftovers, for the final report; empty when cleanup was clean."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """What every workload needs: sizes, paths, the results and the shuffling rng."""

    quick: bool
    rounds: int
    lines: int
    """Lines the writer prints in the log workload."""
    idle: float
    """Seconds of idle CPU measurement in the scale workload."""
    sizes: tuple[int, ...]
    """Instance counts in the scale workload."""
    status_runs: int
    api_calls: int
    writer: Path
    runs: Path
    """Parent of the per-session run dirs."""
    configs: Path
    """Where each peer's configuration is kept beside the results."""
    results: Results
    rng: random.Random

    def keep_config(self, session: Session, workload: str) -> None:
        """Copy the session's config files to configs/WORKLOAD/PEER/ (first time only)."""
        target = self.configs / workload / session.adapter.name
        if target.exists():
            return
        target.mkdir(parents=True)
        for path in session.adapter.config_files(session.run, session.programs):
            shutil.copy(path, target / path.name)

    def progress(self, text: str) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)

    def failed(self, adapter: Adapter, workload: str, exc: SessionError) -> None:
        """Note a session that failed, keeping its daemon's output beside the results."""
        kept = self.configs.parent / "failures" / f"{adapter.name}-{workload}-{time.time_ns()}.out"
        kept.parent.mkdir(parents=True, exist_ok=True)
        output = self.runs / adapter.name / "daemon.out"
        if output.exists():
            shutil.copy(output, kept)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.results.note(f"{adapter.name}, {workload}: {first} (daemon output: {kept})")
        self.progress(f"{workload} {adapter.name}: FAILED: {first}")
