"""An AppArmor profile derived from a sandbox spec: `corral sandbox profile NAME --apparmor`.

Pure: the spec in, the profile's text out. AppArmor confines by the executable's
path, so the profile attaches to the program's resolved executable and, beside
what the kernel enforces already through the other parts of the sandbox, says
the same things in AppArmor's words: the capabilities kept (every other one
denied), no network but unix sockets where the seccomp filter or a network
namespace allows none, hidden paths denied, read-only paths not writable,
ptrace and mount denied where the filter denies them, and the resource limits
as `set rlimit`. Everything else is allowed, so the profile never refuses what
the sandbox lets the program do.
"""

from __future__ import annotations

import re

from corral._sandbox.spec import Sandbox

ABI = "abi/3.0"
"""The policy ABI the profile is written for (AppArmor 3.0 and newer)."""

_RLIMITS = {
    "as": "as", "core": "core", "cpu": "cpu", "data": "data", "fsize": "fsize",
    "locks": "locks", "memlock": "memlock", "msgqueue": "msgqueue",
    "nofile": "nofile", "nproc": "nproc", "rss": "rss", "rtprio": "rtprio",
    "rttime": "rttime", "sigpending": "sigpending", "stack": "stack",
}  # fmt: skip
"""setrlimit names AppArmor's `set rlimit` takes with the same unit (not nice: AppArmor
writes it as a nice value, setrlimit as 20 minus one)."""

_PROFILE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
_SPECIAL = re.compile(r"[\\*?\[\]{}^]")
"""What AppArmor reads as a glob (and the escape itself) in a path."""


def profile_name(program: str) -> str:
    """The profile's name for a program: corral-PROGRAM, safe for the policy language."""
    return "corral-" + _PROFILE_NAME.sub("_", program)


def apparmor_profile(program: str, executable: str | None, sandbox: Sandbox | None) -> str:
    """The profile's text. `executable` is the absolute path it attaches to; None
    writes a profile that attaches to nothing (to be used with aa-exec), saying so."""
    spec = sandbox or Sandbox()
    name = profile_name(program)
    lines = [
        f"# AppArmor profile for corral program {program!r}, derived from its sandbox spec",
        f"# by `corral sandbox profile {program} --apparmor`.",
        f"abi <{ABI}>,",
        "include <tunables/global>",
        "",
    ]
    if executable is None:
        lines.append("# The executable was not found: the profile attaches to no path.")
        head = f"profile {name} flags=(attach_disconnected) {{"
    else:
        head = f"profile {name} {_quoted(executable)} flags=(attach_disconnected) {{"
    lines += [head, "  include <abstractions/base>", ""]
    lines += [f"  {rule}" for rule in _rules(spec)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _rules(spec: Sandbox) -> list[str]:
    rules = _capabilities(spec) + _network(spec) + _files(spec) + _operations(spec)
    rules += [
        f"set rlimit {_RLIMITS[key]} <= {_limit(limit.hard)},"
        for key, limit in sorted(spec.rlimit_table.items())
        if key in _RLIMITS
    ]
    return rules


def _capabilities(spec: Sandbox) -> list[str]:
    if spec.capabilities is None:
        return ["# sandbox.capabilities is unset: every capability is allowed.", "capability,"]
    kept = sorted(cap.removeprefix("CAP_").lower() for cap in spec.capabilities)
    if not kept:
        return ["# sandbox.capabilities = []: no capability."]
    return [f"capability {cap}," for cap in kept]


def _network(spec: Sandbox) -> list[str]:
    ns = spec.namespaces
    isolated = ns is not None and ns.net and ns.veth is None
    if isolated or _denied(spec, "socket"):
        return ["network unix,", "deny network inet,", "deny network inet6,"]
    return ["network,"]


def _files(spec: Sandbox) -> list[str]:
    rules = ["file,"]
    ns = spec.namespaces
    if ns is None:
        return rules
    for path in ns.hidden:
        rules += _deny(path, "rwklmx")
    for path in ns.read_only:
        rules += _deny(path, "wl")
    return rules


def _deny(path: str, modes: str) -> list[str]:
    """Deny `modes` on a path and everything beneath it."""
    below = _quoted(path.rstrip("/"), "/**")
    return [f"deny {_quoted(path)} {modes},", f"deny {below} {modes},"]


def _operations(spec: Sandbox) -> list[str]:
    rules = ["signal,", "unix,"]
    rules.append("deny ptrace," if _denied(spec, "ptrace") else "ptrace,")
    if _denied(spec, "mount"):
        rules += ["deny mount,", "deny umount,", "deny pivot_root,"]
    else:
        rules += ["mount,", "umount,", "pivot_root,"]
    return rules


def _denied(spec: Sandbox, syscall: str) -> bool:
    return spec.seccomp is not None and spec.seccomp.refuses(syscall)


def _limit(value: int | None) -> str:
    return "infinity" if value is None else str(value)


def _quoted(path: str, glob: str = "") -> str:
    """`path` in the policy language, its glob characters escaped so it means only
    itself, then `glob` (a pattern such as "/**") as it is; quoted when it holds a space."""
    literal = _SPECIAL.sub(lambda found: "\\" + found.group(), path) + glob
    if re.fullmatch(r"[^\s\"#,]+", literal):
        return literal
    return '"' + literal.replace('"', '\\"') + '"'
