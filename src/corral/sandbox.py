"""Sandbox façade: the spec objects that bound a program's blast radius.

Pass a `Sandbox` to `corral.run(..., sandbox=...)`, `Command.sandbox(...)`, or
write a `[programs.NAME.sandbox]` table in the daemon's config.
"""

from __future__ import annotations

from corral._sandbox.spec import (
    CgroupLimits,
    Identity,
    Namespaces,
    Rlimit,
    Sandbox,
    Seccomp,
    Veth,
)

__all__ = ["CgroupLimits", "Identity", "Namespaces", "Rlimit", "Sandbox", "Seccomp", "Veth"]
