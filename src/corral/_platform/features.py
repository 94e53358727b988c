"""What this machine can do, probed once, with overrides so fallbacks run in tests.

Code above `_platform` never checks `sys.platform`; it asks `features()` and gets a
`FeatureStatus` that says whether a feature is there and, if not, why and what it
needs. `override()` forces a feature off (or on) for a block, which is how the tests
run the SIGCHLD-free waiter-thread path and the shell chdir path on Linux.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from corral._errors import UnsupportedFeature


class Feature(enum.Enum):
    """A capability of the machine that some corral behaviour depends on."""

    PIDFD = "pidfd"
    """Process exit as a pollable file descriptor (Linux 5.3+ `pidfd_open`)."""

    PIDFD_EXIT_INFO = "pidfd-exit-info"
    """The exit status of a reaped child read from its pidfd (`PIDFD_GET_INFO` with
    `PIDFD_INFO_EXIT`, Linux 6.15+): a status something else collected is recovered."""

    PROC_SCAN = "proc-scan"
    """Finding a process tree's members, even double-forked ones, through /proc."""

    SPAWN_CHDIR = "spawn-chdir"
    """`posix_spawn_file_actions_addchdir_np`: a working directory without a fork."""

    SPAWN_CLOSEFROM = "spawn-closefrom"
    """`posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+): a child closes every stray
    fd at a cost that does not grow with how many fds we hold."""

    FD_LISTING = "fd-listing"
    """`/proc/self/fd` lists our open fds, so a spawn finds the stray inheritable ones
    without probing every fd number."""

    RENAME_EXCHANGE = "rename-exchange"
    """`renameat2(RENAME_EXCHANGE)` (Linux 3.15+, glibc 2.28+): a log rotates without
    its name ever missing (where the filesystem can exchange; else a rename chain)."""

    SUBREAPER = "subreaper"
    """`PR_SET_CHILD_SUBREAPER`: orphans of our children are re-parented to us."""

    APPARMOR = "apparmor"
    """AppArmor enabled in this kernel, with apparmor_parser to load a profile."""

    NO_NEW_PRIVS = "no-new-privs"
    """`PR_SET_NO_NEW_PRIVS` (Linux 3.5)."""

    CAPABILITIES = "capabilities"
    """Dropping capabilities: bounding set, capset, ambient set (Linux 4.3)."""

    CGROUPS = "cgroups"
    """A cgroup hierarchy we may create cgroups in (v2, or v1 controllers)."""

    CGROUP_MEMORY = "cgroup-memory"
    """The memory controller: memory max/high/swap limits and OOM accounting."""

    CGROUP_CPU = "cgroup-cpu"
    """The cpu controller: CPU quota and weight."""

    CGROUP_PIDS = "cgroup-pids"
    """The pids controller: a cap on processes and threads."""

    SECCOMP = "seccomp"
    """seccomp filters through libseccomp (libseccomp.so.2)."""

    NS_PID = "ns-pid"
    """Pid namespaces."""

    NS_NET = "ns-net"
    """Network namespaces."""

    NS_MOUNT = "ns-mount"
    """Mount namespaces (private /tmp, read-only binds, hidden paths, chroot)."""

    NS_UTS = "ns-uts"
    """UTS namespaces (a hostname of its own)."""

    NS_IPC = "ns-ipc"
    """IPC namespaces."""

    NS_USER = "ns-user"
    """User namespaces."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureStatus:
    """Whether a feature is available, and if not, why and what it would need."""

    feature: Feature
    supported: bool
    reason: str = ""
    needs: str = ""

    def require(self) -> None:
        """Raise `UnsupportedFeature` unless the feature is supported."""
        if not self.supported:
            raise UnsupportedFeature(self.feature.value, reason=self.reason, needs=self.needs)


def _probe_pidfd() -> FeatureStatus:
    if not hasattr(os, "pidfd_open"):
        return _missing(Feature.PIDFD, "os.pidfd_open is absent", "Linux 5.3+ and Python 3.9+")
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError as exc:
        return _missing(Feature.PIDFD, f"pidfd_open failed: {exc}", "Linux 5.3+")
    return FeatureStatus(feature=Feature.PIDFD, supported=True)


def _probe_pidfd_exit_info() -> FeatureStatus:
    if not _probe_pidfd().supported:
        return _missing(Feature.PIDFD_EXIT_INFO, "no pidfds", "Linux 6.15+")
    release = os.uname().release.split("-")[0].split(".")
    try:
        version = (int(release[0]), int(release[1]))
    except (IndexError, ValueError):
        version = (0, 0)
    if version < (6, 15):
        return _missing(
            Feature.PIDFD_EXIT_INFO, f"kernel {os.uname().release} predates 6.15", "Linux 6.15+"
        )
    return FeatureStatus(feature=Feature.PIDFD_EXIT_INFO, supported=True)


def _probe_proc_scan() -> FeatureStatus:
    if not sys.platform.startswith("linux"):
        return _missing(Feature.PROC_SCAN, f"platform is {sys.platform}", "Linux /proc")
    if not os.path.exists(f"/proc/{os.getpid()}/environ"):
        return _missing(Feature.PROC_SCAN, "/proc is not mounted", "a mounted /proc")
    return FeatureStatus(feature=Feature.PROC_SCAN, supported=True)


def _probe_spawn_chdir() -> FeatureStatus:
    from corral._platform import libc

    if libc.symbol("posix_spawn_file_actions_addchdir_np") is None:
        return _missing(
            Feature.SPAWN_CHDIR,
            "libc has no posix_spawn_file_actions_addchdir_np",
            "glibc 2.29+ or musl 1.1.24+",
        )
    return FeatureStatus(feature=Feature.SPAWN_CHDIR, supported=True)


def _probe_spawn_closefrom() -> FeatureStatus:
    from corral._platform import libc

    if libc.symbol("posix_spawn_file_actions_addclosefrom_np") is None:
        return _missing(
            Feature.SPAWN_CLOSEFROM,
            "libc has no posix_spawn_file_actions_addclosefrom_np",
            "glibc 2.34+",
        )
    return FeatureStatus(feature=Feature.SPAWN_CLOSEFROM, supported=True)


def _probe_fd_listing() -> FeatureStatus:
    if not os.path.isdir("/proc/self/fd"):
        return _missing(Feature.FD_LISTING, "/proc/self/fd does not exist", "a mounted /proc")
    return FeatureStatus(feature=Feature.FD_LISTING, supported=True)


def _probe_rename_exchange() -> FeatureStatus:
    if not sys.platform.startswith("linux"):
        return _missing(Feature.RENAME_EXCHANGE, f"platform is {sys.platform}", "Linux 3.15+")
    from corral._platform.linux import exchange

    if not exchange.available():
        return _missing(Feature.RENAME_EXCHANGE, "libc has no renameat2", "glibc 2.28+")
    return FeatureStatus(feature=Feature.RENAME_EXCHANGE, supported=True)


def _probe_subreaper() -> FeatureStatus:
    if not sys.platform.startswith("linux"):
        return _missing(Feature.SUBREAPER, f"platform is {sys.platform}", "Linux 3.4+")
    return FeatureStatus(feature=Feature.SUBREAPER, supported=True)


def _probe_apparmor() -> FeatureStatus:
    if not sys.platform.startswith("linux"):
        return _missing(Feature.APPARMOR, f"platform is {sys.platform}", "Linux with AppArmor")
    try:
        with open("/sys/module/apparmor/parameters/enabled", encoding="ascii") as flag:
            enabled = flag.read().strip() == "Y"
    except OSError:
        return _missing(
            Feature.APPARMOR,
            "this kernel has no AppArmor (/sys/module/apparmor is absent)",
            "a kernel built with AppArmor, booted with it enabled",
        )
    if not enabled:
        return _missing(Feature.APPARMOR, "AppArmor is disabled", "boot with apparmor=1")
    import shutil  # only for this probe

    if shutil.which("apparmor_parser", path=os.defpath + ":/usr/sbin:/sbin") is None:
        return _missing(Feature.APPARMOR, "apparmor_parser is not installed", "package apparmor")
    return FeatureStatus(feature=Feature.APPARMOR, supported=True)


def _probe_linux_prctl(feature: Feature, needs: str) -> FeatureStatus:
    if not sys.platform.startswith("linux"):
        return _missing(feature, f"platform is {sys.platform}", needs)
    return FeatureStatus(feature=feature, supported=True)


def _probe_delegated(feature: Feature) -> FeatureStatus:
    """Probes that need a subsystem's own module live with that module."""
    if not sys.platform.startswith("linux"):
        return _missing(feature, f"platform is {sys.platform}", "Linux")
    from corral._platform.linux.probes import probe

    return probe(feature)


