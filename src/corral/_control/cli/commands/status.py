"""`corral status [NAME...]`"""

from __future__ import annotations

import argparse
from typing import Any

from corral._control.cli.context import EXIT_FAILED, EXIT_OK, Context, Fail
from corral._control.wire import API_PREFIX, StatusReply
from corral._supervisor.view import from_json as decode


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `status`."""
    parser = sub.add_parser("status", parents=[common], help="show instances")
    parser.add_argument("names", nargs="*", help="instances or programs (default: all)")


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Print the status table (or JSON)."""
    from corral._control.cli.render import sockets_table, status_table

    query = {"names": ",".join(args.names)} if args.names else None
    reply = ctx.call("GET", API_PREFIX + "/status", query=query)
    if ctx.json:
        ctx.emit_json(reply)
    else:
        try:
            view = decode(StatusReply, reply)
        except ValueError as exc:  # a daemon of another version
            raise Fail(f"the daemon's status reply is not understood: {exc}", EXIT_FAILED) from None
        print(status_table(view.instances) + sockets_table(view.daemon.sockets), end="")
    return EXIT_OK
