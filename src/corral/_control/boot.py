"""What starts the daemon at boot: a systemd unit (Type=notify) or a launchd plist.

Pure text: `corral startup` decides where it goes. The unit runs this interpreter's
corral (`python -m corral daemon -c CONFIG`, absolute paths), waits for the daemon's
`READY=1` (`_control/service_manager.py`), reloads with SIGHUP, and stops with SIGTERM
to the daemon alone (`KillMode=mixed`: the daemon ends its programs' trees itself,
then systemd kills whatever is left) within the longest `stop_timeout` plus a margin.
"""

from __future__ import annotations

import plistlib
import shlex
from dataclasses import dataclass

STOP_MARGIN = 30.0
"""Seconds systemd waits beyond the longest program stop_timeout before it kills."""


@dataclass(frozen=True, slots=True)
class BootSpec:
    """What the unit or plist runs."""

    python: str
    """The interpreter (absolute) that has corral installed."""
    config: str
    """The config file (absolute)."""
    name: str = "corral"
    """The unit's (or the launchd label's) name."""
    user: bool = False
    """A user service (`systemctl --user`, a LaunchAgent) rather than a system one."""
    stop_seconds: float = 10.0 + STOP_MARGIN
    """How long the daemon may take to stop."""

    @property
    def argv(self) -> list[str]:
        """The daemon's command line."""
        return [self.python, "-m", "corral", "daemon", "-c", self.config]


def systemd_unit(spec: BootSpec) -> str:
    """The unit file's text."""
    target = "default.target" if spec.user else "multi-user.target"
    return "\n".join(
        [
            "[Unit]",
            f"Description=corral process manager ({spec.config})",
            "After=network.target",
            "",
            "[Service]",
            "Type=notify",
            "NotifyAccess=main",
            f"ExecStart={shlex.join(spec.argv)}",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "KillMode=mixed",
            f"TimeoutStopSec={spec.stop_seconds:g}",
            "Restart=on-failure",
            "RestartSec=1",
            "",
            "[Install]",
            f"WantedBy={target}",
            "",
        ]
    )


def launchd_plist(spec: BootSpec) -> str:
    """The property list's text (KeepAlive on failure, like Restart=on-failure)."""
    document = {
        "Label": f"org.corral.{spec.name}",
        "ProgramArguments": spec.argv,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ExitTimeOut": int(spec.stop_seconds),
    }
    return plistlib.dumps(document).decode()
