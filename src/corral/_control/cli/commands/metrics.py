"""`corral metrics [NAME...]` and `corral metrics NAME --history`"""

from __future__ import annotations

import argparse
from typing import Any, cast

from corral._control.cli.context import EXIT_OK, EXIT_USAGE, Context, Fail
from corral._control.wire import API_PREFIX, HistoryReply, MetricsReply


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `metrics`."""
    parser = sub.add_parser(
        "metrics", parents=[common], help="show sampled CPU and memory of instances"
    )
    parser.add_argument("names", nargs="*", help="instances or programs (default: all)")
    parser.add_argument(
        "--history", action="store_true", help="every kept sample of one instance, oldest first"
    )


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Print the last sample of each instance, or one instance's history."""
    from corral._control.cli.render import history_table, metrics_table

    if args.history:
        if len(args.names) != 1:
            raise Fail("--history needs exactly one instance, e.g. web:0", EXIT_USAGE)
        path = f"{API_PREFIX}/metrics/{args.names[0]}/history"
        history = cast(HistoryReply, ctx.call("GET", path))
        if ctx.json:
            ctx.emit_json(history)
        else:
            print(history_table(history), end="")
        return EXIT_OK
    query = {"names": ",".join(args.names)} if args.names else None
    reply = cast(MetricsReply, ctx.call("GET", API_PREFIX + "/metrics", query=query))
    if ctx.json:
        ctx.emit_json(reply)
    else:
        print(metrics_table(reply), end="")
    return EXIT_OK
