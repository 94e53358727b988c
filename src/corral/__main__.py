"""`python -m corral` and the `corral` console script."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `corral` command."""
    from corral._control.cli.main import main as cli_main

    return cli_main(sys.argv[1:] if argv is None else argv, run_daemon=_run_daemon)


def _run_daemon(args: argparse.Namespace) -> int:
    # Imported only for `corral daemon`, so other commands stay quick to start.
    if args.detach:
        from corral._control.detach import detach

        return detach(args.config)
    # Unless the daemon speaks TLS, keep asyncio from loading OpenSSL (6 MB of RSS).
    from corral._control.ssl_gate import keep_ssl_out_unless_tls

    keep_ssl_out_unless_tls(args.config)
    from corral._control.daemon_main import run_daemon

    return run_daemon(args.config)


if __name__ == "__main__":
    sys.exit(main())
