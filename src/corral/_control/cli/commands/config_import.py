"""`corral import FILE [-o OUT]`: another manager's config as corral TOML (no daemon needed).

The importer (corral._control.importing) is imported inside `run`, so the other
commands do not pay for it. The TOML goes to stdout or OUT; the report of what
had no equal goes to stderr, one `FILE:LINE: SETTING: what was done` per line.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from corral._control.cli.context import EXIT_OK, EXIT_USAGE, Context, Fail

FORMATS = ("supervisord", "procfile", "pm2")
"""The source formats (corral._control.importing.FORMATS, named here to keep the CLI light)."""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `import`."""
    parser = sub.add_parser(
        "import",
        parents=[common],
        help="convert a supervisord config, a Procfile or a PM2 ecosystem file to corral TOML",
    )
    parser.add_argument("file", metavar="FILE", help="the config to convert")
    parser.add_argument("-o", "--output", metavar="OUT", help="write the TOML here, not to stdout")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    parser.add_argument(
        "--from",
        dest="source_format",
        choices=FORMATS,
        help="the format of FILE (default: told from its name and content)",
    )
    parser.add_argument(
        "--env",
        dest="pm2_env",
        metavar="NAME",
        help="PM2 only: merge each app's env_NAME over its env, as pm2 start --env NAME",
    )


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Convert, check with corral's loader, report on stderr, write; 2 on bad input."""
    from corral._control.importing import import_config, write_output
    from corral._errors import ConfigError

    output = args.output
    if output is not None and os.path.lexists(output) and not args.force:
        raise Fail(f"{output} exists: pass --force to replace it", EXIT_USAGE)
    try:
        imported = import_config(
            args.file, kind=args.source_format, target=output, env_name=args.pm2_env
        )
    except ConfigError as exc:
        raise Fail(f"cannot import: {exc}", EXIT_USAGE) from None
    for note in imported.notes:
        print(note, file=sys.stderr)
    if output is None:
        sys.stdout.write(imported.text)
    else:
        try:
            write_output(imported.text, output, force=args.force)
        except FileExistsError:
            raise Fail(f"{output} exists: pass --force to replace it", EXIT_USAGE) from None
        except OSError as exc:
            raise Fail(f"cannot write {output}: {exc.strerror or exc}", EXIT_USAGE) from None
    where = "stdout" if output is None else output
    print(
        f"corral import: {imported.source} ({imported.kind}) -> {where}: "
        f"{len(imported.notes)} setting(s) noted above",
        file=sys.stderr,
    )
    return EXIT_OK
