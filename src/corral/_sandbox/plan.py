"""Sandbox -> Plan: parent-side hooks and ordered child-side steps for one spawn.

Planning happens in the parent, before anything forks: names are resolved to
ids (an unknown user is an InvalidSpec naming it), features are checked (a
missing one is an UnsupportedFeature naming it and what it needs), cgroups are
created and seccomp filters compiled. The child then only runs the steps.

Child steps run in phase order: cgroup join (first, while /sys/fs/cgroup is
still visible and before a pid-1 init forks), namespaces (mounts and hostname
need root), rlimits, identity (groups, gid, keep-caps, uid), capability sets,
no_new_privs, seccomp last (so that nothing before it is filtered).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from corral._errors import InvalidSpec
from corral._platform import Feature, feature_status
from corral._platform.posix.child import ChildStep, Forker
from corral._sandbox.spec import Identity, Sandbox

Phase = Literal["namespaces", "cgroup", "limits", "identity", "capabilities", "seccomp"]
PHASES: tuple[Phase, ...] = (
    "cgroup", "namespaces", "limits", "identity", "capabilities", "seccomp",
)  # fmt: skip


class CgroupRuntime(Protocol):
    """What the runtime needs of an instance's cgroup once the process runs."""

    def usage(self) -> dict[str, int | float | None]:
        """memory_current, memory_peak, cpu_seconds, pids, oom_kills (None where unknown)."""
        ...

    def members(self) -> list[int]:
        """Pids in the cgroup now: members of the tree whatever their group or parent."""
        ...

    def kill_all(self) -> list[int]:
        """SIGKILL every process in the cgroup until it is empty; returns the pids killed
        (so that whoever adopted them, a subreaper, can reap them)."""
        ...

    def remove(self) -> None:
        """Remove the cgroup directories (after every member has exited)."""
        ...


@dataclass(slots=True)
class Plan:
    """What to do around one sandboxed spawn."""

    steps: dict[Phase, list[ChildStep]] = field(default_factory=lambda: {p: [] for p in PHASES})
    forker: Forker | None = None
    """How to fork: None for a plain fork, or a clone with namespace flags."""
    after_fork: list[Callable[[int], None]] = field(default_factory=list)
    """Parent-side hooks run with the child's pid before the child execs (uid maps, veth)."""
    cleanup: list[Callable[[], None]] = field(default_factory=list)
    """Undo parent-side work: run when the spawn fails, and when the process has ended."""
    cgroup: CgroupRuntime | None = None
    """The instance's cgroup, when the sandbox has cgroup limits."""
    limits: dict[str, object] = field(default_factory=dict)
    """A plain summary of the limits applied, for status and the API."""

    def add(self, phase: Phase, name: str, run: Callable[[], None]) -> None:
        """Append a child step to a phase."""
        self.steps[phase].append(ChildStep(name, run))

    def ordered_steps(self) -> list[ChildStep]:
        """Every child step, in phase order."""
        return [step for phase in PHASES for step in self.steps[phase]]

    def undo(self) -> None:
        """Run the cleanup hooks (newest first); each is attempted even if one fails."""
        while self.cleanup:
            hook = self.cleanup.pop()
            try:
                hook()
            except OSError:
                continue


def plan(sandbox: Sandbox, *, label: str) -> Plan:
    """The Plan for one spawn of a process sandboxed by `sandbox`; `label` names its cgroup."""
    result = Plan()
    try:
        if sandbox.namespaces is not None:
            from corral._sandbox.namespace_plan import plan_namespaces

            plan_namespaces(sandbox.namespaces, result)
        if sandbox.cgroup is not None:
            from corral._sandbox.cgroup_plan import plan_cgroup

            plan_cgroup(sandbox.cgroup, result, label=label)
        _plan_rlimits(sandbox, result)
        keep = _capability_numbers(sandbox)
        if sandbox.identity is not None:
            _plan_identity(sandbox.identity, result, keeps_caps=keep is not None)
        if keep is not None:
            _plan_capabilities(keep, result)
        if sandbox.seccomp is not None:
            from corral._sandbox.seccomp_plan import plan_seccomp

            plan_seccomp(sandbox.seccomp, result)
    except BaseException:
        result.undo()
        raise
    return result


