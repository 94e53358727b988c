"""How exposed a program is: `corral security NAME`, scored like `systemd-analyze security`.

Pure. Each check names one way a compromised program could reach beyond itself, a
weight for how much that matters, and the sandbox key that closes it. A check is
decided from what the running process has (read from /proc by the caller: uid,
capability sets, no_new_privs, seccomp mode, namespaces) where the kernel shows it,
and from the spec otherwise (limits, read-only paths, seccomp presets). The score is
the exposed share of the total weight, on 0 (closed) .. 10 (wide open).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from corral._platform import ProcessInfo
from corral._platform.sandbox_names import CAPABILITIES, lookup_user
from corral._sandbox.spec import Sandbox

_V = TypeVar("_V")

RATINGS: tuple[tuple[float, str], ...] = ((2.0, "OK"), (5.0, "MEDIUM"), (8.0, "EXPOSED"))
"""(highest score, rating) from the best down; above the last is UNSAFE."""

_WIDE_CAPABILITIES: tuple[tuple[str, int, str], ...] = (
    ("CAP_SYS_ADMIN", 3, "mount, namespaces, most of the system's administration"),
    ("CAP_SYS_MODULE", 3, "loading kernel modules: code in the kernel"),
    ("CAP_SYS_PTRACE", 2, "reading and changing any process's memory"),
    ("CAP_DAC_OVERRIDE", 2, "reading and writing any file, whatever its mode"),
    ("CAP_DAC_READ_SEARCH", 1, "reading any file, whatever its mode"),
    ("CAP_SETUID", 1, "becoming any user"),
    ("CAP_SETGID", 1, "joining any group"),
    ("CAP_SYS_RAWIO", 1, "raw access to devices and I/O ports"),
    ("CAP_NET_ADMIN", 1, "changing interfaces, routes and firewall rules"),
    ("CAP_BPF", 1, "loading BPF programs"),
    ("CAP_CHOWN", 1, "taking ownership of any file"),
    ("CAP_FOWNER", 1, "acting as the owner of any file"),
    ("CAP_KILL", 1, "signalling any process"),
    ("CAP_NET_RAW", 1, "raw sockets: forging packets, sniffing"),
    ("CAP_SYS_BOOT", 1, "rebooting the machine"),
    ("CAP_MKNOD", 1, "creating device nodes"),
    ("CAP_SYS_TIME", 1, "setting the system clock"),
)
"""Capabilities worth a check of their own: (name, weight, what it lets a program do).
Light one by one: a process without root and without a way back to it (no_new_privs)
holds none of them, so together they weigh about as much as running as root."""

_NAMESPACES: tuple[tuple[str, str, int, str], ...] = (
    ("net", "net", 5, "shares the host's network: every interface and port"),
    ("pid", "pid", 4, "sees and can signal the host's processes"),
    ("user", "user", 3, "root inside is root outside (no user namespace)"),
    ("ipc", "ipc", 2, "shares System V IPC and POSIX message queues with the host"),
    ("uts", "hostname", 1, "can change the host's hostname (with CAP_SYS_ADMIN)"),
)
"""(kind in /proc/PID/ns, key under sandbox.namespaces, weight, what sharing it exposes)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """What the running process has, as /proc shows it; None where it could not be read."""

    uid: int | None = None
    """Effective uid."""
    held: int | None = None
    """Capabilities it has or can raise without an exec: CapPrm | CapEff | CapAmb."""
    bounding: int | None = None
    """CapBnd: what an exec of a setuid or file-capability binary could give it."""
    no_new_privs: bool | None = None
    seccomp: str | None = None
    """disabled, strict or filter."""
    own_namespaces: frozenset[str] | None = None
    """The namespace kinds in which it differs from the daemon."""
    umask: int | None = None


def observe(process: ProcessInfo, daemon: ProcessInfo) -> Observed:
    """What `process` has, its namespaces compared with the `daemon`'s (both read by
    `corral._platform.process_credentials`); a part /proc did not show stays None."""
    caps = process.capabilities

    def mask(*keys: str) -> int | None:
        if not all(key in caps for key in keys):
            return None
        value = 0
        for key in keys:
            value |= int(caps[key], 16)
        return value

    own = None
    if process.namespaces and daemon.namespaces:
        own = frozenset(
            kind for kind, link in process.namespaces.items() if daemon.namespaces.get(kind) != link
        )
    return Observed(
        uid=process.uids[1] if len(process.uids) > 1 else None,
        held=mask("CapPrm", "CapEff", "CapAmb"),
        bounding=mask("CapBnd"),
        no_new_privs=process.no_new_privs if caps else None,
        seccomp=process.seccomp or None,
        own_namespaces=own,
        umask=process.umask,
    )


