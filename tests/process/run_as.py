"""Run a double-forking tree with a timeout through `corral.run`, as a subreaper or not.

Usage: run_as.py subreaper|plain FD
Sets (or clears) its child subreaper flag, then runs tests/helpers/double_fork.py
with `--fd FD` and a one-second timeout, which must end the whole tree: the root,
and the grandchild that left its session and was re-parented to this process (a
subreaper) or past it (plain). Prints `ended` and exits 0 once `run` has raised
TimedOut; any other outcome is an error.
"""

from __future__ import annotations

import sys

import corral
from corral._platform.linux.prctl import set_child_subreaper
from tests.helpers import argv


def main() -> None:
    mode, fd = sys.argv[1], int(sys.argv[2])
    set_child_subreaper(mode == "subreaper")
    try:
        corral.run(argv("double_fork", "--fd", str(fd)), pass_fds=[fd], timeout=1.0)
    except corral.TimedOut:
        print("ended", flush=True)
        return
    raise SystemExit("the tree outlived its timeout")


if __name__ == "__main__":
    main()
