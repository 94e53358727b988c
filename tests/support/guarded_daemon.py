"""Run corral's daemon with the loop guard installed and asyncio debug mode on.

`tests/support/daemon.py` starts every daemon under test as
`python tests/support/guarded_daemon.py -c CONFIG [--report-known FUNCTION]...` rather than
`python -m corral daemon -c CONFIG`: this installs a `LoopGuard`
(tests/support/loop_guard.py) before corral is imported, turns on asyncio's
debug mode for the loop `run_daemon` makes (through the loop policy, so nothing
leaks into the programs' environment), and then calls the same entry point the
CLI does. src/ has no test hook.

It exits with the daemon's own code, or EXIT_BLOCKED (3) if the guard reported
a blocking call on the loop: each report was already written to stderr and to
the file named by REPORT_VARIABLE.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPORT_VARIABLE = "CORRAL_TEST_LOOP_REPORT"
"""The file the guard appends its reports to; taken out of the environment at start."""

EXIT_BLOCKED = 3
"""The exit code when the guard reported a blocking call on the loop."""


def _debug_loops() -> None:
    """Make every new event loop run in asyncio's debug mode."""
    import asyncio

    class DebugLoops(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            loop = super().new_event_loop()
            loop.set_debug(True)
            return loop

    asyncio.set_event_loop_policy(DebugLoops())


def main(argv: list[str]) -> int:
    """Parse `-c CONFIG`, guard the loop, run the daemon; returns the exit code."""
    parser = argparse.ArgumentParser(prog="guarded_daemon")
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument(
        "--report-known", action="append", default=[], metavar="FUNCTION",
        help="report this loop_guard.KNOWN entry too (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    # As corral.__main__ does before asyncio is imported: keep OpenSSL out (6 MB of RSS)
    # unless the config asks for TLS.
    from corral._control.ssl_gate import keep_ssl_out_unless_tls

    keep_ssl_out_unless_tls(args.config)
    from tests.support.loop_guard import LoopGuard

    guard = LoopGuard(os.environ.pop(REPORT_VARIABLE, None), report_known=args.report_known)
    guard.install()  # before corral is imported, so its module-level locks are guarded too
    _debug_loops()
    from corral._control.daemon_main import run_daemon

    code = run_daemon(args.config)
    if guard.reports:
        print(f"corral-test: {len(guard.reports)} blocking call(s) on the loop", file=sys.stderr)
        return EXIT_BLOCKED
    return code


if __name__ == "__main__":
    # Run as a file, so sys.path[0] is this directory: the repository root holds `tests`.
    sys.path[0] = str(Path(__file__).resolve().parents[2])
    sys.exit(main(sys.argv[1:]))