def _delegate(feature: Feature) -> Callable[[], FeatureStatus]:
    return lambda: _probe_delegated(feature)


def _missing(feature: Feature, reason: str, needs: str) -> FeatureStatus:
    return FeatureStatus(feature=feature, supported=False, reason=reason, needs=needs)


_PROBES: dict[Feature, Callable[[], FeatureStatus]] = {
    Feature.PIDFD: _probe_pidfd,
    Feature.PIDFD_EXIT_INFO: _probe_pidfd_exit_info,
    Feature.PROC_SCAN: _probe_proc_scan,
    Feature.SPAWN_CHDIR: _probe_spawn_chdir,
    Feature.SPAWN_CLOSEFROM: _probe_spawn_closefrom,
    Feature.FD_LISTING: _probe_fd_listing,
    Feature.RENAME_EXCHANGE: _probe_rename_exchange,
    Feature.SUBREAPER: _probe_subreaper,
    Feature.APPARMOR: _probe_apparmor,
    Feature.NO_NEW_PRIVS: lambda: _probe_linux_prctl(Feature.NO_NEW_PRIVS, "Linux 3.5+"),
    Feature.CAPABILITIES: lambda: _probe_linux_prctl(Feature.CAPABILITIES, "Linux 4.3+"),
    **{
        feature: _delegate(feature)
        for feature in (
            Feature.CGROUPS,
            Feature.CGROUP_MEMORY,
            Feature.CGROUP_CPU,
            Feature.CGROUP_PIDS,
            Feature.SECCOMP,
            Feature.NS_PID,
            Feature.NS_NET,
            Feature.NS_MOUNT,
            Feature.NS_UTS,
            Feature.NS_IPC,
            Feature.NS_USER,
        )
    },
}
_probed: dict[Feature, FeatureStatus] = {}
_overrides: dict[Feature, FeatureStatus] = {}


def status(feature: Feature) -> FeatureStatus:
    """The (cached) status of one feature, honouring overrides."""
    forced = _overrides.get(feature)
    if forced is not None:
        return forced
    found = _probed.get(feature)
    if found is None:
        found = _probed[feature] = _PROBES[feature]()
    return found


def has(feature: Feature) -> bool:
    """Shorthand for `status(feature).supported`; used on hot paths."""
    forced = _overrides.get(feature)
    if forced is not None:
        return forced.supported
    found = _probed.get(feature)
    return (found if found is not None else status(feature)).supported


def features() -> dict[Feature, FeatureStatus]:
    """Every feature and its status on this machine."""
    return {feature: status(feature) for feature in Feature}


@contextmanager
def override(feature: Feature, supported: bool) -> Iterator[None]:
    """Force a feature on or off inside the block (tests use it to run fallbacks)."""
    previous = _overrides.get(feature)
    _overrides[feature] = FeatureStatus(
        feature=feature,
        supported=supported,
        reason="" if supported else "switched off by corral.lowlevel.override_feature",
        needs="" if supported else "the override to be lifted",
    )
    try:
        yield
    finally:
        if previous is None:
            del _overrides[feature]
        else:
            _overrides[feature] = previous
