"""`corral start|stop|restart TARGET...`, `corral signal SIG TARGET...`, `corral scale NAME N`"""

from __future__ import annotations

import argparse
from typing import Any, cast

from corral._control.cli.context import EXIT_FAILED, EXIT_OK, Context
from corral._control.wire import API_PREFIX, OutcomesReply

_HELP = {
    "start": "start instances; returns when each is RUNNING or failed",
    "stop": "stop instances and their whole process trees",
    "restart": "stop, then start",
}


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register start, stop, restart and signal."""
    for name, text in _HELP.items():
        parser = sub.add_parser(name, parents=[common], help=text)
        parser.add_argument("targets", nargs="+", help="web:0, web, or all")
        if name == "restart":
            parser.add_argument(
                "--rolling",
                action="store_true",
                help="programs only: max_unavailable instances at a time, each batch "
                "RUNNING again before the next stops",
            )
    parser = sub.add_parser("signal", parents=[common], help="send a signal to instances")
    parser.add_argument("signal", help="signal name (HUP, TERM, USR1, ...) or number")
    parser.add_argument("targets", nargs="+", help="web:0, web, or all")
    parser = sub.add_parser(
        "scale",
        parents=[common],
        help="run N instances of a program: start new ones or stop the highest-numbered",
    )
    parser.add_argument("program", help="a program (not an instance)")
    parser.add_argument("count", type=int, help="how many instances, 1 to 10000")


def _lifecycle(ctx: Context, verb: str, body: dict[str, object]) -> int:
    from corral._control.cli.render import outcomes_table

    reply = cast(OutcomesReply, ctx.call("POST", f"{API_PREFIX}/{verb}", body, timeout=None))
    if ctx.json:
        ctx.emit_json(reply)
    else:
        print(outcomes_table(reply["results"]), end="")
    return EXIT_OK if all(r["ok"] for r in reply["results"]) else EXIT_FAILED


def start(ctx: Context, args: argparse.Namespace) -> int:
    """corral start"""
    return _lifecycle(ctx, "start", {"targets": args.targets})


def stop(ctx: Context, args: argparse.Namespace) -> int:
    """corral stop"""
    return _lifecycle(ctx, "stop", {"targets": args.targets})


def restart(ctx: Context, args: argparse.Namespace) -> int:
    """corral restart"""
    body: dict[str, object] = {"targets": args.targets}
    if args.rolling:
        body["rolling"] = True
    return _lifecycle(ctx, "restart", body)


def signal(ctx: Context, args: argparse.Namespace) -> int:
    """corral signal"""
    return _lifecycle(ctx, "signal", {"signal": args.signal, "targets": args.targets})


def scale(ctx: Context, args: argparse.Namespace) -> int:
    """corral scale"""
    return _lifecycle(ctx, "scale", {"program": args.program, "count": args.count})
