"""`corral doctor`: which sandbox features this machine supports, and what a missing one needs.

It runs locally and needs no daemon. Its imports are made inside `run`, so the
other commands (`corral status` above all) do not pay for the feature probes.
"""

from __future__ import annotations

import argparse
from typing import Any

from corral._control.cli.context import EXIT_OK, Context


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `doctor`."""
    sub.add_parser(
        "doctor",
        parents=[common],
        help="show which sandbox features this machine supports (no daemon needed)",
    )


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Probe this machine's features and print them (or JSON); always exits 0."""
    from corral._control.cli.render import doctor_report
    from corral._platform.features import features
    from corral._sandbox.doctor import doctor_rows

    rows = doctor_rows(features())
    if ctx.json:
        ctx.emit_json({"features": [row.as_json() for row in rows]})
    else:
        print(doctor_report(rows), end="")
    return EXIT_OK
