"""`corral events [-f] [--since N] [--json]`"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, cast

from corral._control.cli.context import EXIT_NO_DAEMON, EXIT_OK, EXIT_USAGE, Context, Fail
from corral._control.wire import API_PREFIX, EventJSON, EventsReply
from corral._errors import ApiError, DaemonUnavailable


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `events`."""
    parser = sub.add_parser("events", parents=[common], help="show the daemon's events")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing events as they happen"
    )
    parser.add_argument(
        "--since",
        type=int,
        default=None,
        metavar="SEQ",
        help="only events after SEQ (default: all kept; with -f, only new ones)",
    )


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Print the kept events (or JSON); with -f, then every new one until the daemon stops."""
    if args.since is not None and args.since < 0:
        raise Fail("--since must be >= 0", EXIT_USAGE)
    if not args.follow:
        since = "0" if args.since is None else str(args.since)
        reply = cast(EventsReply, ctx.call("GET", f"{API_PREFIX}/events", query={"since": since}))
        if ctx.json:
            ctx.emit_json(reply)
        else:
            _print(ctx, reply["events"])
        return EXIT_OK
    _follow(ctx, args.since)
    return EXIT_OK


def _follow(ctx: Context, since: int | None) -> None:
    try:
        with ctx.client(None) as client:
            for event in client.follow_events(since):
                _print(ctx, [event])
    except DaemonUnavailable as exc:
        raise Fail(str(exc), EXIT_NO_DAEMON) from exc
    except ApiError as exc:
        raise Fail(exc.message, EXIT_USAGE if exc.status in (400, 404) else 1) from exc


def _print(ctx: Context, events: list[EventJSON]) -> None:
    from corral._control.cli.render import event_line

    for event in events:
        print(json.dumps(event) if ctx.json else event_line(event))
    sys.stdout.flush()
