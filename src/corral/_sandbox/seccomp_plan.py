"""Seccomp spec -> one child step that loads a filter compiled in the parent.

Names become numbers here (presets may name syscalls this architecture lacks;
those are skipped and listed in the summary), libseccomp compiles the filter in
the parent, and the child's step only hands the finished BPF program to the
kernel: the child never calls into libseccomp. The step runs last, after any
uid change, and sets no_new_privs first, so a seccomp sandbox implies
no_new_privs (see _platform/linux/seccomp/filter.py).

In allow-list mode (`default="deny"`) the filter is in force from the execve
that starts the program, so corral adds `execve` to every allow-list, and
`exit_group` and `exit`, without which a program cannot end (glibc's _exit
would fall through to a crash). The summary lists what was added. A program
needs more to start: the "minimal-exec" preset holds what a dynamically linked
program needs to load its libraries and exit. If the exec itself fails in
allow-list mode, the child can report it only when `write` is allowed;
otherwise the program appears to start and exits with 127.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from corral._errors import InvalidSpec, UnsupportedFeature
from corral._platform import Feature, feature_status
from corral._platform.linux.seccomp import filter as seccomp_filter
from corral._platform.linux.seccomp import libseccomp
from corral._platform.linux.seccomp.filter import ArgCompare, CompiledFilter, SyscallRule
from corral._sandbox.plan import Plan
from corral._sandbox.presets import PRESETS
from corral._sandbox.spec import Seccomp

ALWAYS_ALLOWED = ("execve", "exit_group", "exit")
"""Added to every allow-list: the filter is loaded before the program's own execve."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A compiled filter and what went into it; cached per Seccomp spec."""

    program: CompiledFilter
    action: str
    added: tuple[str, ...]
    skipped: tuple[str, ...]


def plan_seccomp(spec: Seccomp, plan: Plan) -> None:
    """Compile `spec` (once per distinct spec) and add the child step that loads it."""
    feature_status(Feature.SECCOMP).require()
    if spec.action == "log" and "log" not in seccomp_filter.kernel_actions():
        raise UnsupportedFeature(
            "seccomp",
            reason="the kernel has no log action for seccomp filters",
            needs="Linux 4.14+",
        )
    compiled = _compile(spec)
    program = compiled.program
    rules = f"{program.rules} rule{'' if program.rules == 1 else 's'}"
    plan.add("seccomp", f"seccomp: load ({rules})", program.load)
    plan.limits["seccomp"] = {
        "default": spec.default,
        "action": compiled.action,
        "presets": list(spec.presets),
        "syscalls": sorted(spec.syscalls),
        "added": list(compiled.added),
        "skipped": list(compiled.skipped),
        "rules": program.rules,
        "instructions": program.instructions,
    }


@lru_cache(maxsize=64)
def _compile(spec: Seccomp) -> _Compiled:
    rules, added, skipped = _resolve(spec)
    policy = seccomp_filter.Policy(default=spec.default, action=spec.action, rules=rules)
    try:
        program = seccomp_filter.compile_filter(policy)
    except libseccomp.LibseccompError as exc:
        version = ".".join(map(str, libseccomp.version()))
        raise UnsupportedFeature(
            "seccomp",
            reason=f"libseccomp {version} cannot build this filter ({exc})",
            needs="libseccomp 2.4+, and Linux 4.14+ for the kill and log actions",
        ) from exc
    return _Compiled(program, _effective_action(spec), added, skipped)


def _resolve(spec: Seccomp) -> tuple[tuple[SyscallRule, ...], tuple[str, ...], tuple[str, ...]]:
    """The rules numbered for this architecture, the names added and the names skipped."""
    if spec.default == "allow" and "execve" in spec.syscalls:
        raise InvalidSpec("seccomp denies execve: the program itself could never start")
    wanted: list[tuple[str, tuple[ArgCompare, ...]]] = [
        (rule.syscall, rule.args) for name in spec.presets for rule in PRESETS[name].rules
    ]
    wanted += [(name, ()) for name in sorted(spec.syscalls)]
    named = {name for name, _ in wanted}
    added = tuple(n for n in ALWAYS_ALLOWED if spec.default == "deny" and n not in named)
    wanted += [(name, ()) for name in added]
    rules: dict[tuple[str, tuple[ArgCompare, ...]], SyscallRule] = {}
    skipped: dict[str, None] = {}
    for name, args in wanted:
        number = libseccomp.resolve_name(name)
        if number < 0:  # a preset's syscall of another architecture
            skipped[name] = None
            continue
        rules.setdefault((name, args), SyscallRule(number, args))
    return tuple(rules.values()), added, tuple(skipped)


def _effective_action(spec: Seccomp) -> str:
    if spec.action != "kill":
        return spec.action
    return "kill-process" if "kill_process" in seccomp_filter.kernel_actions() else "kill-thread"
