"""Argument parsing and the command table of `corral`; exit codes are meaningful."""

from __future__ import annotations

import argparse
import sys

EXIT_OK = 0
EXIT_USAGE = 2


def main(argv: list[str]) -> int:
    """Run one CLI command; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="corral", description="corral process manager")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    args = parser.parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(version("corral"))
        return EXIT_OK
    parser.print_help(sys.stderr)
    return EXIT_USAGE
