"""`corral reload` and `corral shutdown`"""

from __future__ import annotations

import argparse
from typing import Any, cast

from corral._control.cli.context import EXIT_OK, Context
from corral._control.wire import API_PREFIX, ReloadReply


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register reload and shutdown."""
    sub.add_parser("reload", parents=[common], help="re-read the config and apply the changes")
    sub.add_parser("shutdown", parents=[common], help="stop every program and the daemon")


def reload(ctx: Context, args: argparse.Namespace) -> int:
    """Apply the config file's changes; on a bad config the running one stays."""
    reply = cast(ReloadReply, ctx.call("POST", API_PREFIX + "/reload", timeout=None))
    if ctx.json:
        ctx.emit_json(reply)
        return EXIT_OK
    for key in ("added", "changed", "removed"):
        names: list[str] = reply[key]
        print(f"{key}: {', '.join(names) if names else '-'}")
    for note in reply["notes"]:
        print(f"note: {note}")
    return EXIT_OK


def shutdown(ctx: Context, args: argparse.Namespace) -> int:
    """Ask the daemon to stop everything and exit."""
    reply = ctx.call("POST", API_PREFIX + "/shutdown")
    if ctx.json:
        ctx.emit_json(reply)
    else:
        print("shutting down")
    return EXIT_OK