def weakest(seen: Sequence[Observed]) -> Observed | None:
    """One Observed for a tree of processes: for each fact, its most exposed member's
    (a child that regained root, or left a namespace, exposes the program)."""
    if not seen:
        return None

    def known(values: Iterable[_V | None]) -> list[_V]:
        return [value for value in values if value is not None]

    uids = known(s.uid for s in seen)
    helds, bounds = known(s.held for s in seen), known(s.bounding for s in seen)
    nnps, modes = known(s.no_new_privs for s in seen), known(s.seccomp for s in seen)
    owns, masks = known(s.own_namespaces for s in seen), known(s.umask for s in seen)
    return Observed(
        uid=(0 if 0 in uids else uids[0]) if uids else None,
        held=_union(helds),
        bounding=_union(bounds),
        no_new_privs=all(nnps) if nnps else None,
        seccomp=("disabled" if "disabled" in modes else modes[0]) if modes else None,
        own_namespaces=frozenset.intersection(*owns) if owns else None,
        umask=min(masks, key=lambda mask: (mask & 0o002, mask)) if masks else None,
    )


def _union(masks: Sequence[int]) -> int | None:
    if not masks:
        return None
    value = 0
    for mask in masks:
        value |= mask
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Exposure:
    """One check: what it looks at, whether the program is exposed, and how to close it."""

    check: str
    """A short, stable name ("root", "cap-sys-admin", "namespace-net")."""
    description: str
    exposed: bool
    weight: int
    key: str
    """The key under [programs.NAME] that closes it."""
    source: str
    """running (read from the live process) or config (from the sandbox spec)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Assessment:
    """Every check, the score and its rating."""

    exposures: tuple[Exposure, ...]
    score: float
    """0.0 (every check closed) .. 10.0 (every check exposed), one decimal."""
    rating: str


def assess(
    sandbox: Sandbox | None,
    observed: Observed | None,
    *,
    daemon_uid: int,
    daemon_umask: int,
) -> Assessment:
    """Score `sandbox` (None: unsandboxed), preferring what `observed` saw where it saw it.

    `daemon_uid` and `daemon_umask` are what a program inherits when its spec sets
    neither user nor umask.
    """
    facts = _Facts(sandbox or Sandbox(), observed or Observed(), daemon_uid, daemon_umask)
    exposures = [check(facts) for check in _CHECKS]
    exposures += [_capability(facts, *cap) for cap in _WIDE_CAPABILITIES]
    exposures += [_namespace(facts, *ns) for ns in _NAMESPACES]
    total = sum(e.weight for e in exposures)
    score = round(10 * sum(e.weight for e in exposures if e.exposed) / total, 1)
    return Assessment(exposures=tuple(exposures), score=score, rating=rating(score))


def rating(score: float) -> str:
    """OK, MEDIUM, EXPOSED or UNSAFE for a score."""
    for highest, name in RATINGS:
        if score <= highest:
            return name
    return "UNSAFE"


@dataclass(frozen=True, slots=True)
class _Facts:
    spec: Sandbox
    seen: Observed
    daemon_uid: int
    daemon_umask: int

    def uid(self) -> tuple[int | None, str]:
        if self.seen.uid is not None:
            return self.seen.uid, "running"
        identity = self.spec.identity
        user = identity.user if identity is not None else None
        if user is None:
            return self.daemon_uid, "config"
        entry = lookup_user(user)
        return (entry.pw_uid if entry is not None else None), "config"

    def no_new_privs(self) -> tuple[bool, str]:
        if self.seen.no_new_privs is not None:
            return self.seen.no_new_privs, "running"
        identity = self.spec.identity
        return (identity is not None and identity.no_new_privs) or self.spec.seccomp is not None, (
            "config"
        )

    def denies(self, syscall: str) -> bool:
        """Whether the spec's filter refuses `syscall` (the kernel does not show a
        filter's rules, so this is read from the spec)."""
        return self.spec.seccomp is not None and self.spec.seccomp.refuses(syscall)


def _root(facts: _Facts) -> Exposure:
    uid, source = facts.uid()
    return Exposure(
        check="root",
        description=f"runs as root (uid {uid})" if uid == 0 else f"runs as uid {uid}",
        exposed=uid == 0,
        weight=10,
        key="sandbox.user",
        source=source,
    )


def _new_privileges(facts: _Facts) -> Exposure:
    on, source = facts.no_new_privs()
    return Exposure(
        check="no-new-privs",
        description="exec can gain privileges (setuid binaries, file capabilities)"
        if not on
        else "exec can never gain privileges",
        exposed=not on,
        weight=5,
        key="sandbox.no_new_privs",
        source=source,
    )


