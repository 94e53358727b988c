"""`corral audit [-n N] [--file PATH]`: the last records of the daemon's audit log.

The file is read directly, not through the API: it answers while the daemon is down
(after a crash is when it is wanted), it adds nothing a token holder could read over
TCP, and its mode (0600) is the access check, the same one the unix socket has. Its
path comes from `-c CONFIG` (`[daemon] audit_log`, resolved as the daemon resolves it)
or from `--file`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from corral._control.cli.context import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Context, Fail

_PATH_KEYS = ("socket", "state_file", "audit_log")
"""What the audit log's path follows: its key, else beside the state file, else the socket."""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `audit`."""
    parser = sub.add_parser(
        "audit", parents=[common], help="show the audit log: who changed what, and the result"
    )
    parser.add_argument(
        "-n", "--lines", type=int, default=20, help="records to show (20; 0: every one)"
    )
    parser.add_argument(
        "--file", default=None, metavar="PATH", help="read this audit log instead of -c's"
    )


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Print the last records, oldest first; --json prints them as stored, one a line."""
    from corral._control.cli.render import audit_line
    from corral._observe.audit import read_records

    if args.lines < 0:
        raise Fail("-n must be >= 0", EXIT_USAGE)
    if args.file is None and not ctx.config:
        raise Fail("corral audit needs -c CONFIG or --file PATH", EXIT_USAGE)
    path = args.file or ctx.config_paths(_PATH_KEYS).audit_log
    try:
        records = read_records(path, args.lines or None)
    except OSError as exc:
        raise Fail(f"cannot read the audit log {path}: {exc.strerror or exc}", EXIT_FAILED) from exc
    out = sys.stdout
    for record in records:
        out.write(record.decode("utf-8", "replace") if ctx.json else audit_line(record))
        out.write("\n")
    out.flush()
    return EXIT_OK
