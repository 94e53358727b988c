"""Builds the read model (`_supervisor.view`) from the drivers: once per request.

The only code that reads a driver for reporting. `instance_view` takes the
measurements a surface paid for (the tree usage read for `status`, the cgroup files)
and leaves the rest None, so the state file, written on every change, reads no files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from corral._lifecycle.health import Health
from corral._supervisor.runtime.driver import LIVE, InstanceDriver
from corral._supervisor.view import (
    ExposureView,
    HealthResultView,
    HealthView,
    InspectView,
    InstanceView,
    OpenFileView,
    ProcessView,
    SampleView,
    SecurityView,
    TreeView,
)

if TYPE_CHECKING:
    from corral._observe.metrics.sampler import Sample
    from corral._observe.sampling import Usage
    from corral._platform import OpenFile, ProcessInfo
    from corral._process.tree import Tree
    from corral._sandbox.exposure import Assessment


def instance_view(
    driver: InstanceDriver,
    *,
    now: float,
    usage: Usage | None = None,
    sample: Sample | None = None,
    cgroup: bool = False,
) -> InstanceView:
    """The view of one instance; `now` is the loop clock, `cgroup` reads its cgroup files."""
    machine = driver.machine
    live = machine.state in LIVE
    uptime = round(max(0.0, now - machine.since), 3) if live else None  # ms: a short repr
    cpu = None if usage is None else usage.cpu_seconds
    return InstanceView(
        name=driver.name,
        program=driver.program.name,
        state=machine.state.value,
        pid=driver.live_pid,
        uptime=uptime,
        restarts=machine.restarts,
        last_exit=None if machine.last_exit is None else machine.last_exit.describe(),
        reason=machine.reason or "",
        cpu_seconds=cpu,
        cpu_percent=_cpu_percent(cpu, uptime, sample),
        memory_rss=None if usage is None else usage.rss_bytes,
        processes=None if usage is None else usage.processes,
        limits=driver.limits(),
        cgroup=driver.cgroup_usage() if cgroup and live else None,
        log_dropped_bytes=driver.log_dropped_bytes,
        sample=None if sample is None else sample_view(sample),
        tree=None if (tree := driver.tree) is None else tree_view(tree),
        notify=None if (readiness := driver.readiness) is None else readiness.view(),
        health=None if (health := driver.health) is None else health_view(driver, health, now),
        state_age=round(max(0.0, now - machine.since), 3),
    )


def health_view(driver: InstanceDriver, health: Health, now: float) -> HealthView:
    """The health of an instance's process: state, streak and the last results."""
    check = driver.program.restart.health
    assert check is not None
    if check.exec is not None:
        import shlex  # only for an exec check: a daemon without one never loads it

        target = shlex.join(check.exec)
    else:
        target = check.http or check.tcp or ""
    return HealthView(
        kind=check.kind,
        target=target,
        state=health.state,
        streak=health.streak,
        results=tuple(
            HealthResultView(ago=round(max(0.0, now - r.at), 3), ok=r.ok, output=r.output)
            for r in health.results
        ),
    )


def _cpu_percent(cpu: float | None, uptime: float | None, sample: Sample | None) -> float | None:
    """CPU use over the sampler's last interval, else the average since start."""
    if cpu is None:
        return None
    if sample is not None and sample.cpu_percent is not None:
        return sample.cpu_percent
    return round(100.0 * cpu / uptime, 1) if uptime else None


def sample_view(sample: Sample) -> SampleView:
    """The view of one sampler reading."""
    return SampleView(
        cpu_percent=sample.cpu_percent,
        cpu_seconds=sample.cpu_seconds,
        memory_rss=sample.rss_bytes,
        processes=sample.processes,
        fds=sample.fds,
    )


def tree_view(tree: Tree) -> TreeView:
    """The view of one process tree: what names it in the state file."""
    paths: tuple[str, ...] = tuple(getattr(tree.cgroup, "paths", ()))
    return TreeView(
        root=tree.root, pgid=tree.pgid, marker=tree.marker.decode("latin-1"), cgroup=paths
    )


SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSW|PASSPHRASE|PWD$|KEY|CREDENTIAL|AUTH|COOKIE|SESSION")
"""Environment names whose values `inspect` masks (matched upper-cased, anywhere)."""
MASK = "***"


def inspect_view(
    driver: InstanceDriver,
    processes: Sequence[ProcessInfo],
    *,
    cgroup: dict[str, int | float | None] | None,
    notes: Sequence[str] = (),
) -> InspectView:
    """The snapshot of one instance's tree, secrets masked."""
    return InspectView(
        name=driver.name,
        program=driver.program.name,
        state=driver.machine.state.value,
        pid=driver.live_pid,
        processes=tuple(process_view(info) for info in processes),
        cgroup=cgroup,
        notes=tuple(notes),
    )


def security_view(
    driver: InstanceDriver, assessment: Assessment, pid: int | None, notes: Sequence[str]
) -> SecurityView:
    """`corral security` of one instance: open checks first, heaviest first."""
    ordered = sorted(assessment.exposures, key=lambda e: (not e.exposed, -e.weight))
    return SecurityView(
        name=driver.name,
        program=driver.program.name,
        pid=pid,
        score=assessment.score,
        rating=assessment.rating,
        exposures=tuple(
            ExposureView(
                check=e.check,
                description=e.description,
                exposed=e.exposed,
                weight=e.weight,
                key=e.key,
                source=e.source,
            )
            for e in ordered
        ),
        notes=tuple(notes),
    )


def process_view(info: ProcessInfo) -> ProcessView:
    """One process's snapshot as the read model shows it."""
    return ProcessView(
        pid=info.pid,
        ppid=info.ppid,
        state=info.state,
        wchan=info.wchan,
        cmdline=tuple(info.cmdline),
        exe=info.exe,
        cwd=info.cwd,
        uids=tuple(info.uids),
        gids=tuple(info.gids),
        threads=info.threads,
        fds=tuple(_fd_view(item) for item in info.fds),
        limits={name: f"{soft} / {hard}" for name, (soft, hard) in info.limits.items()},
        namespaces=dict(info.namespaces),
        cgroups=tuple(info.cgroups),
        capabilities=dict(info.capabilities),
        seccomp=info.seccomp,
        no_new_privs=info.no_new_privs,
        environment={
            name: MASK if SECRET_NAME.search(name.upper()) else value
            for name, value in info.environment.items()
        },
        gone=info.gone,
    )


def _fd_view(item: OpenFile) -> OpenFileView:
    socket = item.socket
    if socket is None:
        return OpenFileView(fd=item.fd, kind=item.kind, target=item.target)
    return OpenFileView(
        fd=item.fd,
        kind=item.kind,
        target=item.target,
        remote=socket.remote,
        listening=socket.listening,
    )