def _filter(facts: _Facts) -> Exposure:
    if facts.seen.seccomp is not None:
        filtered, source = facts.seen.seccomp in ("filter", "strict"), "running"
    else:
        filtered, source = facts.spec.seccomp is not None, "config"
    return Exposure(
        check="seccomp",
        description="a system call filter is loaded" if filtered else "no system call filter",
        exposed=not filtered,
        weight=6,
        key="sandbox.seccomp",
        source=source,
    )


def _syscall_check(check: str, syscall: str, preset: str, weight: int, what: str) -> _Check:
    def decide(facts: _Facts) -> Exposure:
        denied = facts.denies(syscall)
        return Exposure(
            check=check,
            description=f"{what}: {'refused' if denied else 'allowed'} by the filter",
            exposed=not denied,
            weight=weight,
            key=f'sandbox.seccomp.presets = ["{preset}"]',
            source="config",
        )

    return decide


def _limit(check: str, key: str, weight: int, what: str, limit: str) -> _Check:
    """A check that the cgroup limit `limit` (a CgroupLimits field) is set."""

    def decide(facts: _Facts) -> Exposure:
        cgroup = facts.spec.cgroup
        limited = cgroup is not None and getattr(cgroup, limit) is not None
        return Exposure(
            check=check,
            description=f"{what}: {'limited' if limited else 'unlimited'}",
            exposed=not limited,
            weight=weight,
            key=key,
            source="config",
        )

    return decide


def _mounts(facts: _Facts) -> Exposure:
    ns = facts.spec.namespaces
    guarded = ns is not None and bool(ns.read_only or ns.root)
    return Exposure(
        check="read-only-paths",
        description="parts of the file system are read-only to it"
        if guarded
        else "can write wherever its user may (no read-only paths, no root)",
        exposed=not guarded,
        weight=3,
        key="sandbox.namespaces.read_only",
        source="config",
    )


def _tmp(facts: _Facts) -> Exposure:
    ns = facts.spec.namespaces
    private = ns is not None and (ns.private_tmp or ns.root is not None)
    return Exposure(
        check="private-tmp",
        description="has a /tmp of its own" if private else "shares the host's /tmp",
        exposed=not private,
        weight=2,
        key="sandbox.namespaces.private_tmp",
        source="config",
    )


def _umask(facts: _Facts) -> Exposure:
    identity = facts.spec.identity
    mask = identity.umask if identity is not None else None
    value, source = (facts.daemon_umask if mask is None else mask), "config"
    if facts.seen.umask is not None:
        value, source = facts.seen.umask, "running"
    return Exposure(
        check="umask",
        description=f"umask {value:03o}: "
        + ("new files are writable by everyone" if not value & 0o002 else "others cannot write"),
        exposed=not value & 0o002,
        weight=1,
        key="sandbox.umask",
        source=source,
    )


def _capability(facts: _Facts, name: str, weight: int, what: str) -> Exposure:
    bit = 1 << CAPABILITIES.index(name)
    seen = facts.seen
    if seen.held is not None:
        nnp, _ = facts.no_new_privs()
        reach = seen.held | (0 if nnp or seen.bounding is None else seen.bounding)
        exposed, source = bool(reach & bit), "running"
    else:
        kept = facts.spec.capabilities
        if kept is not None:
            exposed = name in kept
        else:  # left alone: root holds them all; others can regain them by a setuid exec
            exposed = facts.uid()[0] == 0 or not facts.no_new_privs()[0]
        source = "config"
    return Exposure(
        check=name.lower().replace("_", "-"),
        description=f"{name}: {what}",
        exposed=exposed,
        weight=weight,
        key="sandbox.capabilities",
        source=source,
    )


def _namespace(facts: _Facts, kind: str, key: str, weight: int, what: str) -> Exposure:
    if facts.seen.own_namespaces is not None:
        own, source = kind in facts.seen.own_namespaces, "running"
    else:
        ns = facts.spec.namespaces
        own, source = ns is not None and bool(getattr(ns, key)), "config"
    return Exposure(
        check=f"namespace-{kind}",
        description=f"has its own {kind} namespace" if own else what,
        exposed=not own,
        weight=weight,
        key=f"sandbox.namespaces.{key}",
        source=source,
    )


_Check = Callable[[_Facts], Exposure]

_CHECKS: tuple[_Check, ...] = (
    _root,
    _new_privileges,
    _filter,
    _syscall_check("seccomp-ptrace", "ptrace", "no-ptrace", 3, "ptrace"),
    _syscall_check("seccomp-mount", "mount", "no-mount", 3, "mount"),
    _syscall_check("seccomp-modules", "init_module", "no-kernel-modules", 3, "init_module"),
    _limit("memory-limit", "sandbox.memory", 3, "memory", "memory_max"),
    _limit("pids-limit", "sandbox.pids", 3, "processes", "pids_max"),
    _limit("cpu-limit", "sandbox.cpu", 1, "CPU time", "cpu_quota"),
    _mounts,
    _tmp,
    _umask,
)
