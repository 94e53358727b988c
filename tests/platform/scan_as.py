"""Scan for trees from a process of our choosing: a child subreaper, or not.

Usage: scan_as.py subreaper|plain VALUE [ENTRY ...]
Sets (or clears) its child subreaper flag, starts tests/helpers/double_fork.py with
CORRAL_TREE=VALUE in a new session (so the grandchild is re-parented to this
process if it is a subreaper, else to the test, the nearest subreaper above), then
runs `corral._platform.find_tree` for b"CORRAL_TREE=VALUE" and for each ENTRY.
It prints the root's and the grandchild's pids (one per line, so the test's
`running` ends them), one JSON line {"scope", "grandchild_ppid", "found": {entry:
[pids]}}, then `ready`, and sleeps (at most 300 s) until it is killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from corral._platform import find_tree
from corral._platform.linux.prctl import set_child_subreaper
from corral._platform.linux.procfs import read_stat, subreaper_scope
from tests.helpers import argv

_MAX_LIFETIME = 300.0


def main() -> None:
    mode, value, *entries = sys.argv[1:]
    set_child_subreaper(mode == "subreaper")
    env = dict(os.environ, CORRAL_TREE=value)
    root = subprocess.Popen(
        argv("double_fork"), env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert root.stdout is not None
    grandchild = int(root.stdout.readline())
    assert root.stdout.readline().strip() == "ready"
    print(root.pid, grandchild, sep="\n", flush=True)
    stat = read_stat(grandchild)
    own = f"CORRAL_TREE={value}"
    found = {
        entry: sorted(pid for pid, _ in find_tree(entry.encode(), None))
        for entry in [own, *entries]
    }
    report = {
        "scope": subreaper_scope(),
        "grandchild_ppid": None if stat is None else stat.ppid,
        "found": found,
    }
    print(json.dumps(report), flush=True)
    print("ready", flush=True)
    time.sleep(_MAX_LIFETIME)


if __name__ == "__main__":
    main()
