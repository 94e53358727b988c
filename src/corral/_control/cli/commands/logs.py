"""`corral logs TARGET [-n N] [-f] [--stderr]`"""

from __future__ import annotations

import argparse
import sys
from typing import Any, cast

from corral._control.cli.context import EXIT_NO_DAEMON, EXIT_OK, EXIT_USAGE, Context, Fail
from corral._control.wire import API_PREFIX, LogsReply
from corral._errors import ApiError, DaemonUnavailable


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `logs`."""
    parser = sub.add_parser("logs", parents=[common], help="show an instance's output")
    parser.add_argument("target", help="an instance (web:0) or a one-instance program")
    parser.add_argument("-n", "--lines", type=int, default=20, help="lines to show (20)")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new output")
    parser.add_argument("--stderr", action="store_true", help="stderr instead of stdout")


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Print the last lines, then (with -f) new output as it comes."""
    if args.lines < 0:
        raise Fail("-n must be >= 0", EXIT_USAGE)
    stream = "stderr" if args.stderr else "stdout"
    query = {"lines": str(args.lines), "stream": stream}
    reply = cast(LogsReply, ctx.call("GET", f"{API_PREFIX}/logs/{args.target}", query=query))
    if ctx.json and not args.follow:
        ctx.emit_json(reply)
        return EXIT_OK
    for line in reply["lines"]:
        print(line)
    sys.stdout.flush()
    if args.follow:
        _follow(ctx, args.target, stream)
    return EXIT_OK


def _follow(ctx: Context, target: str, stream: str) -> None:
    path = f"{API_PREFIX}/logs/{target}/follow"
    try:
        with ctx.client(None) as client:
            for chunk in client.stream("GET", path, query={"stream": stream}):
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
    except DaemonUnavailable as exc:
        raise Fail(str(exc), EXIT_NO_DAEMON) from exc
    except ApiError as exc:
        raise Fail(exc.message, EXIT_USAGE if exc.status in (400, 404) else 1) from exc
