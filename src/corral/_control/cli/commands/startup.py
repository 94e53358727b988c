"""`corral startup [--user] [--launchd] [--print | --output PATH] -c CONFIG`"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from corral._control.cli.context import EXIT_OK, EXIT_USAGE, Context, Fail
from corral._errors import ConfigError

if TYPE_CHECKING:
    from corral._control.boot import BootSpec


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `startup`."""
    parser = sub.add_parser(
        "startup", parents=[common], help="write a systemd unit (or launchd plist) for boot"
    )
    parser.add_argument("--user", action="store_true", help="a user service, not a system one")
    parser.add_argument(
        "--launchd", action="store_true", help="a launchd plist (macOS) instead of a unit"
    )
    parser.add_argument("--name", default="corral", help="the unit's name (corral)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--print", action="store_true", help="print it instead of writing it")
    where.add_argument("--output", help="write it here instead of the usual place")


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Check the config, write the unit, and say how to enable it."""
    if not ctx.config:
        raise Fail("startup needs the daemon's config: corral startup -c CONFIG", EXIT_USAGE)
    from corral._control.boot import STOP_MARGIN, BootSpec, launchd_plist, systemd_unit
    from corral._supervisor.config.load import load_config  # only here: the CLI stays light

    try:
        config = load_config(ctx.config)  # a bad config is refused now, not at boot
    except ConfigError as exc:
        raise Fail(str(exc), EXIT_USAGE) from None
    longest = max((p.stop_timeout for p in config.programs), default=10.0)
    spec = BootSpec(
        python=os.path.abspath(sys.executable),
        config=os.path.abspath(ctx.config),
        name=args.name,
        user=args.user,
        stop_seconds=longest + STOP_MARGIN,
    )
    text = launchd_plist(spec) if args.launchd else systemd_unit(spec)
    if args.print:
        print(text, end="")
        return EXIT_OK
    path = args.output or _usual_place(spec, launchd=args.launchd)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"wrote {path}")
    for line in _enable(spec, path, launchd=args.launchd):
        print(f"  {line}")
    return EXIT_OK


def _usual_place(spec: BootSpec, *, launchd: bool) -> str:
    if launchd:
        folder = "~/Library/LaunchAgents" if spec.user else "/Library/LaunchDaemons"
        return os.path.expanduser(f"{folder}/org.corral.{spec.name}.plist")
    if spec.user:
        return os.path.expanduser(f"~/.config/systemd/user/{spec.name}.service")
    return f"/etc/systemd/system/{spec.name}.service"


def _enable(spec: BootSpec, path: str, *, launchd: bool) -> list[str]:
    if launchd:
        return ["to start it now and at each boot:", f"launchctl load -w {path}"]
    scope = " --user" if spec.user else ""
    return [
        "to start it now and at each boot:",
        f"systemctl{scope} daemon-reload",
        f"systemctl{scope} enable --now {spec.name}.service",
    ]
