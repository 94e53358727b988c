"""Program: one supervised program as a frozen, validated value.

The config file, the API and the library all build the same objects; reload
compares them by value, so a program whose spec did not change is not touched.
How an instance restarts is lifecycle, not configuration, and lives below the pool
(`corral._lifecycle.policy`); a Program holds its `RestartPolicy`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from corral._errors import InvalidSpec
from corral._lifecycle.health import HealthCheck, parse_probe_address
from corral._lifecycle.policy import RestartPolicy
from corral._process.spec import ProcessSpec, listen_fds_end
from corral._supervisor.model.index_template import parse_template, substitute

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

NAME_MAX = 255
"""Bytes a file name may have (Linux NAME_MAX on every common filesystem)."""


def notification_fd(program: Program) -> int:
    """The fd number a `notify = "fd"` program writes its readiness newline to.

    3 plus the number of sockets the program is handed (fds 3, 4, ... come first): the
    one place that number is computed.
    """
    return listen_fds_end(len(program.sockets))


def log_file_name(program: str, index: int, stream: str) -> str:
    """The log file of one instance's stream under log_dir: NAME.INDEX.STREAM.log."""
    return f"{program}.{index}.{stream}.log"


@dataclass(frozen=True, slots=True, kw_only=True)
class LogPolicy:
    """How an instance's stdout and stderr are written under the daemon's log_dir."""

    timestamps: bool = True
    """Prefix each line with the time it arrived."""
    max_bytes: int = 10 * 1024 * 1024
    """Rotate a log file when it would grow past this size; 0 never rotates."""
    backups: int = 5
    """Rotated files kept (name.log.1 ... name.log.N)."""

    def __post_init__(self) -> None:
        if self.max_bytes < 0:
            raise InvalidSpec(f"log max_bytes must be >= 0, got {self.max_bytes}")
        if self.backups < 0:
            raise InvalidSpec(f"log backups must be >= 0, got {self.backups}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Program:
    """A supervised program: what to run, how many, and the policies that keep it alive."""

    name: str
    """Unique name; instances are named NAME:0 ... NAME:N-1."""
    process: ProcessSpec
    """argv, cwd, environment and stop signal (stdio is owned by the daemon's log capture)."""
    numprocs: int = 1
    """Number of instances."""
    autostart: bool = True
    """Start when the daemon starts (or when the program is added by a reload)."""
    priority: int = 999
    """Lower starts first and stops last."""
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    """Restart policy."""
    stop_timeout: float = 10.0
    """Seconds after the stop signal before SIGKILL goes to the whole tree."""
    logs: LogPolicy = field(default_factory=LogPolicy)
    """Log capture policy."""
    depends_on: tuple[tuple[str, str], ...] = ()
    """(program, condition) pairs, sorted: each must be started, healthy or completed
    before this program starts (`_supervisor/model/dependencies.py`)."""
    on_dependency_failure: str = "stop"
    """What happens to this program when a dependency fails while it runs: stop it,
    restart it once the dependency is back, or ignore it."""
    max_unavailable: int = 1
    """Instances a rolling restart (`corral restart --rolling`) takes down at a time: the
    next batch stops only once this one is RUNNING again."""
    sockets: tuple[str, ...] = ()
    """Names of `[sockets.NAME]` the daemon hands every instance, as fds 3, 4, ... in this
    order, with LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set (systemd's socket
    activation); fds of the program's own come after them, from
    `corral._process.spec.listen_fds_end(len(sockets))`."""
    restart_on: tuple[tuple[str, str, float], ...] = ()
    """(metric, threshold, seconds) pairs, sorted: restart an instance whose metric stays
    above the threshold that long (`restart_on = { memory = "512M" }`; docs/alerts.md)."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidSpec(
                f"program name {self.name!r} must start with a letter, digit or _ and "
                "contain only letters, digits, _ . -"
            )
        if self.numprocs < 1:
            raise InvalidSpec(f"numprocs must be >= 1, got {self.numprocs}")
        if self.max_unavailable < 1:
            raise InvalidSpec(f"max_unavailable must be >= 1, got {self.max_unavailable}")
        self._check_log_names()
        self._check_templates()
        repeated = sorted({name for name in self.sockets if self.sockets.count(name) > 1})
        if repeated:
            raise InvalidSpec(f"sockets names {', '.join(repeated)} more than once")
        if self.stop_timeout < 0:
            raise InvalidSpec(f"stop_timeout must be >= 0, got {self.stop_timeout}")

    def _check_log_names(self) -> None:
        """The longest file name the logs get (last instance, oldest backup) must fit NAME_MAX.

        Checked here so a config naming such a program is refused at load, not at start.
        """
        longest = log_file_name(self.name, self.numprocs - 1, "stdout")
        if self.logs.backups:
            longest += f".{self.logs.backups}"
        size = len(longest.encode())
        if size > NAME_MAX:
            raise InvalidSpec(
                f"program name of {len(self.name)} bytes is too long: its log file name "
                f"would be {size} bytes, and a file name has at most {NAME_MAX}"
            )

    def _check_templates(self) -> None:
        """Every `{index}` expression of argv, environment values and the health check's
        target parses, and the probe address it makes for each instance is one (InvalidSpec)."""
        for text in (*self.process.argv, *(value for _, value in self.process.env_add)):
            if "index" in text:
                parse_template(text)
        check = self.restart.health
        for text in () if check is None or check.exec is None else check.exec:
            if "index" in text:
                parse_template(text)
        if check is not None and check.exec is None:
            for index in {0, self.numprocs - 1}:
                self.instance_health(index)

    def instance_health(self, index: int) -> HealthCheck | None:
        """The health check of instance `index`: `{index}` substituted in its target."""
        check = self.restart.health
        if check is None:
            return None
        if check.exec is not None:
            argv = tuple(substitute(arg, index) for arg in check.exec)
            return check if argv == check.exec else dataclasses.replace(check, exec=argv)
        if check.http is not None:
            address = substitute(check.http, index)
            parse_probe_address("http", address)  # InvalidSpec naming what is wrong with it
            return check if address == check.http else dataclasses.replace(check, http=address)
        assert check.tcp is not None
        address = substitute(check.tcp, index)
        parse_probe_address("tcp", address)
        return check if address == check.tcp else dataclasses.replace(check, tcp=address)

    def instance_process(self, index: int) -> ProcessSpec:
        """The process of instance `index`: `{index}` substituted in argv and environment values.

        The spec itself is returned when nothing in it varies, so most spawns build nothing.
        """
        spec = self.process
        argv = tuple(substitute(arg, index) for arg in spec.argv)
        env_add = tuple((name, substitute(value, index)) for name, value in spec.env_add)
        if argv == spec.argv and env_add == spec.env_add:
            return spec
        return dataclasses.replace(spec, argv=argv, env_add=env_add)

    def instance_names(self) -> list[str]:
        """NAME:0 ... NAME:N-1."""
        return [self.instance_name(index) for index in range(self.numprocs)]

    def instance_name(self, index: int) -> str:
        """NAME:INDEX, the name of one instance."""
        return f"{self.name}:{index}"
