"""`corral security NAME` and `corral sandbox profile NAME --apparmor`."""

from __future__ import annotations

import argparse
import os
from typing import Any, cast

from corral._control.cli.context import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Context, Fail
from corral._control.wire import API_PREFIX, ProfileReply, SecurityReply
from corral._supervisor.view import from_json as decode


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `security` and `sandbox profile`."""
    security = sub.add_parser(
        "security",
        parents=[common],
        help="how exposed an instance is: each way out of its sandbox, weighted, and a score",
    )
    security.add_argument("name", help="an instance (web:0), or a program with one instance")
    sandbox = sub.add_parser("sandbox", parents=[common], help="sandbox tools")
    what = sandbox.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", required=True)
    profile = what.add_parser(
        "profile", parents=[common], help="a MAC profile derived from a program's sandbox"
    )
    profile.add_argument("name", help="a program, or one of its instances")
    profile.add_argument(
        "--apparmor", action="store_true", required=True, help="an AppArmor profile"
    )
    profile.add_argument("-o", "--output", help="write it here instead of printing it")
    profile.add_argument(
        "--load",
        action="store_true",
        help="load it with apparmor_parser -r (needs AppArmor enabled; with --output)",
    )


def security(ctx: Context, args: argparse.Namespace) -> int:
    """Print the checks, open ones first, and the score; --json for the view."""
    from corral._control.cli.render import security_report  # only here: a command that prints

    reply = ctx.call("GET", f"{API_PREFIX}/security/{args.name}")
    if ctx.json:
        ctx.emit_json(reply)
    else:
        print(security_report(decode(SecurityReply, reply)), end="")
    return EXIT_OK


def sandbox(ctx: Context, args: argparse.Namespace) -> int:
    """`sandbox profile`: print or write the profile, and load it where AppArmor runs."""
    if args.load and not args.output:
        raise Fail("--load needs --output: apparmor_parser loads a file", EXIT_USAGE)
    reply = cast(ProfileReply, ctx.call("GET", f"{API_PREFIX}/sandbox/{args.name}/apparmor"))
    if ctx.json:
        ctx.emit_json(reply)
    elif not args.output:
        print(reply["profile"], end="")
    if args.output:
        _write(args.output, reply["profile"])
        if not ctx.json:
            print(f"wrote {args.output}")
    if args.load:
        _load(args.output)
    return EXIT_OK


def _write(path: str, text: str) -> None:
    """Write the file whole or not at all: a temporary beside it, then a rename."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        raise Fail(f"cannot write {path}: {exc.strerror}", EXIT_FAILED) from None


def _load(path: str) -> None:
    from corral._platform import Feature, feature_status
    from corral._process.runner import run  # only with --load

    status = feature_status(Feature.APPARMOR)
    if not status.supported:
        raise Fail(
            f"the profile was written to {path} but not loaded: {status.reason} "
            f"(needs {status.needs})",
            EXIT_FAILED,
        )
    done = run(["apparmor_parser", "-r", path], check=False)
    if not done.ok:
        raise Fail(f"apparmor_parser refused {path}: {done.stderr_text.strip()}", EXIT_FAILED)
    print(f"loaded {path}")
