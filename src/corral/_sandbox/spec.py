"""The Sandbox spec: identity, capabilities, rlimits, cgroup limits, seccomp, namespaces.

Frozen, validated value objects: every name (user, group, capability, rlimit,
syscall) is checked when the spec is built, with a "did you mean". What the
machine can actually do is checked later, when the spec is planned for a spawn
(`plan.py`), and a missing feature is an UnsupportedFeature naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, cast

from corral._errors import InvalidSpec
from corral._sandbox.names import (
    check_group,
    check_preset,
    check_rlimit,
    check_syscall,
    check_user,
    normalise_capability,
)

SeccompAction: TypeAlias = Literal["errno", "kill", "log"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who the program runs as."""

    user: str | int | None = None
    """User name or uid to run as; unset (None) keeps ours."""
    group: str | int | None = None
    """Primary group name or gid; unset takes the user's primary group (or keeps ours)."""
    groups: tuple[str | int, ...] | None = None
    """Supplementary groups (empty for none); unset takes the user's groups from the group
    database, or keeps ours when the user is unset."""
    umask: int | None = None
    """File mode creation mask: 0o027 takes write from the group and all from others."""
    no_new_privs: bool = False
    """Set PR_SET_NO_NEW_PRIVS: exec can never gain privileges (setuid bits, file caps)."""

    def __post_init__(self) -> None:
        if self.user is not None:
            check_user(self.user)
        if self.group is not None:
            check_group(self.group)
        if self.groups is not None:
            object.__setattr__(self, "groups", tuple(self.groups))
            for group in self.groups:
                check_group(group)
        if self.umask is not None and not 0 <= self.umask <= 0o777:
            raise InvalidSpec(f"umask must be within 0o000..0o777, got {self.umask!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Rlimit:
    """One resource limit; None for a side means unlimited."""

    soft: int | None
    """The limit enforced."""
    hard: int | None
    """The ceiling the soft limit may be raised to."""

    def __post_init__(self) -> None:
        for side in (self.soft, self.hard):
            if side is not None and (isinstance(side, bool) or side < 0):
                raise InvalidSpec(f"rlimit values must be >= 0 or None, got {side!r}")
        if self.soft is not None and (self.hard is not None and self.soft > self.hard):
            raise InvalidSpec(f"rlimit soft {self.soft} is above hard {self.hard}")
        if self.soft is None and self.hard is not None:
            raise InvalidSpec("an unlimited soft limit needs an unlimited hard limit")


@dataclass(frozen=True, slots=True, kw_only=True)
class CgroupLimits:
    """Limits enforced through the instance's own cgroup."""

    memory_max: int | None = None
    """Bytes; past it the kernel reclaims, then OOM-kills inside the cgroup."""
    memory_high: int | None = None
    """Bytes; past it the cgroup is throttled and reclaimed hard (v2 only)."""
    memory_swap_max: int | None = None
    """Bytes of swap the cgroup may use."""
    cpu_quota: float | None = None
    """CPU time as a fraction of one core per period: 0.5 is half a core, 2.0 two cores."""
    cpu_weight: int | None = None
    """Relative CPU share, 1..10000 (100 is the default weight)."""
    pids_max: int | None = None
    """Most processes and threads the cgroup may hold (a fork bomb stops here)."""

    def __post_init__(self) -> None:
        for key in ("memory_max", "memory_high", "memory_swap_max", "pids_max"):
            value = getattr(self, key)
            least = 0 if key == "memory_swap_max" else 1  # no swap at all is a fine limit
            if value is not None and (isinstance(value, bool) or value < least):
                raise InvalidSpec(f"cgroup {key} must be a number >= {least}, got {value!r}")
        if self.cpu_quota is not None and not 0 < self.cpu_quota <= 1024:
            raise InvalidSpec(f"cgroup cpu_quota must be > 0 (cores), got {self.cpu_quota!r}")
        if self.cpu_weight is not None and not 1 <= self.cpu_weight <= 10000:
            raise InvalidSpec(f"cgroup cpu_weight must be within 1..10000, got {self.cpu_weight!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Seccomp:
    """A system call filter, loaded last before exec."""

    default: Literal["allow", "deny"] = "allow"
    """allow: a deny-list (only `syscalls` are denied); deny: an allow-list."""
    syscalls: frozenset[str] = frozenset()
    """Syscall names denied (default allow) or allowed (default deny)."""
    presets: tuple[str, ...] = ()
    """Named sets from presets.py added to `syscalls` (e.g. "no-network")."""
    action: SeccompAction = "errno"
    """What a denied call gets: errno (EPERM), kill (the process), log (allowed, logged)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "syscalls", frozenset(self.syscalls))
        object.__setattr__(self, "presets", tuple(self.presets))
        if self.default not in ("allow", "deny"):
            raise InvalidSpec(f"seccomp default must be allow or deny, got {self.default!r}")
        if self.action not in ("errno", "kill", "log"):
            raise InvalidSpec(f"seccomp action must be errno, kill or log, got {self.action!r}")
        for preset in self.presets:
            check_preset(preset, self.default)
        for name in self.syscalls:
            check_syscall(name)

    def refuses(self, call: str) -> bool:
        """Whether this filter refuses the syscall `call` (for some of its arguments at
        least: `no-network` refuses socket for non-unix families only). It describes
        the filter (`corral security`, AppArmor profiles); the filter is built elsewhere."""
        from corral._sandbox.presets import PRESETS  # the rule tables: only when asked

        listed = set(self.syscalls)
        for name in self.presets:
            listed.update(PRESETS[name].syscalls)
        return (call in listed) == (self.default == "allow")


@dataclass(frozen=True, slots=True, kw_only=True)
class Veth:
    """A veth pair between the host and a network namespace."""

    host_address: str
    """Address/prefix on the host end, e.g. "10.200.0.1/30"."""
    inner_address: str
    """Address/prefix inside the namespace, e.g. "10.200.0.2/30"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Namespaces:
    """Linux namespaces the program gets of its own."""

    pid: bool = False
    """A pid namespace: the program is pid 1 and sees only its own tree."""
    init: bool = False
    """With pid: run corral's minimal init as pid 1 (it reaps zombies, forwards signals)."""
    net: bool = False
    """A network namespace with only loopback (up)."""
    veth: Veth | None = None
    """With net: also a veth pair to the host with these addresses."""
    mount: bool = False
    """A mount namespace (implied by the mount options below)."""
    private_tmp: bool = False
    """A fresh tmpfs on /tmp, not the host's."""
    read_only: tuple[str, ...] = ()
    """Paths bind-mounted read-only onto themselves."""
    hidden: tuple[str, ...] = ()
    """Paths hidden under an empty, read-only tmpfs (directories) or /dev/null (files)."""
    root: str | None = None
    """A directory to chroot into."""
    hostname: str | None = None
    """A uts namespace with this hostname."""
    ipc: bool = False
    """An ipc namespace (System V IPC, POSIX message queues)."""
    user: bool = False
    """A user namespace (root inside maps to our uid outside), where the kernel allows."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "read_only", tuple(self.read_only))
        object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.init and not self.pid:
            raise InvalidSpec("namespaces.init needs namespaces.pid")
        if self.veth is not None and not self.net:
            raise InvalidSpec("namespaces.veth needs namespaces.net")
        for path in (*self.read_only, *self.hidden, *(p for p in [self.root] if p)):
            if not path.startswith("/"):
                raise InvalidSpec(f"sandbox paths must be absolute, got {path!r}")
        if self.hostname is not None and not 0 < len(self.hostname) <= 64:
            raise InvalidSpec("hostname must be 1..64 characters")

    @property
    def needs_mount_namespace(self) -> bool:
        """Whether any option needs a mount namespace."""
        return self.mount or self.private_tmp or bool(self.read_only or self.hidden or self.root)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sandbox:
    """Everything that bounds a program's blast radius; applied before exec."""

    identity: Identity | None = None
    """User, groups, umask, no_new_privs."""
    capabilities: frozenset[str] | None = None
    """Capabilities to keep (CAP_NET_BIND_SERVICE, ...), also across a switch to another
    user; every other one is dropped (an empty set drops all). Unset (None) leaves them alone."""
    rlimits: Mapping[str, Rlimit | int | tuple[int | None, int | None]] = field(
        default_factory=dict
    )
    """Resource limits by setrlimit(2) name (nofile, nproc, as, core, cpu, fsize, ...), each
    a soft and a hard limit."""
    cgroup: CgroupLimits | None = None
    """Limits through a cgroup of the instance's own."""
    seccomp: Seccomp | None = None
    """A syscall filter."""
    namespaces: Namespaces | None = None
    """Namespaces of its own."""

    def __post_init__(self) -> None:
        if self.capabilities is not None:
            caps = frozenset(normalise_capability(c) for c in self.capabilities)
            object.__setattr__(self, "capabilities", caps)
        limits = {}
        for name, limit in dict(self.rlimits).items():
            limits[check_rlimit(name)] = _as_rlimit(limit)
        object.__setattr__(self, "rlimits", _FrozenMapping(limits))

    @property
    def rlimit_table(self) -> Mapping[str, Rlimit]:
        """`rlimits` after normalisation: short names -> Rlimit."""
        return cast(Mapping[str, Rlimit], self.rlimits)

    def __hash__(self) -> int:
        return hash(
            (self.identity, self.capabilities, tuple(sorted(self.rlimits.items())),
             self.cgroup, self.seccomp, self.namespaces)
        )  # fmt: skip


def _as_rlimit(value: object) -> Rlimit:
    if isinstance(value, Rlimit):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Rlimit(soft=value, hard=value)
    if isinstance(value, tuple) and len(value) == 2:
        return Rlimit(soft=value[0], hard=value[1])
    raise InvalidSpec(f"an rlimit is a number, a (soft, hard) pair or an Rlimit, got {value!r}")


class _FrozenMapping(dict[str, Rlimit]):
    """A dict that refuses changes, so a frozen Sandbox stays frozen."""

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("Sandbox.rlimits cannot be changed")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))
