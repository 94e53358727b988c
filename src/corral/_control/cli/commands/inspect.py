"""`corral inspect NAME`: one snapshot of an instance's process tree."""

from __future__ import annotations

import argparse
from typing import Any

from corral._control.cli.context import EXIT_OK, Context
from corral._control.wire import API_PREFIX, InspectReply
from corral._supervisor.view import from_json as decode


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `inspect`."""
    parser = sub.add_parser(
        "inspect",
        parents=[common],
        help="one snapshot of an instance's processes: fds, sockets, limits, namespaces, ...",
    )
    parser.add_argument("name", help="an instance (web:0), or a program with one instance")


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Print the snapshot, or its JSON with --json."""
    from corral._control.cli.render import inspect_report  # only here: a command that prints

    reply = ctx.call("GET", f"{API_PREFIX}/inspect/{args.name}")
    if ctx.json:
        ctx.emit_json(reply)
    else:
        print(inspect_report(decode(InspectReply, reply)), end="")
    return EXIT_OK
