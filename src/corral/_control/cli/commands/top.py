"""`corral top`: the live terminal view of the daemon's instances (needs `corral[top]`)."""

from __future__ import annotations

import argparse
from typing import Any

from corral._control.cli.context import EXIT_OK, EXIT_USAGE, Context, Fail
from corral._control.wire import API_PREFIX


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `top`."""
    sub.add_parser(
        "top",
        parents=[common],
        help="a live view of every instance (state, CPU, memory, logs) with actions",
    )


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Run the app until q; textual is imported here only."""
    try:
        from corral._control.top.app import TopApp
    except ImportError as exc:
        raise Fail(
            f"corral top needs textual: pip install 'corral[top]' ({exc})", EXIT_USAGE
        ) from None
    # No daemon, a bad --tcp or token: the usual message and exit code, before the screen.
    # (Events after a seq no daemon reaches: the cheapest request that needs an answer.)
    ctx.call("GET", f"{API_PREFIX}/events", query={"since": str(2**62)}, timeout=5.0)
    TopApp(lambda: ctx.client(timeout=30.0)).run()
    return EXIT_OK
