"""The environment supervisord gives its children, for the programs of a `[compat]` daemon.

With `[compat] supervisord = true` each instance also gets SUPERVISOR_ENABLED,
SUPERVISOR_PROCESS_NAME, SUPERVISOR_GROUP_NAME and SUPERVISOR_SERVER_URL, so
`supervisor.childutils` (and scripts that test for SUPERVISOR_ENABLED) work unchanged.
The group is the program and the process name its index: `web:0` is group `web`,
process `0` (docs/supervisord.md).
"""

from __future__ import annotations

from corral._supervisor.config.settings import Config
from corral._supervisor.model.program import Program

__all__ = ["compat_env"]


def compat_env(config: Config, program: Program, index: int) -> tuple[tuple[str, str], ...]:
    """The variables instance `index` of `program` gets under `config` (none without compat)."""
    if not config.compat.supervisord:
        return ()
    return (
        ("SUPERVISOR_ENABLED", "1"),
        ("SUPERVISOR_GROUP_NAME", program.name),
        ("SUPERVISOR_PROCESS_NAME", str(index)),
        ("SUPERVISOR_SERVER_URL", f"unix://{config.daemon.socket}"),
    )
