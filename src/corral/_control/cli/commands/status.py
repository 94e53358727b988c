"""`corral status [NAME...]`"""

from __future__ import annotations

import argparse
from typing import Any, cast

from corral._control.cli.context import EXIT_OK, Context
from corral._control.cli.render import status_table
from corral._control.wire import API_PREFIX, StatusReply


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `status`."""
    parser = sub.add_parser("status", parents=[common], help="show instances")
    parser.add_argument("names", nargs="*", help="instances or programs (default: all)")


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Print the status table (or JSON)."""
    query = {"names": ",".join(args.names)} if args.names else None
    reply = cast(StatusReply, ctx.call("GET", API_PREFIX + "/status", query=query))
    if ctx.json:
        ctx.emit_json(reply)
    else:
        print(status_table(reply["instances"]), end="")
    return EXIT_OK