def _plan_rlimits(sandbox: Sandbox, result: Plan) -> None:
    from corral._platform.posix import rlimits

    for name, limit in sandbox.rlimit_table.items():
        soft = rlimits.INFINITY if limit.soft is None else limit.soft
        hard = rlimits.INFINITY if limit.hard is None else limit.hard
        result.add("limits", f"rlimit {name}", _bind(rlimits.set_limit, name, soft, hard))
        result.limits[f"rlimit.{name}"] = [limit.soft, limit.hard]
    inherited = rlimits.children_nofile()  # a daemon's programs get back the limit it had
    if inherited is not None and "nofile" not in sandbox.rlimit_table:
        step = _bind(rlimits.set_limit, "nofile", *inherited)
        result.add("limits", "rlimit nofile", step)


def _plan_identity(identity: Identity, result: Plan, *, keeps_caps: bool) -> None:
    from corral._platform.posix import identity as ids

    uid, gid, groups = _resolve(identity)
    if identity.umask is not None:
        result.add("identity", f"umask {identity.umask:04o}", _bind(ids.set_umask, identity.umask))
    if groups is not None:
        result.add("identity", "setgroups", _bind(ids.set_groups, groups))
    if gid is not None:
        result.add("identity", f"setgid {gid}", _bind(ids.set_gid, gid))
    if uid is not None:
        if keeps_caps:
            from corral._platform.linux.capabilities import keep_across_setuid

            result.add("identity", "keep capabilities", keep_across_setuid)
        result.add("identity", f"setuid {uid}", _bind(ids.set_uid, uid))
    if identity.no_new_privs:
        feature_status(Feature.NO_NEW_PRIVS).require()
        from corral._platform.linux.prctl import set_no_new_privs

        result.add("capabilities", "no_new_privs", set_no_new_privs)
    result.limits.update(uid=uid, gid=gid, groups=None if groups is None else list(groups))


def _resolve(identity: Identity) -> tuple[int | None, int | None, tuple[int, ...] | None]:
    from corral._platform.posix import identity as ids

    uid = gid = None
    groups: tuple[int, ...] | None = None
    entry = None if identity.user is None else ids.lookup_user(identity.user)
    if identity.user is not None:
        if entry is None and isinstance(identity.user, str):
            raise InvalidSpec(f"unknown user {identity.user!r}")
        uid = int(identity.user) if entry is None else entry.pw_uid
        gid = None if entry is None else entry.pw_gid
    if identity.group is not None:
        gid = ids.lookup_group(identity.group)
        if gid is None:
            raise InvalidSpec(f"unknown group {identity.group!r}")
    if uid is not None and gid is None:
        # Without a group the process would keep ours (root's): never switch half-way.
        raise InvalidSpec(f"uid {uid} has no entry in the user database; give a group too")
    if entry is not None and gid is not None and identity.groups is None:
        groups = ids.groups_of(entry.pw_name, gid)  # initgroups(3), with the chosen gid
    if identity.groups is not None:
        found = [ids.lookup_group(g) for g in identity.groups]
        if None in found:
            raise InvalidSpec(f"unknown group in {identity.groups!r}")
        groups = tuple(g for g in found if g is not None)
    elif uid is not None and groups is None:
        groups = () if gid is None else (gid,)
    return uid, gid, groups


def _capability_numbers(sandbox: Sandbox) -> frozenset[int] | None:
    if sandbox.capabilities is None:
        return None
    feature_status(Feature.CAPABILITIES).require()
    from corral._platform.linux.capabilities import NUMBERS

    return frozenset(NUMBERS[name] for name in sandbox.capabilities)


def _plan_capabilities(keep: frozenset[int], result: Plan) -> None:
    from corral._platform.linux import capabilities as caps

    # Bounding drops need CAP_SETPCAP, so they run before the uid change.
    drop = ChildStep("capabilities: bounding set", _bind(caps.drop_bounding, keep))
    result.steps["identity"].insert(0, drop)
    result.add("capabilities", "capabilities: capset", _bind(caps.set_process_sets, keep))
    result.limits["capabilities"] = sorted(caps.NAMES[n] for n in keep)


def _bind(function: Callable[..., None], *args: object) -> Callable[[], None]:
    def call() -> None:
        function(*args)

    return call
