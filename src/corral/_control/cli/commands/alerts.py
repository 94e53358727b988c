"""`corral alerts`: the alerts firing now, and how their actions have fared."""

from __future__ import annotations

import argparse
import time
from typing import Any

from corral._control.cli.context import EXIT_OK, Context
from corral._control.wire import API_PREFIX, AlertsReply
from corral._supervisor.view import AlertsView, AlertView
from corral._supervisor.view import from_json as decode

VALUE_SHOWN = 40
"""Characters of a value (a log line) shown in the table."""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `alerts`."""
    sub.add_parser("alerts", parents=[common], help="the alerts firing now")


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Print the table, or the reply's JSON with --json."""
    reply = ctx.call("GET", f"{API_PREFIX}/alerts")
    if ctx.json:
        ctx.emit_json(reply)
    else:
        print(report(decode(AlertsReply, reply), now=time.time()), end="")
    return EXIT_OK


def report(view: AlertsView, *, now: float) -> str:
    """The table of what fires, then the actions' counts that are not zero."""
    if not view.firing:
        lines = [f"no alert fires ({view.rules} rules)"]
    else:
        rows = [("ALERT", "INSTANCE", "FOR", "VALUE", "COUNT", "ACTIONS")]
        rows += [_row(alert, now) for alert in view.firing]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                 for row in rows]  # fmt: skip
    counts = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in view.actions.items() if n)
    if counts:
        lines.append(counts)
    return "\n".join(lines) + "\n"


def _row(alert: AlertView, now: float) -> tuple[str, str, str, str, str, str]:
    value = alert.value
    shown = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    if len(shown) > VALUE_SHOWN:
        shown = shown[: VALUE_SHOWN - 3] + "..."
    held = max(0.0, now - alert.since)
    return (alert.alert, alert.instance, _duration(held), shown, str(alert.count),
            ",".join(alert.actions))  # fmt: skip


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
