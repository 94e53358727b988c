"""`corral` argument parsing, the explicit command table, and exit codes.

Exit codes: 0 success; 1 an operation failed for some target (or the daemon
reported an error); 2 bad usage or bad input (unknown target, bad signal name,
bad config); 3 no daemon answers on the socket.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable

from corral._control.cli.commands import (
    alerts,
    audit,
    completion,
    config_import,
    daemon,
    doctor,
    events,
    inspect,
    lifecycle,
    logs,
    metrics,
    security,
    startup,
    status,
)
from corral._control.cli.context import EXIT_USAGE, Context, Fail

DaemonRunner = Callable[[argparse.Namespace], int]

COMMANDS: dict[str, Callable[[Context, argparse.Namespace], int]] = {
    "status": status.run,
    "start": lifecycle.start,
    "stop": lifecycle.stop,
    "restart": lifecycle.restart,
    "signal": lifecycle.signal,
    "scale": lifecycle.scale,
    "logs": logs.run,
    "events": events.run,
    "metrics": metrics.run,
    "inspect": inspect.run,
    "security": security.security,
    "sandbox": security.sandbox,
    "alerts": alerts.run,
    "reload": daemon.reload,
    "shutdown": daemon.shutdown,
    "doctor": doctor.run,
    "audit": audit.run,
    "startup": startup.run,
    "completion": completion.completion,
    "complete-names": completion.complete_names,
    "import": config_import.run,
}


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, one subparser per command."""
    # The global options are accepted before and after the command; the subcommands'
    # copies default to SUPPRESS so they do not overwrite a value given before.
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="corral", description="corral: keep programs alive")
    _global_options(parser, None)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("daemon", help="run the daemon with a config file")
    run.add_argument(
        "-c", "--config", default=argparse.SUPPRESS, help="the TOML config file (required)"
    )
    run.add_argument("--detach", action="store_true", help="run in the background")
    status.add_parser(sub, common)
    lifecycle.add_parsers(sub, common)
    logs.add_parser(sub, common)
    events.add_parser(sub, common)
    metrics.add_parser(sub, common)
    inspect.add_parser(sub, common)
    security.add_parsers(sub, common)
    alerts.add_parser(sub, common)
    daemon.add_parsers(sub, common)
    doctor.add_parser(sub, common)
    audit.add_parser(sub, common)
    startup.add_parser(sub, common)
    completion.add_parsers(sub, common)
    config_import.add_parser(sub, common)
    return parser


def _global_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--socket", default=default, help="the daemon's API socket (default: $CORRAL_SOCKET)"
    )
    parser.add_argument(
        "-c",
        "--config",
        default=default,
        help="find the daemon's socket from this config file (wins over $CORRAL_SOCKET)",
    )
    parser.add_argument(
        "--tcp",
        default=default,
        metavar="HOST:PORT",
        help="reach the daemon on its TCP listener ([daemon] http_listen) instead",
    )
    parser.add_argument(
        "--token-file",
        default=default,
        metavar="FILE",
        help="with --tcp: the file holding the bearer token to send",
    )
    parser.add_argument(
        "--tls-ca",
        default=default,
        metavar="FILE",
        help="with --tcp: speak TLS and trust the daemon's certificate only if FILE signed it",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="machine-readable output",
    )


def main(argv: list[str], run_daemon: DaemonRunner | None = None) -> int:
    """Run one CLI command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(version("corral"))
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "daemon":
        if not args.config:
            parser.error("corral daemon needs -c CONFIG")
        if run_daemon is None:
            print("corral: the daemon cannot be started from here", file=sys.stderr)
            return EXIT_USAGE
        # The parser (90 KiB) would live as long as the daemon; argparse's objects refer
        # to each other, so they are collected now rather than at some full collection.
        del parser
        gc.collect()
        return run_daemon(args)
    ctx = Context(
        # An explicit -c names the daemon as surely as --socket: it wins over the environment.
        socket=args.socket or (None if args.config else os.environ.get("CORRAL_SOCKET")),
        config=args.config,
        json=args.json,
        tcp=args.tcp,
        token_file=args.token_file,
        tls_ca=args.tls_ca,
    )
    try:
        return COMMANDS[args.command](ctx, args)
    except Fail as exc:
        print(f"corral: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
